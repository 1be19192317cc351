"""The gateway as an ASGI service over mutual TLS: real uvicorn processes, real certificates, real databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from moyai.gateway.domain import jws
from moyai.gateway.domain.keystore import MemoryKeyStore
from moyai.gateway.domain.signing import Ed25519Signer
from moyai.gateway.server.client import GatewayClient, Sent
from moyai.gateway.server.pki import init_pki
from tests.gateway.server_kit import DataCentre, TwoDataCentres

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def code(dc: DataCentre, org: str = "kenpo-midori") -> str:
    return str(dc.residents[0]["codes"][org])


async def send_one(gw: TwoDataCentres, request_kw: dict[str, Any], *, org: str = "kenpo-midori",
                   cert_org: str | None = None, body: bytes | None = None, provider: str = "352152",
                   subject: str | None = None) -> Sent:
    client = GatewayClient(gw.pki, org, gw.a.url, cert_org=cert_org)
    try:
        request = client.request(provider, subject or code(gw.a, org), **request_kw)
        return await client.send(request, body)
    finally:
        await client.close()


def last_entry(dc: DataCentre) -> dict[str, Any]:
    return dc.entries()[-1]


def test_an_allowed_request_is_answered_over_mtls_and_logged_before_the_reply(gateways: TwoDataCentres) -> None:
    sent = run(send_one(gateways, {}))
    assert (sent.status, sent.content_type) == (200, "application/jose")
    response = sent.response(gateways.pki.peer_keys())
    assert (response.status, response.in_reply_to, response.subject) == (
        "provided", sent.request.message_id, code(gateways.a))
    assert response.items["resident_record.address"]["address"] == "山口県周南市一丁目1番地"
    assert response.items["resident_record.name"]["given_name"] == "太郎0"
    entry = last_entry(gateways.a)
    assert (entry["kind"], entry["outcome"], entry["requester"], entry["provider"], entry["basis_id"]) == (
        "exchange", "provided", "kenpo-midori", "352152", "LB-0001")
    assert entry["message_id"] == sent.request.message_id
    assert entry["request_digest"] == hashlib.sha256(sent.body).hexdigest()
    assert entry["response_digest"] == hashlib.sha256(sent.reply).hexdigest()
    assert entry["subject"] != response.subject and entry["subject"].startswith("k0001.")  # the provider's code
    assert gateways.a.residents[0]["resident_code"] not in str(entry)


@pytest.mark.parametrize(("org", "affair", "items", "code_", "basis_id"), [
    ("kenpo-midori", "HI-01", ("public_assistance",), "item_not_allowed", "LB-0001"),
    ("pension-01", "HI-01", ("resident_record.name",), "no_basis", None),
    ("kenpo-midori", "XX-99", ("resident_record.name",), "unknown_affair", None),
])
def test_an_unauthorised_triple_is_refused_over_http_and_logged(
        gateways: TwoDataCentres, org: str, affair: str, items: tuple[str, ...], code_: str,
        basis_id: str | None) -> None:
    sent = run(send_one(gateways, {"affair": affair, "items": items}, org=org))
    response = sent.response(gateways.pki.peer_keys())
    assert (sent.status, response.status, response.code, response.items) == (403, "refused", code_, {})
    entry = last_entry(gateways.a)
    assert (entry["outcome"], entry["requester"], entry["affair"], entry["basis_id"], entry["subject"]) == (
        "refused", org, affair, basis_id, None)
    assert entry["response_digest"] == hashlib.sha256(sent.reply).hexdigest()


def test_forged_expired_and_replayed_messages_are_refused_and_logged(gateways: TwoDataCentres) -> None:
    async def scenario() -> list[Sent]:
        client = GatewayClient(gateways.pki, "kenpo-midori", gateways.a.url)
        try:
            impostor = MemoryKeyStore()
            impostor.rotate()
            forged_request = client.request("352152", code(gateways.a))
            forged = jws.sign(forged_request.to_bytes(), Ed25519Signer(impostor.current()), "kenpo-midori")
            expired = client.request("352152", code(gateways.a),
                                     timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
            fresh = client.request("352152", code(gateways.a))
            first = await client.send(fresh)
            return [await client.send(forged_request, forged), await client.send(expired), first,
                    await client.send(fresh, first.body)]
        finally:
            await client.close()

    forged, expired, first, replayed = run(scenario())
    keys = gateways.pki.peer_keys()
    assert (forged.status, forged.response(keys).code) == (401, "forged")
    assert (expired.status, expired.response(keys).code) == (401, "expired")
    assert (first.status, replayed.status, replayed.response(keys).code) == (200, 409, "replayed")
    by_message = {(e["message_id"], e["outcome"], e["response_digest"]) for e in gateways.a.entries()}
    for sent, outcome in ((forged, "refused"), (expired, "refused"), (replayed, "refused"), (first, "provided")):
        assert (sent.request.message_id, outcome, hashlib.sha256(sent.reply).hexdigest()) in by_message


def test_a_client_certificate_of_another_organisation_than_the_signer_is_refused_and_logged(
        gateways: TwoDataCentres) -> None:
    sent = run(send_one(gateways, {}, cert_org="pension-01"))
    response = sent.response(gateways.pki.peer_keys())
    assert (sent.status, response.status, response.code) == (401, "refused", "certificate_mismatch")
    assert "pension-01" in response.reason_ja and "kenpo-midori" in response.reason_ja
    assert response.items == {}
    entry = last_entry(gateways.a)
    assert (entry["outcome"], entry["requester"], entry["message_id"]) == (
        "refused", "kenpo-midori", sent.request.message_id)


def test_a_client_without_a_certificate_of_the_ca_cannot_connect(gateways: TwoDataCentres, tmp_path: Any) -> None:
    before = len(gateways.a.entries())
    other_ca = init_pki(tmp_path / "other", organisations=["kenpo-midori"])

    async def attempt(client: httpx.AsyncClient) -> None:
        async with client:
            await client.post(f"{gateways.a.url}/exchange", content=b"x.y.z")

    import ssl
    no_cert = ssl.create_default_context(cafile=str(gateways.pki.ca_cert))
    with pytest.raises(httpx.TransportError):
        run(attempt(httpx.AsyncClient(verify=no_cert)))
    wrong_ca = ssl.create_default_context(cafile=str(gateways.pki.ca_cert))
    party = other_ca.party("kenpo-midori")  # same name, issued by another CA
    wrong_ca.load_cert_chain(str(party.cert), str(party.tls_key))
    with pytest.raises(httpx.TransportError):
        run(attempt(httpx.AsyncClient(verify=wrong_ca)))
    assert len(gateways.a.entries()) == before


def test_many_messages_share_one_keep_alive_connection(gateways: TwoDataCentres) -> None:
    async def scenario() -> list[int]:
        client = GatewayClient(gateways.pki, "kenpo-midori", gateways.a.url, max_connections=1)
        try:
            statuses = []
            for _ in range(5):
                statuses.append((await client.send(client.request("352152", code(gateways.a)))).status)
            pool = client.http._transport._pool  # type: ignore[attr-defined]
            assert len(pool.connections) == 1
            return statuses
        finally:
            await client.close()

    assert run(scenario()) == [200] * 5


def test_soap_is_mounted_beside_rest_with_the_same_certificate_rule(gateways: TwoDataCentres) -> None:
    soap = pytest.importorskip("moyai.gateway.adapters.soap")

    async def scenario(cert_org: str) -> tuple[int, bytes, str]:
        client = GatewayClient(gateways.pki, "kenpo-midori", gateways.a.url, cert_org=cert_org)
        try:
            key_id, key = gateways.pki.xml_key("kenpo-midori")
            request = client.request("352152", code(gateways.a))
            body = soap.render_request(request, soap.XmlSigningKey("kenpo-midori", key_id, key))
            r = await client.post(body, "/soap", soap.CONTENT_TYPE)
            return r.status_code, r.content, request.message_id
        finally:
            await client.close()

    gateway_peers = soap.XmlPeers(gateways.pki.xml_certificates())
    status, reply, message_id = run(scenario("kenpo-midori"))
    response = soap.parse_response(reply, gateway_peers)
    assert (status, response.status, response.in_reply_to) == (200, "provided", message_id)
    assert response.items["resident_record.name"]["given_name"] == "太郎0"
    entry = last_entry(gateways.a)
    assert (entry["outcome"], entry["message_id"]) == ("provided", message_id)
    assert entry["response_digest"] == hashlib.sha256(reply).hexdigest()

    status, reply, message_id = run(scenario("pension-01"))
    assert status == 401
    assert b"certificate_mismatch" in reply
    entry = last_entry(gateways.a)
    assert (entry["outcome"], entry["requester"]) == ("refused", "kenpo-midori")


def test_other_routes_and_methods_get_a_problem_and_write_nothing(gateways: TwoDataCentres) -> None:
    before = len(gateways.a.entries())

    async def scenario() -> list[tuple[int, str, str]]:
        client = GatewayClient(gateways.pki, "kenpo-midori", gateways.a.url)
        try:
            out = []
            for method, path in (("GET", "/exchange"), ("POST", "/nothing"), ("GET", "/health")):
                r = await client.http.request(method, f"{gateways.a.url}{path}")
                out.append((r.status_code, r.headers["content-type"], r.text))
            r = await client.post(b"x" * ((1 << 20) + 1))
            out.append((r.status_code, r.headers["content-type"], r.text))
            return out
        finally:
            await client.close()

    (s405, t405, b405), (s404, t404, _), (s200, _, health), (s413, _, b413) = run(scenario())
    assert (s405, t405) == (405, "application/problem+json") and "POST で送信してください" in b405
    assert (s404, t404) == (404, "application/problem+json")
    assert (s200, health) == (200, '{"status": "ok", "data_centre": "a"}')
    assert s413 == 413 and "大きすぎます" in b413
    assert len(gateways.a.entries()) == before
