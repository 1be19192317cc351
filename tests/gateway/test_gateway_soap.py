"""SOAP 1.2 + WS-Security adapter: same answers and refusals as REST, signed envelopes, Faults in Japanese."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from lxml import etree

from moyai.gateway.adapters.soap import NSMAP, SOAP, parse_response, render_request
from moyai.gateway.domain.log import LogEntry
from moyai.gateway.models import GatewayLogEntry
from moyai.gateway.store import verify_log_command
from tests.gateway.exchange_kit import LOG, Kit
from tests.gateway.xml_kit import SoapKit, make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def soap(kit: Kit) -> SoapKit:
    return SoapKit(kit)


def _entries() -> list[LogEntry]:
    return [LogEntry.from_canonical(t.encode()) for t in
            GatewayLogEntry.objects.order_by("seq").values_list("canonical", flat=True)]


def _fault(body: bytes) -> tuple[str, str, str]:
    root = etree.fromstring(body)
    fault = root.find("soap:Body/soap:Fault", NSMAP)
    assert fault is not None
    text = fault.find("soap:Reason/soap:Text", NSMAP)
    assert text is not None and text.get("{http://www.w3.org/XML/1998/namespace}lang") == "ja"
    return (fault.findtext("soap:Code/soap:Value", namespaces=NSMAP) or "",
            fault.findtext("soap:Code/soap:Subcode/soap:Value", namespaces=NSMAP) or "", text.text or "")


def test_a_soap_request_is_answered_with_a_signed_envelope_and_logged(soap: SoapKit, kit: Kit) -> None:
    request = kit.request()
    body = render_request(request, soap.keys["kenpo-midori"])
    reply = soap.adapter.handle(body)
    assert reply.http_status == 200
    assert reply.body.startswith(b"<?xml") and b"soap:Envelope" in reply.body
    response = parse_response(reply.body, soap.gateway_peers)
    assert (response.status, response.in_reply_to, response.subject) == ("provided", request.message_id,
                                                                         request.subject)
    assert response.items["resident_record.address"] == {
        "address": "山口県周南市岐山通一丁目1番地", "katagaki": None, "postal_code": "7450045"}
    [entry] = _entries()
    assert (entry.outcome, entry.requester, entry.affair) == ("provided", "kenpo-midori", "HI-01")
    assert entry.request_digest == hashlib.sha256(body).hexdigest()
    assert entry.response_digest == hashlib.sha256(reply.body).hexdigest()
    assert verify_log_command(LOG, kit.verifier())[0] is True


def test_an_rsa_peer_is_accepted_too(soap: SoapKit, kit: Kit) -> None:
    request = kit.request(requester="pension-01", affair="NP-01", items=("resident_record.name",))
    reply = soap.adapter.handle(render_request(request, soap.keys["pension-01"]))
    assert parse_response(reply.body, soap.gateway_peers).status == "provided"


def test_a_refusal_is_a_sender_fault_with_a_japanese_reason_and_the_response_in_detail(soap: SoapKit,
                                                                                      kit: Kit) -> None:
    reply = soap.adapter.handle(render_request(kit.request(items=("public_assistance",)), soap.keys["kenpo-midori"]))
    assert reply.http_status == 403
    code, subcode, reason = _fault(reply.body)
    assert (code, subcode) == ("soap:Sender", "m:item_not_allowed")
    assert "生活保護" in reason or "認められていません" in reason or "項目" in reason
    response = parse_response(reply.body, soap.gateway_peers)
    assert (response.status, response.code, response.items) == ("refused", "item_not_allowed", {})
    assert _entries()[0].outcome == "refused"


def test_a_signature_by_another_key_under_the_organisations_name_is_refused_as_forged(soap: SoapKit,
                                                                                     kit: Kit) -> None:
    impostor, _ = make_key("kenpo-midori")  # same key name, a key the gateway does not know
    reply = soap.adapter.handle(render_request(kit.request(), impostor))
    assert reply.http_status == 401
    assert _fault(reply.body)[1] == "m:forged"
    [entry] = _entries()
    assert (entry.outcome, entry.requester) == ("refused", "kenpo-midori")


def test_an_unknown_key_name_is_refused(soap: SoapKit, kit: Kit) -> None:
    stranger, _ = make_key("nobody")
    reply = soap.adapter.handle(render_request(kit.request(), stranger))
    assert _fault(reply.body)[1] == "m:forged"
    assert "登録されていません" in _fault(reply.body)[2]


def test_a_body_altered_after_signing_is_refused(soap: SoapKit, kit: Kit) -> None:
    body = render_request(kit.request(items=("resident_record.name",)), soap.keys["kenpo-midori"])
    altered = body.replace(b"<m:Item>resident_record.name</m:Item>", b"<m:Item>resident_record</m:Item>")
    assert altered != body
    reply = soap.adapter.handle(altered)
    assert (reply.http_status, _fault(reply.body)[1]) == (401, "m:forged")
    assert reply.response.items == {}


def test_a_wrapped_body_is_refused(soap: SoapKit, kit: Kit) -> None:
    """Signature wrapping: the signed Body moved into the header, an unsigned Body in its place."""
    signed = render_request(kit.request(items=("resident_record.name",)), soap.keys["kenpo-midori"])
    root = etree.fromstring(signed)
    body = root.find("soap:Body", NSMAP)
    assert body is not None
    root.find("soap:Header", NSMAP).append(body)  # type: ignore[union-attr]
    evil = etree.SubElement(root, f"{{{SOAP}}}Body")
    evil.append(etree.fromstring(etree.tostring(body[0]).replace(b"resident_record.name", b"resident_record")))
    reply = soap.adapter.handle(etree.tostring(root))
    assert reply.http_status in (400, 401)
    assert reply.response.items == {}


def test_an_expired_timestamp_is_refused(soap: SoapKit, kit: Kit) -> None:
    old = kit.request(timestamp=kit.clock.now - dt.timedelta(minutes=6))
    reply = soap.adapter.handle(render_request(old, soap.keys["kenpo-midori"]))
    assert reply.http_status == 401
    assert _fault(reply.body)[1] == "m:expired"
    assert "期限" in _fault(reply.body)[2]


def test_a_replayed_envelope_is_refused(soap: SoapKit, kit: Kit) -> None:
    body = render_request(kit.request(), soap.keys["kenpo-midori"])
    assert soap.adapter.handle(body).http_status == 200
    again = soap.adapter.handle(body)
    assert (again.http_status, _fault(again.body)[1]) == (409, "m:replayed")
    assert [e.outcome for e in _entries()] == ["provided", "refused"]


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&x;</soap:Body></soap:Envelope>',
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>',
    b"not xml at all",
    b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body/></soap:Envelope>',
])
def test_hostile_or_broken_documents_are_refused_without_expanding_anything(soap: SoapKit, payload: bytes) -> None:
    reply = soap.adapter.handle(payload)
    assert reply.http_status in (400, 401)
    assert reply.response.status == "refused"
    assert b"root:" not in reply.body and b"aaaaaaaaaaaaaaaaaaaa" not in reply.body
    assert _entries()[0].outcome == "refused"
