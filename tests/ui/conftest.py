"""Fixtures of the counter UI tests: a household in 周南市, signing keys, logged-in clients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django.fixtures import Settings

from moyai.certificates import signing
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import set_parameter
from moyai.residents import services
from moyai.residents.services import SubjectInput
from tests.fixtures import SHUNAN, World

ADDR1 = "山口県周南市岐山通一丁目1番地"
ADDR2 = "山口県周南市糀町二丁目5番地"
PASSWORD = "correct-horse-battery"  # the factories' test password


@dataclass
class Family:
    head: str
    wife: str
    child: str
    household_no: str


def record_family(clerk: Principal) -> Family:
    """A household of three that moved in on 2010-04-01 and moved within the city on 2020-06-01."""
    base = {"address": ADDR1, "postal_code": "745-0045", "household_no": "new",
            "previous_address": "広島県広島市中区基町1番"}
    people = [
        {"family_name": "周南", "given_name": "太郎", "family_kana": "シュウナン", "given_kana": "タロウ",
         "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主"},
        {"family_name": "周南", "given_name": "花子", "family_kana": "シュウナン", "given_kana": "ハナコ",
         "birth_date": "昭和47年2月3日", "sex": "2", "relationship": "妻"},
        {"family_name": "周南", "given_name": "一郎", "family_kana": "シュウナン", "given_kana": "イチロウ",
         "birth_date": "平成12年1月1日", "sex": "1", "relationship": "子"},
    ]
    req = services.record_now(clerk, "move_in", dt.date(2010, 4, 1), [SubjectInput(None, {**base, **p}) for p in people],
                              notified_date=dt.date(2010, 4, 2))
    assert req.status == "registered", req.findings
    atena = [m["atena_no"] for m in req.moves]
    req = services.record_now(clerk, "move_within", dt.date(2020, 6, 1),
                              [SubjectInput(a, {"address": ADDR2, "postal_code": "745-0074"}) for a in atena],
                              notified_date=dt.date(2020, 6, 2))
    assert req.status == "registered", req.findings
    hh = str(services.events_of([atena[0]])[atena[0]][0].changes["household_no"])
    return Family(atena[0], atena[1], atena[2], hh)


@pytest.fixture
def family(world: World) -> Family:
    with tenant_scope(SHUNAN):
        set_parameter("issuer_name", "周南　太郎", dt.date(2020, 1, 1), "admin1")
        return record_family(world.clerk)


@pytest.fixture(autouse=True)
def fast_passwords(settings: Settings) -> None:
    """Staff passwords hashed with a cheap hasher (the world has six staff members)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(username: str, **kw: object) -> Client:
    client = Client(raise_request_exception=False, **kw)  # type: ignore[arg-type]
    client.force_login(get_user_model().objects.get(username=username))
    return client


@dataclass
class Keys:
    root: Path
    ca: x509.Certificate


@pytest.fixture(scope="session")
def _ca() -> tuple[object, x509.Certificate]:
    return signing.make_test_ca()


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _ca: tuple[object, x509.Certificate]) -> Iterator[Keys]:
    """A per-tenant signing key for 周南市 in a key directory of the test's own."""
    ca_key, ca = _ca
    store = signing.FileIdentityStore(tmp_path / "keys")
    store.save(signing.issue_identity(SHUNAN, "周南市", ca_key, ca))  # type: ignore[arg-type]
    store.add_trust_root(ca)
    monkeypatch.setenv("MOYAI_CERT_KEY_DIR", str(tmp_path / "keys"))
    yield Keys(tmp_path / "keys", ca)
