"""The exchange service through the REST/JSON adapter: every outcome answered and logged, or not answered."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json

import pytest
from django.db import DatabaseError

from moyai.gateway.domain import jws
from moyai.gateway.domain.keystore import MemoryKeyStore
from moyai.gateway.domain.log import LogEntry
from moyai.gateway.domain.signing import Ed25519Signer
from moyai.gateway.models import GatewayLogEntry
from moyai.gateway.rest import response_from_jws
from moyai.gateway.store import verify_log_command
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from tests.fixtures import SHUNAN
from tests.gateway.exchange_kit import INDIVIDUAL_NUMBER, LOG, Kit

pytestmark = pytest.mark.django_db


def _entries() -> list[LogEntry]:
    return [LogEntry.from_canonical(t.encode()) for t in
            GatewayLogEntry.objects.order_by("seq").values_list("canonical", flat=True)]


def _gateway_reads() -> int:
    with tenant_scope(SHUNAN):
        return AccessLog.objects.filter(actor_kind="gateway").count()


def test_an_allowed_request_is_answered_with_the_items_and_logged_under_the_providers_code(kit: Kit) -> None:
    request = kit.request()
    body = kit.signed(request)
    reply = kit.send(body)
    assert reply.http_status == 200
    response = response_from_jws(reply.body, kit.gateway_keys)
    assert (response.status, response.code, response.in_reply_to) == ("provided", "provided", request.message_id)
    assert response.items == {
        "resident_record.address": {"address": "山口県周南市岐山通一丁目1番地", "katagaki": None, "postal_code": "7450045"},
        "resident_record.name": {"family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ",
                                 "given_kana": "イチロウ", "alias": None, "name_alpha": None},
    }
    assert response.subject == request.subject  # the requester's own code, echoed
    [entry] = _entries()
    provider_code = kit.codes.code_for(SHUNAN, kit.resident_code)
    assert (entry.seq, entry.outcome, entry.requester, entry.provider, entry.affair, entry.basis_id) == (
        0, "provided", "kenpo-midori", SHUNAN, "HI-01", "LB-0001")
    assert entry.items == ("resident_record.address", "resident_record.name")
    assert entry.subject == provider_code != request.subject
    assert entry.request_digest == hashlib.sha256(body).hexdigest()
    assert entry.response_digest == hashlib.sha256(reply.body).hexdigest()
    assert reply.log_seq == 0
    text = GatewayLogEntry.objects.get(seq=0).canonical
    for secret in (kit.atena_no, INDIVIDUAL_NUMBER, kit.resident_code, "山田"):
        assert secret not in text
    assert _gateway_reads() == 1
    assert verify_log_command(LOG, kit.verifier())[0] is True


def test_a_group_is_expanded_and_items_the_registry_does_not_hold_are_named(kit: Kit) -> None:
    reply = kit.send(kit.signed(kit.request(items=("resident_record", "local_tax.taxable_income"))))
    response = response_from_jws(reply.body, kit.gateway_keys)
    assert response.status == "provided"
    assert set(response.items) == {"resident_record.name", "resident_record.address", "resident_record.birth_date",
                                   "resident_record.sex", "resident_record.household", "resident_record.move_history"}
    assert response.not_held == ("local_tax.taxable_income",)
    assert response.items["resident_record.sex"] == "1"
    assert [m["given_name"] for m in response.items["resident_record.household"]["members"]] == ["一郎"]
    assert [h["kind"] for h in response.items["resident_record.move_history"]] == ["move_in"]


@pytest.mark.parametrize(("requester", "affair", "items", "code", "basis_id"), [
    ("kenpo-midori", "HI-01", ("public_assistance",), "item_not_allowed", "LB-0001"),
    ("pension-01", "HI-01", ("resident_record.name",), "no_basis", None),
    ("350001", "CA-01", ("resident_record.name",), "no_basis", None),
    ("kenpo-midori", "XX-99", ("resident_record.name",), "unknown_affair", None),
])
def test_an_unauthorised_triple_is_refused_and_logged_and_nothing_is_read(
        kit: Kit, requester: str, affair: str, items: tuple[str, ...], code: str, basis_id: str | None) -> None:
    reply = kit.send(kit.signed(kit.request(requester=requester, affair=affair, items=items)))
    response = response_from_jws(reply.body, kit.gateway_keys)
    assert (reply.http_status, response.status, response.code) == (403, "refused", code)
    assert response.items == {}
    [entry] = _entries()
    assert (entry.outcome, entry.requester, entry.affair, entry.items, entry.basis_id, entry.subject) == (
        "refused", requester, affair, items, basis_id, None)
    assert entry.response_digest == hashlib.sha256(reply.body).hexdigest()
    assert _gateway_reads() == 0


def test_a_forged_signature_is_refused_and_logged(kit: Kit) -> None:
    request = kit.request()
    impostor = MemoryKeyStore()
    impostor.rotate()
    forged = jws.sign(request.to_bytes(), Ed25519Signer(impostor.current()), "kenpo-midori")
    reply = kit.send(forged)
    response = response_from_jws(reply.body, kit.gateway_keys)
    assert (reply.http_status, response.status, response.code) == (401, "refused", "forged")
    assert "署名が正しくありません" in response.reason_ja or "登録されていません" in response.reason_ja
    [entry] = _entries()
    assert (entry.outcome, entry.requester, entry.message_id, entry.basis_id) == (
        "refused", "kenpo-midori", request.message_id, None)
    assert _gateway_reads() == 0


def test_a_payload_altered_after_signing_is_refused(kit: Kit) -> None:
    body = kit.signed(kit.request(items=("resident_record.name",)))
    header, payload, sig = body.split(b".")
    data = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    data["items"] = ["resident_record"]
    altered = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":"), sort_keys=True,
                                                  ensure_ascii=False).encode()).rstrip(b"=")
    reply = kit.send(b".".join([header, altered, sig]))
    assert (reply.http_status, reply.response.code) == (401, "forged")
    assert "偽造または改変" in reply.response.reason_ja
    assert [e.outcome for e in _entries()] == ["refused"]


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_other_algorithms_are_refused(kit: Kit, alg: str) -> None:
    body = kit.signed(kit.request())
    _, payload, sig = body.split(b".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": alg, "kid": "kenpo-midori/k0001"}).encode()).rstrip(b"=")
    reply = kit.send(b".".join([header, payload, b"" if alg == "none" else sig]))
    assert (reply.http_status, reply.response.code) == (401, "forged")
    assert f"署名方式 '{alg}' は受け付けません" in reply.response.reason_ja
    assert len(_entries()) == 1


def test_garbage_is_refused_and_logged_as_unknown(kit: Kit) -> None:
    reply = kit.send(b"not a jws at all")
    assert (reply.http_status, reply.response.code) == (401, "forged")
    [entry] = _entries()
    assert (entry.requester, entry.provider, entry.outcome) == ("unknown", "unknown", "refused")


def test_a_message_signed_by_another_organisation_than_its_requester_is_refused(kit: Kit) -> None:
    request = kit.request(requester="kenpo-midori")
    reply = kit.send(kit.signed(request, signer_org="pension-01"))
    assert (reply.http_status, reply.response.code) == (401, "requester_mismatch")
    assert "なりすまし" in reply.response.reason_ja
    assert [(e.outcome, e.requester) for e in _entries()] == [("refused", "kenpo-midori")]


@pytest.mark.parametrize("offset", [dt.timedelta(minutes=-6), dt.timedelta(minutes=6)])
def test_an_expired_or_future_message_is_refused_and_logged(kit: Kit, offset: dt.timedelta) -> None:
    reply = kit.send(kit.signed(kit.request(timestamp=kit.clock.now + offset)))
    assert (reply.http_status, reply.response.code) == (401, "expired")
    assert "期限切れ" in reply.response.reason_ja
    assert [e.outcome for e in _entries()] == ["refused"]
    assert _gateway_reads() == 0


def test_a_message_just_inside_the_window_is_accepted(kit: Kit) -> None:
    reply = kit.send(kit.signed(kit.request(timestamp=kit.clock.now - dt.timedelta(minutes=4, seconds=59))))
    assert reply.response.status == "provided"


def test_a_replayed_message_is_refused_and_logged(kit: Kit) -> None:
    body = kit.signed(kit.request())
    first, second = kit.send(body), kit.send(body)
    assert (first.http_status, first.response.status) == (200, "provided")
    assert (second.http_status, second.response.code) == (409, "replayed")
    assert "再送攻撃" in second.response.reason_ja
    assert [e.outcome for e in _entries()] == ["provided", "refused"]
    assert _gateway_reads() == 1


def test_the_same_nonce_from_another_requester_is_not_a_replay(kit: Kit) -> None:
    a = kit.request()
    b = dataclasses.replace(kit.request(requester="pension-01", affair="NP-01"), nonce=a.nonce)
    assert kit.send(kit.signed(a)).response.status == "provided"
    assert kit.send(kit.signed(b)).response.status == "provided"


def test_a_code_not_issued_to_the_requester_is_not_found(kit: Kit) -> None:
    other = kit.codes.code_for("pension-01", kit.resident_code)  # a real code, but of another organisation
    reply = kit.send(kit.signed(kit.request(subject=other)))
    assert (reply.http_status, reply.response.status, reply.response.code) == (200, "not_found", "unknown_code")
    assert reply.response.items == {}
    [entry] = _entries()
    assert (entry.outcome, entry.subject, entry.basis_id) == ("not_found", None, "LB-0001")
    assert _gateway_reads() == 0


def test_a_provider_of_the_other_data_centre_is_refused_for_now(kit: Kit) -> None:
    reply = kit.send(kit.signed(kit.request(provider="352128")))  # 柳井市, data centre b
    assert (reply.http_status, reply.response.code) == (403, "provider_not_hosted")
    assert [e.outcome for e in _entries()] == ["refused"]


def test_when_the_log_cannot_be_written_nothing_is_released(kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise DatabaseError("could not extend file")

    monkeypatch.setattr(GatewayLogEntry, "save", fail)
    reply = kit.send(kit.signed(kit.request()))
    monkeypatch.undo()
    response = response_from_jws(reply.body, kit.gateway_keys)
    assert (reply.http_status, response.status, response.code, response.retryable) == (
        503, "unavailable", "log_unavailable", True)
    assert response.items == {} and reply.log_seq is None
    assert "再送してください" in response.reason_ja
    assert GatewayLogEntry.objects.count() == 0
    # A retry (a new message) is answered and takes seq 0.
    retry = kit.send(kit.signed(kit.request()))
    assert (retry.response.status, retry.log_seq) == ("provided", 0)


def test_two_organisations_codes_for_one_person_differ_and_reveal_nothing(kit: Kit) -> None:
    a = kit.codes.code_for("kenpo-midori", kit.resident_code)
    b = kit.codes.code_for("pension-01", kit.resident_code)
    assert a != b
    for code in (a, b):
        for secret in (kit.atena_no, INDIVIDUAL_NUMBER, kit.resident_code):
            assert secret not in code
    assert kit.codes.resolve("kenpo-midori", a) == kit.resident_code
    assert kit.codes.resolve("pension-01", a) is None
    assert kit.codes.code_for("kenpo-midori", kit.resident_code) == a  # issued once


def test_a_series_of_exchanges_verifies_and_a_tampered_one_is_named(kit: Kit) -> None:
    from django.db import connection

    for _ in range(5):
        kit.send(kit.signed(kit.request()))
    kit.send(kit.signed(kit.request(items=("public_assistance",))))
    assert verify_log_command(LOG, kit.verifier()) == (
        True, "情報連携ログ dc-a: ログは改ざんされていません: 6 件、チェックポイント 1 件（うち最後の 2 件は次のチェックポイント待ち）")
    if connection.vendor == "sqlite":  # the PostgreSQL variant of tampering is in test_gateway_store
        with connection.cursor() as cur:
            cur.execute('DROP TRIGGER "gateway_logentry_no_update"')
            row = GatewayLogEntry.objects.get(seq=5)
            cur.execute("UPDATE gateway_logentry SET canonical = %s WHERE seq = 5",
                        [row.canonical.replace('"refused"', '"provided"')])
        ok, message = verify_log_command(LOG, kit.verifier())
        assert not ok and "seq 5（edited）" in message
