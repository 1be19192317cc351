"""情報提供等記録: a resident sees who obtained what and when, except what is still secret."""

from __future__ import annotations

import datetime as dt

import pytest

from moyai.gateway.disclosure import disclosure_records
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services
from moyai.residents.services import SubjectInput
from tests.fixtures import KUDAMATSU, SHUNAN
from tests.gateway.exchange_kit import Kit

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 5, 1)  # the kit's clock: 2026-05-01 01:00 UTC = 10:00 JST


def _other_resident(kit: Kit) -> str:
    from moyai.residents.models import Resident

    with tenant_scope(SHUNAN):
        req = services.record_now(kit.world.clerk, "birth", dt.date(2026, 1, 5), [SubjectInput(None, {
            "family_name": "周南", "given_name": "一", "family_kana": "シュウナン", "given_kana": "ハジメ", "sex": "1",
            "relationship": "世帯主", "address": "山口県周南市岐山通1丁目1番地", "household_no": "new"})])
        return Resident.objects.get(atena_no=req.moves[0]["atena_no"]).resident_code


def test_the_resident_sees_provisions_about_them_newest_first_without_the_secret_ones(kit: Kit) -> None:
    kit.send(kit.signed(kit.request(items=("resident_record.address",))))  # seq 0: provided
    kit.send(kit.signed(kit.request(items=("public_assistance",))))  # seq 1: refused
    kit.send(kit.signed(kit.request(requester="350001", affair="PA-02",
                                    items=("resident_record.name",))))  # seq 2: provided, secret 180 days
    kit.send(kit.signed(kit.request(requester="pension-01", affair="NP-01",
                                    items=("resident_record.name", "resident_record.birth_date"))))  # seq 3
    other = _other_resident(kit)
    kit.send(kit.signed(kit.request(subject=kit.codes.code_for("kenpo-midori", other))))  # seq 4: someone else

    records = disclosure_records(SHUNAN, kit.atena_no, today=TODAY)
    assert [(r.seq, r.requester, r.affair, r.items) for r in records] == [
        (3, "pension-01", "NP-01", ("resident_record.birth_date", "resident_record.name")),
        (0, "kenpo-midori", "HI-01", ("resident_record.address",)),
    ]
    first = records[1]
    assert (first.requester_name_ja, first.provider, first.provider_name_ja, first.basis_id) == (
        "みどり健康保険組合（架空）", SHUNAN, "周南市", "LB-0001")
    assert first.affair_name_ja == "健康保険法による保険給付の支給に関する事務"
    assert first.items_ja == "住民票関係情報（住所）"
    assert first.time.tzinfo is not None

    # The secret provision appears on the day its secrecy period ends, not the day before.
    assert 2 not in [r.seq for r in disclosure_records(SHUNAN, kit.atena_no, today=TODAY + dt.timedelta(days=179))]
    assert [r.seq for r in disclosure_records(SHUNAN, kit.atena_no, today=TODAY + dt.timedelta(days=180))] == [3, 2, 0]


def test_another_tenant_cannot_list_the_resident_by_its_atena_no(kit: Kit) -> None:
    kit.send(kit.signed(kit.request()))
    assert len(disclosure_records(SHUNAN, kit.atena_no, today=TODAY)) == 1
    assert disclosure_records(KUDAMATSU, kit.atena_no, today=TODAY) == []


def test_a_person_no_one_asked_about_has_an_empty_record(kit: Kit) -> None:
    assert disclosure_records(SHUNAN, kit.atena_no, today=TODAY) == []
    assert disclosure_records(SHUNAN, "999999999999", today=TODAY) == []
