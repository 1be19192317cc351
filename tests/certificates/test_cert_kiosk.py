"""コンビニ交付: card-signed tokens; forgery, expiry, replay and out-of-hours refused; fee from parameters."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from moyai.certificates import kiosk, signing
from moyai.certificates.domain import CertificateError
from moyai.certificates.kiosk_token import (
    TokenError,
    b64,
    make_token,
    parse_public_key,
    parse_token,
    public_key_text,
    verify_signature,
)
from moyai.certificates.models import IssuanceRecord, KioskCard
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import set_parameter
from tests.certificates.common import NOW, Keys, family, key_store, make_keys
from tests.fixtures import SHUNAN, World

__all__ = ["key_store"]

CARD = "card-0001"
CARD_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))  # a fixed test key
TS = int(NOW.timestamp())


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.fixture
def holder(world: World, key_store: Path) -> dict[str, str]:
    """The family, 周南市's kiosk parameters, and the head's card registered."""
    with tenant_scope(SHUNAN):
        fam = family(world)
        set_parameter("kiosk_fee", 200, dt.date(2026, 4, 1), "admin1")
        set_parameter("kiosk_hours", {"open": "06:30", "close": "23:00", "closed_dates": ["2026-05-03"]},
                      dt.date(2026, 4, 1), "admin1")
    kiosk.register_card(world.clerk, fam["head"], CARD, public_key_text(CARD_KEY))
    return fam


def token(nonce: str = "n" * 16, ts: int = TS, **kw: object) -> str:
    return make_token(CARD_KEY, tenant=SHUNAN, card=CARD, nonce=nonce, ts=ts, **kw)  # type: ignore[arg-type]


def refused(text: str, now: dt.datetime = NOW) -> CertificateError:
    with pytest.raises(CertificateError) as e:
        kiosk.issue_at_kiosk(text, now=now)
    return e.value


@pytest.mark.django_db
def test_cardholder_gets_their_certificate_with_the_kiosk_fee(world: World, keys: Keys,
                                                               holder: dict[str, str]) -> None:
    issued = kiosk.issue_at_kiosk(token(), now=NOW)
    assert issued.fee == 200 and issued.issue_number == "20260502 周南市 001"
    result = signing.verify_pdf(issued.pdf, [keys.ca])
    assert result.genuine and result.content is not None and len(result.content["members"]) == 1
    household = kiosk.issue_at_kiosk(token("h" * 16, scope="household", items=("head_relationship",)), now=NOW)
    assert len(household.certificate.members) == 4 and household.certificate.head_name == "𠮷田　太郎"
    with tenant_scope(SHUNAN):
        rows = list(IssuanceRecord.objects.order_by("sequence").values_list(
            "channel", "fee", "staff", "persons", "requester_kind", "purpose"))
        assert rows[0] == ("kiosk", 200, f"kiosk:{CARD}", [holder["head"]], "self", "")
        assert rows[1][:3] == ("kiosk", 200, f"kiosk:{CARD}") and rows[1][5] == "本人請求（コンビニ交付）"
        assert sorted(rows[1][3]) == sorted(holder.values())


@pytest.mark.django_db
def test_forgery_is_refused(world: World, holder: dict[str, str]) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    forged = make_token(other, tenant=SHUNAN, card=CARD, nonce="f" * 16, ts=TS)
    assert refused(forged).status == 401
    _body, sig = token().split(".")
    swapped = make_token(CARD_KEY, tenant=SHUNAN, card=CARD, nonce="n" * 16, ts=TS, scope="household").split(".")[0]
    e = refused(swapped + "." + sig)
    assert e.status == 401 and "署名" in e.message
    unregistered = make_token(CARD_KEY, tenant=SHUNAN, card="card-9999", nonce="u" * 16, ts=TS)
    assert "登録されていません" in refused(unregistered).message
    with pytest.raises(CertificateError) as e2:
        kiosk.issue_at_kiosk(token("t" * 16), now=NOW, expect_tenant="352071")
    assert "一致しません" in e2.value.message
    with tenant_scope(SHUNAN):
        assert not IssuanceRecord.objects.exists()
        assert AccessLog.objects.filter(operation="denied:kiosk.issue", outcome="denied").count() == 3


@pytest.mark.django_db
def test_expired_and_future_tokens_are_refused(holder: dict[str, str]) -> None:
    assert "有効時間" in refused(token(ts=TS - 301)).message
    assert "有効時間" in refused(token(ts=TS + 301)).message
    assert kiosk.issue_at_kiosk(token(ts=TS - 299), now=NOW).fee == 200


@pytest.mark.django_db
def test_replay_is_refused(holder: dict[str, str]) -> None:
    t = token("r" * 20)
    kiosk.issue_at_kiosk(t, now=NOW)
    e = refused(t, NOW + dt.timedelta(seconds=10))
    assert e.status == 409 and "既に使われています" in e.message
    with tenant_scope(SHUNAN):
        assert IssuanceRecord.objects.count() == 1


@pytest.mark.django_db
def test_outside_opening_hours_is_refused(holder: dict[str, str]) -> None:
    late = NOW.replace(hour=23, minute=30)
    e = refused(token(ts=int(late.timestamp())), late)
    assert e.status == 403 and e.message == "コンビニ交付の利用時間外です（利用時間 06:30〜23:00）"
    early = NOW.replace(hour=6, minute=29)
    assert "利用時間外" in refused(token(ts=int(early.timestamp())), early).message
    holiday = NOW + dt.timedelta(days=1)
    assert "休止" in refused(token(ts=int(holiday.timestamp())), holiday).message
    opening = NOW.replace(hour=6, minute=30)
    assert kiosk.issue_at_kiosk(token(ts=int(opening.timestamp())), now=opening).fee == 200


@pytest.mark.django_db
def test_items_and_kinds_a_kiosk_may_not_issue(holder: dict[str, str]) -> None:
    e = refused(token(items=("individual_number",)))
    assert e.status == 400 and e.field == "items"
    e = refused(token("k" * 16, kind="removed_copy"))
    assert e.status == 400 and e.field == "kind"


@pytest.mark.django_db
def test_fee_from_the_tenant_parameter_in_force(holder: dict[str, str]) -> None:
    with tenant_scope(SHUNAN):
        set_parameter("kiosk_fee", {"resident_copy": 150}, dt.date(2026, 5, 1), "admin1")
    assert kiosk.issue_at_kiosk(token(), now=NOW).fee == 150


@pytest.mark.django_db
def test_kiosk_and_card_registration_over_http(world: World, holder: dict[str, str]) -> None:
    with tenant_scope(SHUNAN):  # the request runs at the real time: open all day for this test
        set_parameter("kiosk_hours", {"open": "00:00", "close": "23:59:59"}, dt.date.today() - dt.timedelta(days=1),
                      "admin1")
    now = int(time.time())
    client = Client()
    r = client.post(f"/api/v1/kiosk/{SHUNAN}/certificates", json.dumps({"token": token("w" * 16, ts=now)}),
                    content_type="application/json")
    assert r.status_code == 201 and r["Content-Type"] == "application/pdf" and r["X-Moyai-Fee"] == "200"
    r = client.post(f"/api/v1/kiosk/{SHUNAN}/certificates", json.dumps({"token": token("w" * 16, ts=now)}),
                    content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "kiosk"
    with tenant_scope(SHUNAN):  # the refusal was answered, not raised: its audit entry is kept
        assert AccessLog.objects.filter(operation="denied:kiosk.issue").count() == 1
    staff = Client()
    staff.force_login(get_user_model().objects.get(username="clerk1"))
    new_key = ed25519.Ed25519PrivateKey.generate()
    r = staff.post(f"/api/v1/tenants/{SHUNAN}/kiosk-cards", json.dumps(
        {"atena_no": holder["wife"], "card_id": "card-0002", "public_key": public_key_text(new_key)}),
        content_type="application/json")
    assert r.status_code == 201, r.content
    with tenant_scope(SHUNAN):
        assert KioskCard.objects.get(card_id="card-0002").atena_no == holder["wife"]
    r = staff.post(f"/api/v1/tenants/{SHUNAN}/kiosk-cards", json.dumps(
        {"atena_no": holder["wife"], "card_id": "card-0003", "public_key": "not-a-key"}),
        content_type="application/json")
    assert r.status_code == 400 and r.json()["field"] == "public_key"


# --- the token parser (no database) ----------------------------------------------------------------


def test_a_valid_token_round_trips_and_verifies() -> None:
    t = parse_token(token(items=("honseki",)))
    assert (t.tenant, t.card, t.nonce, t.ts, t.request.items) == (SHUNAN, CARD, "n" * 16, TS, ("honseki",))
    verify_signature(t, parse_public_key(public_key_text(CARD_KEY)))
    with pytest.raises(TokenError):
        verify_signature(t, parse_public_key(public_key_text(ed25519.Ed25519PrivateKey.generate())))


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_parse_token_refuses_any_text_cleanly(text: str) -> None:
    try:
        parse_token(text)
    except TokenError as exc:
        assert exc.message


@given(st.binary(max_size=200), st.binary(min_size=64, max_size=64))
@settings(max_examples=300)
def test_parse_token_refuses_arbitrary_bodies_cleanly(body: bytes, sig: bytes) -> None:
    try:
        parse_token(b64(body) + "." + b64(sig))
    except TokenError:
        pass


@given(nonce=st.from_regex(r"[A-Za-z0-9_-]{16,64}", fullmatch=True), ts=st.integers(1, 2**40 - 1),
       scope=st.sampled_from(["self", "household"]),
       items=st.lists(st.sampled_from(["head_relationship", "honseki"]), max_size=2, unique=True),
       pos=st.integers(0, 10_000), flip=st.integers(1, 255))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@example(nonce="0" * 22, ts=1000, scope="self", items=["head_relationship"], pos=5269, flip=1)  # a base64 tail bit
def test_any_changed_character_is_refused(nonce: str, ts: int, scope: str, items: list[str], pos: int,
                                          flip: int) -> None:
    good = make_token(CARD_KEY, tenant=SHUNAN, card=CARD, nonce=nonce, ts=ts, scope=scope, items=tuple(items))
    t = parse_token(good)
    assert (t.nonce, t.ts, t.request.scope, list(t.request.items)) == (nonce, ts, scope, items)
    key = parse_public_key(public_key_text(CARD_KEY))
    verify_signature(t, key)
    i = pos % len(good)
    changed = good[:i] + chr((ord(good[i]) + flip) % 128 or 1) + good[i + 1:]
    if changed == good:
        return
    with pytest.raises(TokenError):
        verify_signature(parse_token(changed), key)
