"""A SOAP request answered by a REST provider, the answer returned to the requester as SOAP."""

from __future__ import annotations

import pytest

from moyai.gateway.adapters import soap
from moyai.gateway.adapters.convert import soap_to_rest
from moyai.gateway.domain.keystore import MemoryKeyStore
from moyai.gateway.domain.log import LogEntry
from moyai.gateway.domain.signing import Ed25519Signer
from moyai.gateway.models import GatewayLogEntry
from tests.gateway.exchange_kit import Kit
from tests.gateway.xml_kit import SoapKit, make_key

pytestmark = pytest.mark.django_db


def test_a_soap_request_is_forwarded_as_rest_and_answered_as_soap(kit: Kit) -> None:
    soap_kit = SoapKit(kit)
    forwarder_store = MemoryKeyStore()
    forwarder_store.rotate()
    forwarder_store.rotate()  # k0002: not the requester's own REST key id
    forwarder = Ed25519Signer(forwarder_store.current())
    # The provider side trusts the forwarding gateway for the requesters it forwards for.
    kit.rest.peers.add("kenpo-midori", forwarder.key_id, forwarder.public_key())
    edge_key, edge_cert = make_key("gateway-edge")

    request = kit.request(items=("resident_record.address",))
    sent: list[bytes] = []

    def send(body: bytes) -> bytes:
        sent.append(body)
        return kit.rest.handle(body).body

    result = soap_to_rest(soap.render_request(request, soap_kit.keys["kenpo-midori"]),
                          soap_peers=soap_kit.adapter.peers, rest_signer=forwarder, send=send,
                          provider_keys=kit.gateway_keys, soap_key=edge_key)
    assert sent and sent[0].count(b".") == 2  # a compact JWS went to the provider
    answer = soap.parse_response(result.body, soap.XmlPeers({"gateway-edge": {"k0001": edge_cert}}))
    assert answer == result.response
    assert (answer.status, answer.in_reply_to) == ("provided", request.message_id)
    assert answer.items["resident_record.address"]["address"] == "山口県周南市岐山通一丁目1番地"
    [entry] = [LogEntry.from_canonical(t.encode()) for t in GatewayLogEntry.objects.values_list("canonical", flat=True)]
    assert (entry.outcome, entry.requester, entry.message_id) == ("provided", "kenpo-midori", request.message_id)


def test_a_forged_soap_request_is_not_forwarded(kit: Kit) -> None:
    soap_kit = SoapKit(kit)
    impostor, _ = make_key("kenpo-midori")
    store = MemoryKeyStore()
    store.rotate()
    with pytest.raises(soap.SoapError) as err:
        soap_to_rest(soap.render_request(kit.request(), impostor), soap_peers=soap_kit.adapter.peers,
                     rest_signer=Ed25519Signer(store.current()), send=lambda b: pytest.fail("sent"),  # type: ignore[arg-type,return-value]
                     provider_keys=kit.gateway_keys, soap_key=impostor)
    assert err.value.code == "forged"
