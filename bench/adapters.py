"""Benchmark of the protocol adapters, per core (one process, one thread), beside a baseline.

For one canonical request and its response (周南市's resident, two items, Japanese text):

- **baseline**: canonical JSON out and back (``ExchangeRequest.to_bytes`` / ``from_bytes`` and the
  same for the response) — what every adapter does at least;
- **rest**: requester signs (JWS, Ed25519), gateway verifies and parses; gateway signs the
  response, requester verifies and parses;
- **soap**: the same with SOAP 1.2 envelopes and WS-Security XML signatures (ECDSA P-256);
- **fixed** / **csv**: a 100-row request file written and read, and its 100-row response file
  (figures per row).

With ``--full`` also the whole exchange in process, on a fresh SQLite database: REST adapter (JWS
verify), ExchangeService (window, nonce stored, legal basis, 符号 resolution, registry read with
access log, response signed, log entry committed before the answer) — the synchronous path,
without TLS and HTTP (``bench/gateway.py`` measures the served path).

Prints messages per second per core and the ratio to the baseline.

    .venv/bin/python bench/adapters.py --seconds 2 [--full]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
DB_PATH = ROOT / "var" / "bench" / "adapters.sqlite3"
DB_PATH.parent.mkdir(parents=True, exist_ok=True)
if "--full" in sys.argv:
    DB_PATH.unlink(missing_ok=True)
os.environ.setdefault("MOYAI_SQLITE_PATH", str(DB_PATH))

import django  # noqa: E402

django.setup()

from moyai.gateway.adapters import batch, soap  # noqa: E402
from moyai.gateway.domain import jws  # noqa: E402
from moyai.gateway.domain.keystore import MemoryKeyStore  # noqa: E402
from moyai.gateway.domain.message import ExchangeRequest, ExchangeResponse, new_message_id, new_nonce  # noqa: E402
from moyai.gateway.domain.signing import Ed25519Signer  # noqa: E402
from moyai.gateway.rest import request_to_jws, response_from_jws  # noqa: E402
from tests.gateway.xml_kit import make_key  # noqa: E402

NOW = "2026-05-01T01:00:00.000000Z"


def request() -> ExchangeRequest:
    return ExchangeRequest(message_id=new_message_id(), requester="kenpo-midori", provider="352152",
                           affair="HI-01", items=("resident_record.name", "resident_record.address"),
                           subject="k0001.aeqzgqlzo2qixcg5oqmbr5cde6bsdj6w", nonce=new_nonce(), timestamp=NOW)


def response(req: ExchangeRequest) -> ExchangeResponse:
    return ExchangeResponse(
        message_id=new_message_id(), in_reply_to=req.message_id, requester=req.requester, provider=req.provider,
        affair=req.affair, subject=req.subject, status="provided", code="provided",
        reason_ja="健康保険法による保険給付の支給に関する事務（根拠 LB-0001）", nonce=new_nonce(), timestamp=NOW,
        items={"resident_record.address": {"address": "山口県周南市岐山通一丁目1番地", "katagaki": None,
                                           "postal_code": "7450045"},
               "resident_record.name": {"family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ",
                                        "given_kana": "イチロウ", "alias": None, "name_alpha": None}})


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Messages per second of ``fn`` (which returns how many messages one call handled)."""
    fn()  # warm up
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += fn()
    return done / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--full", action="store_true", help="also the whole exchange in process (SQLite)")
    args = ap.parse_args()
    req, resp = request(), None
    resp = response(req)

    store = MemoryKeyStore()
    store.rotate()
    ed = Ed25519Signer(store.current())
    peers = jws.PeerKeys({"kenpo-midori": {ed.key_id: ed.public_key()}, "gateway-a": {ed.key_id: ed.public_key()}})
    xml_key, xml_cert = make_key("kenpo-midori")
    xml_peers = soap.XmlPeers({"kenpo-midori": {"k0001": xml_cert}})
    rows_req = [request() for _ in range(100)]
    rows_resp = [response(r) for r in rows_req]

    def baseline() -> int:
        ExchangeRequest.from_bytes(req.to_bytes())
        ExchangeResponse.from_bytes(resp.to_bytes())
        return 1

    def rest() -> int:
        ExchangeRequest.from_bytes(jws.verify(request_to_jws(req, ed, "kenpo-midori"), peers).payload)
        response_from_jws(jws.sign(resp.to_bytes(), ed, "gateway-a"), peers)
        return 1

    def soap_() -> int:
        soap.parse_request(soap.render_request(req, xml_key), xml_peers)
        soap.parse_response(soap.render_response(resp, xml_key), xml_peers)
        return 1

    def files(fmt: str) -> Callable[[], int]:
        def run() -> int:
            batch.read_requests(batch.write_requests(rows_req, "kenpo-midori", fmt=fmt), fmt=fmt)
            batch.read_responses(batch.write_responses(rows_resp, "gateway-a", fmt=fmt), fmt=fmt)
            return len(rows_req)
        return run

    print(f"# adapters, one process, {platform.python_version()}, {os.cpu_count()} cores (shared), "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.seconds:.0f} s per case")
    base = rate(baseline, args.seconds)
    print(f"{'case':<10}{'exchanges/s/core':>18}{'µs each':>10}{'× baseline time':>17}")
    for name, fn in (("baseline", baseline), ("rest", rest), ("soap", soap_), ("fixed", files("fixed")),
                     ("csv", files("csv"))):
        r = base if name == "baseline" else rate(fn, args.seconds)
        print(f"{name:<10}{r:>18,.0f}{1e6 / r:>10,.0f}{base / r:>17.1f}")
    if args.full:
        r = rate(full_path(), args.seconds)
        print(f"{'full':<10}{r:>18,.0f}{1e6 / r:>10,.0f}{base / r:>17.1f}")


def full_path() -> Callable[[], int]:
    """One allowed exchange through RestAdapter → ExchangeService on a fresh SQLite database."""
    import types

    from django.core.management import call_command

    from moyai.platform.identity.roles import permissions_of
    from moyai.platform.identity.services import Principal
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents import services
    from tests.factories import TenantFactory
    from tests.gateway.exchange_kit import make_kit

    call_command("migrate", verbosity=0)
    TenantFactory(code="352152", name="周南市")
    with tenant_scope("352152"):
        services.load_resident_codes(f"{35215200000 + i:011d}" for i in range(50))
    clerk = Principal("staff", "bench", "352152", frozenset({"clerk"}), permissions_of({"clerk"}))
    kit = make_kit(types.SimpleNamespace(clerk=clerk), batch_size=256,  # type: ignore[arg-type]
                   clock_start=dt.datetime.now(dt.UTC))

    def run() -> int:
        kit.clock.now = dt.datetime.now(dt.UTC)
        reply = kit.send(kit.signed(kit.request()))
        assert reply.http_status == 200, reply.response.code
        return 1
    return run


if __name__ == "__main__":
    main()
