"""Shared by the certificate tests: a family of four in 周南市 and a key store for 周南市."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from moyai.certificates import signing
from moyai.platform.tenancy.services import set_parameter
from moyai.residents import services
from moyai.residents.domain.model import JST
from moyai.residents.services import SubjectInput
from tests.fixtures import SHUNAN, World

ADDR1 = "山口県周南市岐山通一丁目1番地"
ADDR2 = "山口県周南市糀町二丁目5番地"
NOW = dt.datetime(2026, 5, 2, 10, 0, tzinfo=JST)


@dataclass
class Keys:
    signer: signing.PdfSigner
    ca: x509.Certificate


def make_keys() -> Keys:
    ca_key, ca = signing.make_test_ca()
    return Keys(signing.PdfSigner(signing.issue_identity(SHUNAN, "周南市", ca_key, ca)), ca)


@pytest.fixture
def key_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: Keys) -> Path:
    """``$MOYAI_CERT_KEY_DIR`` with 周南市's key and the test CA as trusted root."""
    store = signing.FileIdentityStore(tmp_path / "keys")
    store.save(keys.signer.identity)
    store.add_trust_root(keys.ca)
    monkeypatch.setenv("MOYAI_CERT_KEY_DIR", str(store.root))
    return store.root


def family(w: World) -> dict[str, str]:
    """Four persons in one household (2010 転入, 2020 転居) and the 周南市 issuer's name."""
    base = {"address": ADDR1, "postal_code": "745-0045", "household_no": "new",
            "previous_address": "広島県広島市中区基町1番"}
    people = [
        {"family_name": "𠮷田", "given_name": "太郎", "family_kana": "ヨシダ", "given_kana": "タロウ",
         "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主", "individual_number": "123456789018",
         "honseki": "山口県周南市毛利町一丁目1番地", "hittousha": "𠮷田　太郎"},
        {"family_name": "𠮷田", "given_name": "一", "family_kana": "ヨシダ", "given_kana": "ハジメ",
         "birth_date": "平成12年1月1日", "sex": "1", "relationship": "子"},
        {"family_name": "𠮷田", "given_name": "花子", "family_kana": "ヨシダ", "given_kana": "ハナコ",
         "birth_date": "昭和47年2月3日", "sex": "2", "relationship": "妻"},
        {"family_name": "𠮷田", "given_name": "トメ", "family_kana": "ヨシダ", "given_kana": "トメ",
         "birth_date": "昭和10年3月3日", "sex": "2", "relationship": "母"},
    ]
    req = services.record_now(w.clerk, "move_in", dt.date(2010, 4, 1),
                              [SubjectInput(None, {**base, **p}) for p in people], notified_date=dt.date(2010, 4, 2))
    assert req.status == "registered", req.findings
    atena = [m["atena_no"] for m in req.moves]
    hh = services.events_of([atena[0]])[atena[0]][0].changes["household_no"]
    for a in atena[1:]:  # one household
        assert services.events_of([a])[a][0].changes["household_no"] == hh
    req = services.record_now(w.clerk, "move_within", dt.date(2020, 6, 1),
                              [SubjectInput(a, {"address": ADDR2, "postal_code": "745-0074"}) for a in atena],
                              notified_date=dt.date(2020, 6, 2))
    assert req.status == "registered", req.findings
    set_parameter("issuer_name", "周南　太郎", dt.date(2020, 1, 1), "admin1")
    return {"head": atena[0], "child": atena[1], "wife": atena[2], "mother": atena[3]}
