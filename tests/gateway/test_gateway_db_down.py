"""The gateway's database goes away under it: every message is answered at once with a clear,
retryable 503 in its own protocol (a problem for REST, a signed Fault for SOAP; no 500, no wait of
the pool's 30 s past the client's timeout), nothing is logged as provided, and the gateway still
stops promptly."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psycopg
import pytest

from moyai.gateway.server.client import GatewayClient, Sent
from moyai.gateway.server.pg import POOL_WAIT
from moyai.gateway.server.pki import init_pki
from tests.gateway.server_kit import DataCentre, superuser_dsn
from tests.gateway.test_gateway_server import run

PG = os.environ.get("MOYAI_DB") == "postgresql"
pytestmark = [pytest.mark.postgresql,
              pytest.mark.skipif(not PG, reason="the served gateway's pools: MOYAI_DB=postgresql")]


def test_without_its_database_the_gateway_answers_503_retryable_at_once_and_still_stops(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki")
    dc = DataCentre("a", pki, tmp_path, batch_size=4, label="dbdown")
    dc.peer_port = dc.port + 1  # no data centre b here
    dc.create_database(2)

    async def send() -> Sent:
        client = GatewayClient(pki, "kenpo-midori", dc.url, timeout=POOL_WAIT + 5)
        try:
            return await client.send(client.request("352152", str(dc.residents[0]["codes"]["kenpo-midori"])))
        finally:
            await client.close()

    async def send_soap() -> tuple[int, dict[str, str], bytes]:
        from moyai.gateway.adapters import soap

        client = GatewayClient(pki, "kenpo-midori", dc.url, timeout=POOL_WAIT + 5)
        try:
            key_id, key = pki.xml_key("kenpo-midori")
            request = client.request("352152", str(dc.residents[0]["codes"]["kenpo-midori"]))
            body = soap.render_request(request, soap.XmlSigningKey("kenpo-midori", key_id, key))
            r = await client.post(body, "/soap", soap.CONTENT_TYPE)
            return r.status_code, dict(r.headers), r.content
        finally:
            await client.close()

    try:
        dc.start()
        assert run(send()).status == 200
        with psycopg.connect(superuser_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{dc.db_name}" WITH (FORCE)')
        # the first message finds its pooled connections cut; the next ones find no connection at all
        for _ in range(2):
            began = time.monotonic()
            sent = run(send())
            took = time.monotonic() - began
            assert sent.status == 503, sent.reply[:300]
            assert took < POOL_WAIT + 2
            assert sent.headers["retry-after"] == "5"
            problem = json.loads(sent.reply)
            assert (problem["code"], problem["retryable"]) == ("database_unavailable", True)
            assert problem["in_reply_to"] == sent.request.message_id  # answered by the service, not the backstop
            assert problem["title"] == "ゲートウェイのデータベースに接続できません"
            assert "提供されていません" in problem["detail"] and "再送" in problem["detail"]
        # a SOAP peer gets a Fault in its own protocol, signed by this gateway
        from moyai.gateway.adapters import soap

        status, headers, reply = run(send_soap())
        assert (status, headers["retry-after"], headers["content-type"]) == (503, "5", soap.CONTENT_TYPE)
        signer, response = soap.open_reply(reply, soap.XmlPeers(pki.xml_certificates()))
        assert signer == "gateway-a"
        assert (response.status, response.code, response.retryable, response.items) == (
            "unavailable", "database_unavailable", True, {})
        assert "提供されていません" in response.reason_ja
        began = time.monotonic()
        dc.stop()  # raises if it had to be killed
        assert time.monotonic() - began < 15
    finally:
        dc.stop()
        dc.drop_database()
    log = (tmp_path / "dc-a.log").read_text()
    assert "データベースに接続できないため照会に応答できません（" in log
    assert "kenpo-midori" not in log.split("データベースに接続できないため")[1].splitlines()[0]
