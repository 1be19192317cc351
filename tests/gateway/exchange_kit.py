"""A gateway of data centre a with real tables, a resident of 周南市, and requesters with their keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from moyai.gateway.codestore import DbCodeStore
from moyai.gateway.domain import jws
from moyai.gateway.domain.codes import CodeService
from moyai.gateway.domain.keystore import MemoryKeyStore
from moyai.gateway.domain.log import format_time
from moyai.gateway.domain.message import ExchangeRequest, new_message_id, new_nonce
from moyai.gateway.domain.signing import Ed25519Signer, KeyStoreVerifier
from moyai.gateway.nonces import NonceCache
from moyai.gateway.registry import ResidentsReadModel
from moyai.gateway.rest import RestAdapter, request_to_jws
from moyai.gateway.service import ExchangeService, Reply
from moyai.gateway.store import LogStore
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services
from moyai.residents.models import Resident
from moyai.residents.services import SubjectInput
from tests.fixtures import SHUNAN, World

LOG = "dc-a"
NOW = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)
INDIVIDUAL_NUMBER = "123456789018"


class Clock:
    def __init__(self, start: dt.datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(milliseconds=1)
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


@dataclass
class Kit:
    world: World
    clock: Clock
    code_keys: MemoryKeyStore
    log_keys: MemoryKeyStore
    codes: CodeService
    store: LogStore
    service: ExchangeService
    rest: RestAdapter
    gateway_keys: jws.PeerKeys
    signers: dict[str, Ed25519Signer] = field(default_factory=dict)
    atena_no: str = ""
    resident_code: str = ""

    def verifier(self) -> KeyStoreVerifier:
        return KeyStoreVerifier(self.log_keys)

    def request(self, requester: str = "kenpo-midori", provider: str = SHUNAN, affair: str = "HI-01",
                items: tuple[str, ...] = ("resident_record.name", "resident_record.address"),
                subject: str | None = None, timestamp: dt.datetime | None = None) -> ExchangeRequest:
        return ExchangeRequest(
            message_id=new_message_id(), requester=requester, provider=provider, affair=affair, items=items,
            subject=subject or self.codes.code_for(requester, self.resident_code), nonce=new_nonce(),
            timestamp=format_time(timestamp or self.clock.now))

    def signed(self, request: ExchangeRequest, signer_org: str | None = None) -> bytes:
        org = signer_org or request.requester
        return request_to_jws(request, self.signers[org], org)

    def send(self, body: bytes) -> Reply:
        return self.rest.handle(body)


def make_kit(world: World, *, batch_size: int = 4,
             clock_start: dt.datetime = NOW) -> Kit:
    clock = Clock(clock_start)
    code_keys, log_keys, gw_keys = MemoryKeyStore(), MemoryKeyStore(), MemoryKeyStore()
    for ks in (code_keys, log_keys, gw_keys):
        ks.rotate()
    codes = CodeService(code_keys, DbCodeStore())
    store = LogStore(LOG, Ed25519Signer(log_keys.current()), batch_size=batch_size, clock=clock)
    service = ExchangeService("a", store, codes, NonceCache(dt.timedelta(minutes=5)), ResidentsReadModel(),
                              clock=clock)
    peers = jws.PeerKeys()
    signers: dict[str, Ed25519Signer] = {}
    for org in ("kenpo-midori", "pension-01", "350001", "352071"):
        ks = MemoryKeyStore()
        ks.rotate()
        signers[org] = Ed25519Signer(ks.current())
        peers.add(org, signers[org].key_id, signers[org].public_key())
    gw_signer = Ed25519Signer(gw_keys.current())
    gateway_keys = jws.PeerKeys({"gateway-a": {gw_signer.key_id: gw_signer.public_key()}})
    rest = RestAdapter(service, peers, gw_signer, "gateway-a")
    kit = Kit(world, clock, code_keys, log_keys, codes, store, service, rest, gateway_keys, signers)
    with tenant_scope(SHUNAN):
        req = services.record_now(world.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, {
            "family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ", "given_kana": "イチロウ",
            "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主",
            "address": "山口県周南市岐山通一丁目1番地", "postal_code": "745-0045", "household_no": "new",
            "previous_address": "広島県広島市中区基町1番", "individual_number": INDIVIDUAL_NUMBER})])
        assert req.status == "registered", req.findings
        kit.atena_no = req.moves[0]["atena_no"]
        kit.resident_code = Resident.objects.get(atena_no=kit.atena_no).resident_code
    assert kit.resident_code
    return kit


@pytest.fixture
def kit(world: World) -> Kit:
    return make_kit(world)


KitFactory = Callable[..., Kit]
