"""Legal-basis authorisation (deny by default) and the gateway's data files (pure, no database)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from moyai.gateway.domain.legal_basis import DenialCode, authorise, legal_basis_table, table_from_data
from moyai.gateway.domain.organisations import PACKAGE, directory
from moyai.platform.codes import datafiles
from moyai.platform.codes.checkdigits import is_valid_local_government_code
from moyai.platform.codes.datafiles import DataFileError

ON = dt.date(2026, 4, 1)


def test_every_gateway_data_file_loads_with_a_header() -> None:
    assert datafiles.all_data_files(PACKAGE) == ["information_items", "legal_basis", "organisations", "record_layouts"]
    for name in datafiles.all_data_files(PACKAGE):
        data = datafiles.load(PACKAGE, name)
        assert data.kind == name and data.source and data.entries


def test_directory_is_consistent() -> None:
    d = directory()
    assert {"municipality", "prefecture", "pension_body", "health_insurance_union"} <= set(d.kinds)
    for org in d.organisations.values():
        assert org.kind in d.kinds and org.data_centre in ("a", "b")
        if org.tenant_code is not None:
            assert org.kind == "municipality" and is_valid_local_government_code(org.tenant_code)
    assert {o.data_centre for o in d.organisations.values()} == {"a", "b"}
    resident = d.groups["resident_record"]
    assert resident.name_ja == "住民票関係情報" and resident.module == "residents"
    assert [i.name_ja for i in resident.items] == ["氏名", "住所", "生年月日", "性別", "世帯構成", "異動履歴"]


def test_allowed_request_names_its_basis_row() -> None:
    decision = authorise("health_insurance_union", "HI-01", "municipality",
                         ["resident_record.address", "local_tax.taxable_income"], ON)
    assert decision.allowed and bool(decision)
    assert decision.basis_id == "LB-0001" and decision.code == "allowed"
    assert "LB-0001" in decision.reason_ja


def test_a_group_stands_for_all_its_items() -> None:
    assert authorise("health_insurance_union", "HI-01", "municipality", ["resident_record"], ON).allowed
    # …but a group is allowed only if every item of it is: HI-01 allows one 地方税 item only
    denied = authorise("health_insurance_union", "HI-01", "municipality", ["local_tax"], ON)
    assert not denied and denied.code == DenialCode.ITEM_NOT_ALLOWED


@pytest.mark.parametrize("affair", [None, ""])
def test_a_request_must_name_its_affair(affair: str | None) -> None:
    decision = authorise("health_insurance_union", affair, "municipality", ["resident_record.name"], ON)
    assert not decision.allowed and decision.code == DenialCode.NO_AFFAIR and decision.basis_id is None
    assert "事務" in decision.reason_ja


def test_wrong_affair_for_the_requester_is_denied() -> None:
    # CA-01 (児童手当) is a municipality's 事務, not a health-insurance union's
    decision = authorise("health_insurance_union", "CA-01", "municipality", ["resident_record.name"], ON)
    assert not decision.allowed and decision.code == DenialCode.NO_BASIS
    assert "健康保険組合が市町村に" in decision.reason_ja


def test_unknown_affair_is_denied() -> None:
    decision = authorise("health_insurance_union", "XX-99", "municipality", ["resident_record.name"], ON)
    assert not decision.allowed and decision.code == DenialCode.UNKNOWN_AFFAIR


def test_item_not_allowed_is_denied_and_named() -> None:
    decision = authorise("health_insurance_union", "HI-01", "municipality",
                         ["resident_record.name", "local_tax.tax_amount"], ON)
    assert not decision.allowed and decision.code == DenialCode.ITEM_NOT_ALLOWED
    assert decision.basis_id == "LB-0001"
    assert "地方税関係情報（税額）" in decision.reason_ja and "氏名" not in decision.reason_ja


def test_provider_kind_must_match_the_row() -> None:
    # the same 事務 and items, asked of a pension body instead of a municipality
    decision = authorise("health_insurance_union", "HI-01", "pension_body", ["resident_record.name"], ON)
    assert not decision.allowed and decision.code == DenialCode.NO_BASIS


def test_expired_basis_is_denied() -> None:
    during = authorise("municipality", "TB-01", "municipality", ["resident_record.name"], dt.date(2020, 6, 1))
    assert during.allowed and during.basis_id == "LB-0009"
    last_day = authorise("municipality", "TB-01", "municipality", ["resident_record.name"], dt.date(2021, 3, 31))
    assert last_day.allowed
    after = authorise("municipality", "TB-01", "municipality", ["resident_record.name"], dt.date(2021, 4, 1))
    assert not after.allowed and after.code == DenialCode.NOT_IN_FORCE and after.basis_id == "LB-0009"
    assert "2021-04-01" in after.reason_ja
    before = authorise("municipality", "TB-01", "municipality", ["resident_record.name"], dt.date(2020, 5, 31))
    assert not before.allowed and before.code == DenialCode.NOT_IN_FORCE


def test_versions_by_effective_date() -> None:
    items = ["resident_record.household"]
    old = authorise("municipality", "CA-01", "municipality", items, dt.date(2024, 5, 26))
    assert not old.allowed and old.code == DenialCode.ITEM_NOT_ALLOWED and old.basis_id == "LB-0003"
    new = authorise("municipality", "CA-01", "municipality", items, dt.date(2024, 5, 27))
    assert new.allowed and new.basis_id == "LB-0004"
    both = authorise("municipality", "CA-01", "municipality", ["resident_record.name"], dt.date(2024, 5, 26))
    assert both.allowed and both.basis_id == "LB-0003"


@pytest.mark.parametrize("requester", ["bank", "", "Municipality"])
def test_unknown_requester_kind_is_denied(requester: str) -> None:
    decision = authorise(requester, "HI-01", "municipality", ["resident_record.name"], ON)
    assert not decision.allowed and decision.code == DenialCode.UNKNOWN_REQUESTER_KIND


def test_unknown_provider_kind_is_denied() -> None:
    decision = authorise("health_insurance_union", "HI-01", "bank", ["resident_record.name"], ON)
    assert not decision.allowed and decision.code == DenialCode.UNKNOWN_PROVIDER_KIND


def test_unknown_or_missing_items_are_denied() -> None:
    unknown = authorise("health_insurance_union", "HI-01", "municipality", ["resident_record.blood_type"], ON)
    assert not unknown.allowed and unknown.code == DenialCode.UNKNOWN_ITEM
    assert "resident_record.blood_type" in unknown.reason_ja
    empty = authorise("health_insurance_union", "HI-01", "municipality", [], ON)
    assert not empty.allowed and empty.code == DenialCode.NO_ITEMS


def test_secrecy_period_is_carried_by_the_decision() -> None:
    secret = authorise("prefecture", "PA-02", "municipality", ["resident_record.name"], ON)
    assert secret.allowed and secret.secrecy_days == 180
    assert authorise("prefecture", "PA-01", "municipality", ["resident_record.name"], ON).secrecy_days is None


def test_every_shipped_row_allows_exactly_its_items_while_in_force() -> None:
    table = legal_basis_table()
    for row in table.rows:
        triple = (row.requester_kind, row.affair.code, row.provider_kind)
        assert table.authorise(*triple, sorted(row.items), row.effective_from).basis_id == row.id
        if row.effective_to is not None:
            after = table.authorise(*triple, sorted(row.items), row.effective_to + dt.timedelta(days=1))
            assert not (after.allowed and after.basis_id == row.id)


# --- the loader refuses inconsistent tables ----------------------------------------------------------

ROW: dict[str, Any] = {
    "id": "T-1", "requester_kind": "municipality", "affair": {"code": "T-01", "name_ja": "試験の事務"},
    "provider_kind": "municipality", "items": ["resident_record.name"], "effective_from": dt.date(2020, 1, 1),
    "effective_to": None,
}


def _with(**changes: Any) -> list[dict[str, Any]]:
    row = copy.deepcopy(ROW)
    row.update(changes)
    return [row]


def test_loader_accepts_a_good_row() -> None:
    table = table_from_data(_with(), directory())
    assert table.authorise("municipality", "T-01", "municipality", ["resident_record.name"], ON).allowed


@pytest.mark.parametrize(("rows", "message"), [
    (_with(requester_kind="bank"), "requester_kind"),
    (_with(items=["resident_record.blood_type"]), "information_items"),
    (_with(provider_kind="pension_body"), "保有しません"),
    (_with(effective_to=dt.date(2019, 1, 1)), "effective_to"),
    (_with(effective_from="2020-13-01"), "日付ではありません"),
    (_with(secrecy_days=0), "secrecy_days"),
    (_with(affair={"code": "t01", "name_ja": "x"}), "事務コード"),
    (_with(affair="T-01"), "affair"),
    (_with() + _with(), "重複"),
    (_with() + _with(id="T-2", affair={"code": "T-01", "name_ja": "別名"}), "名称"),
    (_with() + _with(id="T-2", effective_from=dt.date(2021, 1, 1)), "重なって"),
])
def test_loader_refuses_inconsistent_rows(rows: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(DataFileError, match=message):
        table_from_data(rows, directory())


def test_loader_accepts_successive_versions() -> None:
    rows = _with(effective_to=dt.date(2020, 12, 31)) + _with(id="T-2", effective_from=dt.date(2021, 1, 1),
                                                             items=["resident_record"])
    table = table_from_data(rows, directory())
    assert table.authorise("municipality", "T-01", "municipality", ["resident_record.sex"], dt.date(2021, 1, 1)).basis_id == "T-2"
    assert not table.authorise("municipality", "T-01", "municipality", ["resident_record.sex"], dt.date(2020, 12, 31)).allowed
