"""Two data centres: routing across, a clean retryable failure when the far side is down, logs that verify."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from moyai.gateway.server.client import GatewayClient, Sent
from moyai.gateway.server.mtls import SHUTDOWN_GRACE
from tests.gateway.server_kit import DataCentre, TwoDataCentres
from tests.gateway.test_gateway_server import run

YANAI = "352128"  # 柳井市, hosted in data centre b


def code_at(dc: DataCentre, org: str = "kenpo-midori") -> str:
    return str(dc.residents[0]["codes"][org])


async def send_via_a(gw: TwoDataCentres, provider: str = YANAI) -> Sent:
    client = GatewayClient(gw.pki, "kenpo-midori", gw.a.url)
    try:
        return await client.send(client.request(provider, code_at(gw.b)))
    finally:
        await client.close()


def by_message(dc: DataCentre, message_id: str) -> list[dict[str, Any]]:
    return [e for e in dc.entries() if e["message_id"] == message_id]


def test_a_request_at_a_for_a_provider_in_b_is_answered_by_b_and_logged_on_both_sides(
        gateways: TwoDataCentres) -> None:
    sent = run(send_via_a(gateways))
    assert sent.status == 200
    response = sent.response(gateways.pki.peer_keys())
    assert (response.status, response.provider, response.subject) == ("provided", YANAI, code_at(gateways.b))
    assert response.items["resident_record.address"]["address"] == "山口県柳井市一丁目1番地"
    assert sent.reply.split(b".")[0] == b"eyJhbGciOiJFZERTQSIsImtpZCI6ImdhdGV3YXktYi9rMDAwMSIsInR5cCI6Im1veWFpLWV4Y2hhbmdlK2p3cyJ9"
    [at_a] = by_message(gateways.a, sent.request.message_id)
    [at_b] = by_message(gateways.b, sent.request.message_id)
    body_digest = hashlib.sha256(sent.body).hexdigest()
    reply_digest = hashlib.sha256(sent.reply).hexdigest()
    assert (at_a["kind"], at_a["outcome"], at_a["provider"], at_a["subject"]) == ("forward", "provided", YANAI, None)
    assert (at_b["kind"], at_b["outcome"], at_b["provider"], at_b["basis_id"]) == ("exchange", "provided", YANAI,
                                                                                    "LB-0001")
    assert at_a["request_digest"] == at_b["request_digest"] == body_digest  # the very bytes were relayed
    assert at_a["response_digest"] == at_b["response_digest"] == reply_digest
    assert at_b["subject"] is not None and at_b["subject"] != code_at(gateways.b)  # 柳井市's code, not the requester's


def test_when_b_is_down_the_requester_gets_a_retryable_error_and_nothing_is_logged_as_delivered(
        gateways: TwoDataCentres) -> None:
    b_before = len(gateways.b.entries())
    gateways.b.stop()
    try:
        sent = run(send_via_a(gateways))
        assert sent.status == 503
        assert sent.headers["retry-after"] == "5"
        assert sent.content_type == "application/problem+json"
        problem = json.loads(sent.reply)
        assert (problem["status"], problem["code"], problem["retryable"], problem["data_centre"]) == (
            503, "peer_unavailable", True, "b")
        assert problem["title"] == "提供者のデータセンターに接続できません"
        assert "再送" in problem["detail"] and "提供されていません" in problem["detail"]
        [at_a] = by_message(gateways.a, sent.request.message_id)
        assert (at_a["kind"], at_a["outcome"]) == ("forward", "unavailable")
        assert at_a["response_digest"] == hashlib.sha256(sent.reply).hexdigest()
        # a request for a provider of a itself is still answered while b is down
        assert run(send_via_a(gateways, provider="352152")).status in (200, 404)
    finally:
        gateways.b.start()
    assert len(gateways.b.entries()) == b_before
    assert by_message(gateways.b, sent.request.message_id) == []
    assert not any(e["outcome"] == "provided" for e in by_message(gateways.a, sent.request.message_id))
    again = run(send_via_a(gateways))
    assert again.status == 200
    assert [e["outcome"] for e in by_message(gateways.b, again.request.message_id)] == ["provided"]
    for dc in gateways:
        status, message = dc.verify_log()
        assert status == 0, message
        assert f"情報連携ログ dc-{dc.dc}: ログは改ざんされていません" in message


def test_both_logs_verify_after_both_gateways_restart(gateways: TwoDataCentres) -> None:
    run(send_via_a(gateways))
    for dc in gateways:
        dc.stop()  # shutdown closes the partial batch with a checkpoint
    for dc in gateways:
        status, message = dc.verify_log()
        assert status == 0, message
        assert "次のチェックポイント待ち" not in message  # nothing left unanchored after a clean stop
    for dc in gateways:
        dc.start()
    assert run(send_via_a(gateways)).status == 200


def test_a_gateway_stops_at_once_with_a_peer_s_idle_connection_open_and_closes_its_last_batch(
        gateways: TwoDataCentres) -> None:
    """a's forwarder keeps its connection to b open after a request; b's TLS goodbye on it went
    unanswered, and b waited 30 s for it (a supervisor killed it first, without the shutdown's
    checkpoint: the kit's ``stop`` now fails when it has to kill)."""
    assert run(send_via_a(gateways)).status == 200
    began = time.monotonic()
    gateways.b.stop()
    took = time.monotonic() - began
    try:
        assert took < SHUTDOWN_GRACE, f"b took {took:.1f} s to stop"
        status, message = gateways.b.verify_log()
        assert status == 0, message
        assert "次のチェックポイント待ち" not in message  # the shutdown closed the partial batch
    finally:
        gateways.b.start()


# -- SOAP across data centres ---------------------------------------------------------------------------


async def soap_via_a(gw: TwoDataCentres, provider: str = YANAI) -> tuple[int, dict[str, str], bytes, bytes, str]:
    """A SOAP request signed by kenpo-midori, sent to a's /soap: (status, headers, body sent, reply, message id)."""
    from moyai.gateway.adapters import soap

    client = GatewayClient(gw.pki, "kenpo-midori", gw.a.url)
    try:
        key_id, key = gw.pki.xml_key("kenpo-midori")
        request = client.request(provider, code_at(gw.b))
        body = soap.render_request(request, soap.XmlSigningKey("kenpo-midori", key_id, key))
        r = await client.post(body, "/soap", soap.CONTENT_TYPE)
        return r.status_code, dict(r.headers), body, r.content, request.message_id
    finally:
        await client.close()


def test_a_soap_request_at_a_for_a_provider_in_b_is_routed_to_b_and_answered_with_b_s_signed_envelope(
        gateways: TwoDataCentres) -> None:
    from moyai.gateway.adapters import soap

    status, headers, body, reply, message_id = run(soap_via_a(gateways))
    assert (status, headers["content-type"]) == (200, soap.CONTENT_TYPE)
    signer, response = soap.open_reply(reply, soap.XmlPeers(gateways.pki.xml_certificates()))
    assert signer == "gateway-b"  # b's signed envelope, relayed unchanged
    assert (response.status, response.provider, response.in_reply_to, response.subject) == (
        "provided", YANAI, message_id, code_at(gateways.b))
    assert response.items["resident_record.address"]["address"] == "山口県柳井市一丁目1番地"
    [at_a] = by_message(gateways.a, message_id)
    [at_b] = by_message(gateways.b, message_id)
    assert (at_a["kind"], at_a["outcome"], at_a["provider"], at_a["subject"]) == ("forward", "provided", YANAI, None)
    assert (at_b["kind"], at_b["outcome"], at_b["provider"], at_b["basis_id"]) == ("exchange", "provided", YANAI,
                                                                                    "LB-0001")
    assert at_a["request_digest"] == at_b["request_digest"] == hashlib.sha256(body).hexdigest()
    assert at_a["response_digest"] == at_b["response_digest"] == hashlib.sha256(reply).hexdigest()
    # b read its own registry for it: one access-log entry, the gateway acting for kenpo-midori
    rows = gateways.b.query("SELECT actor, operation, request_id FROM audit_accesslog WHERE request_id = ?",
                            (message_id,))
    assert rows == [("gateway:kenpo-midori", "resident.view", message_id)]
    assert gateways.a.query("SELECT count(*) FROM audit_accesslog WHERE request_id = ?", (message_id,)) == [(0,)]


def test_a_soap_request_for_b_while_b_is_down_gets_a_signed_retryable_fault_and_nothing_is_logged_as_delivered(
        gateways: TwoDataCentres) -> None:
    from moyai.gateway.adapters import soap

    b_before = len(gateways.b.entries())
    gateways.b.stop()
    try:
        status, headers, _, reply, message_id = run(soap_via_a(gateways))
    finally:
        gateways.b.start()
    assert (status, headers["retry-after"], headers["content-type"]) == (503, "5", soap.CONTENT_TYPE)
    signer, response = soap.open_reply(reply, soap.XmlPeers(gateways.pki.xml_certificates()))
    assert signer == "gateway-a"
    assert (response.status, response.code, response.retryable, response.in_reply_to, response.items) == (
        "unavailable", "peer_unavailable", True, message_id, {})
    assert response.reason_ja.startswith("提供者のデータセンターに接続できません: ")
    assert "再送" in response.reason_ja and "提供されていません" in response.reason_ja
    assert b"soap:Fault" in reply or b":Fault" in reply
    [at_a] = by_message(gateways.a, message_id)
    assert (at_a["kind"], at_a["outcome"]) == ("forward", "unavailable")
    assert at_a["response_digest"] == hashlib.sha256(reply).hexdigest()
    assert len(gateways.b.entries()) == b_before
    assert by_message(gateways.b, message_id) == []
    # once b is back, a new message goes through
    status, _, _, _, again = run(soap_via_a(gateways))
    assert status == 200
    assert [e["outcome"] for e in by_message(gateways.b, again)] == ["provided"]
    assert [e["outcome"] for e in by_message(gateways.a, again)] == ["provided"]
    for dc in gateways:
        code, message = dc.verify_log()
        assert code == 0, message
