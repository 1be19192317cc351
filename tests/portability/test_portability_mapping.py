"""History rows ⇄ 異動, PersonState ⇄ values, households and code lists (pure, no database)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portability_strategies import LAYOUT, RESIDENT, histories, item_values, jp_dates

from moyai.platform.codes.checkdigits import with_mod11
from moyai.platform.codes.wareki import JpDate
from moyai.portability.format.codecs import FieldError
from moyai.portability.format.csvio import read_values, write_values
from moyai.portability.format.mapping import HistoryError, histories_to_rows, rows_to_histories
from moyai.portability.format.persons import (
    HISTORY_ITEMS,
    INT_ITEMS,
    check_households,
    code_list_rows,
    households_to_rows,
    join_jp_date,
    person_to_values,
    split_jp_date,
    values_to_person,
)
from moyai.portability.format.problems import Problem, ProblemKind
from moyai.residents.demo.generator import generate
from moyai.residents.domain.model import MoveEvent, PersonState, history_rows, replay

TENANT = "352071"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def numbered(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return list(enumerate(rows, start=2))


def rebuild(rows: list[dict[str, Any]], **kw: Any) -> dict[str, list[MoveEvent]]:
    return rows_to_histories(numbered(rows), tenant_code=TENANT, **kw)


def all_events(histories: dict[str, list[MoveEvent]]) -> list[MoveEvent]:
    return [e for evs in histories.values() for e in evs]


# --- generated populations ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def population() -> list[MoveEvent]:
    return generate(TENANT, scale=0.004, seed=3).events


def test_generated_histories_round_trip_through_rows(population: list[MoveEvent]) -> None:
    rows = histories_to_rows(population, tenant_code=TENANT)
    rebuilt = rebuild(rows)
    assert histories_to_rows(all_events(rebuilt), tenant_code=TENANT) == rows
    # the rebuilt 異動 replay to the same records as the generated ones
    by_person: dict[str, list[MoveEvent]] = {}
    for e in population:
        by_person.setdefault(e.atena_no, []).append(e)
    for atena, evs in by_person.items():
        original, again = replay(evs), replay(rebuilt[atena])
        assert original is not None and again is not None
        assert person_to_values(original) == person_to_values(again)


def test_generated_histories_round_trip_through_csv_files(population: list[MoveEvent], tmp_path: Path) -> None:
    rows = histories_to_rows(population, tenant_code=TENANT)
    for encoding in ("utf-8", "cp932"):
        path = tmp_path / f"{encoding}.csv"
        write_values(path, RESIDENT, rows, encoding=encoding)
        problems: list[Problem] = []
        back = list(read_values(path, RESIDENT, problems))
        assert problems == []
        assert [v for _, v in back] == rows
        again = histories_to_rows(all_events(rows_to_histories(back, tenant_code=TENANT)), tenant_code=TENANT)
        path2 = tmp_path / f"{encoding}-again.csv"
        write_values(path2, RESIDENT, again, encoding=encoding)
        assert path2.read_bytes() == path.read_bytes()


def test_removed_records_and_foreign_residents_are_in_the_rows(population: list[MoveEvent]) -> None:
    rows = histories_to_rows(population, tenant_code=TENANT)
    statuses = {r["status"] for r in rows}
    assert "10" in statuses and statuses & {"21", "23"}
    removed = [r for r in rows if r["status"] != "10"]
    assert all(r["removal_kind"] and r["removed_on"] for r in removed)
    assert any(r["resident_kind"] == "2" for r in rows)


# --- hypothesis-built histories ------------------------------------------------------------------------


@SETTINGS
@given(histories())
def test_any_history_rows_rebuild_into_events_that_give_the_same_rows(events: list[MoveEvent]) -> None:
    rows = histories_to_rows(events, tenant_code=TENANT)
    rebuilt = rebuild(rows)
    assert histories_to_rows(all_events(rebuilt), tenant_code=TENANT) == rows
    # and the rebuilt history keeps 異動事由, 異動日, 処理日, the cancellations and the order
    key = [(r.reason_code, r.effective_date, r.processed_on, r.cancelled) for r in history_rows(events)]
    assert [
        (r.reason_code, r.effective_date, r.processed_on, r.cancelled) for r in history_rows(all_events(rebuilt))
    ] == key


@SETTINGS
@given(st.lists(histories(), min_size=1, max_size=3))
def test_several_people_keep_their_own_histories(people: list[list[MoveEvent]]) -> None:
    events: list[MoveEvent] = []
    for n, evs in enumerate(people, start=1):
        atena = with_mod11(f"{n:09d}")
        shift = 100 * n
        events += [
            dataclasses.replace(
                e, atena_no=atena, event_id=e.event_id + shift, cancels=None if e.cancels is None else e.cancels + shift
            )
            for e in evs
        ]
    rows = histories_to_rows(events, tenant_code=TENANT)
    rebuilt = rebuild(rows, event_ids=iter(range(1000, 10**6)))
    assert sorted(rebuilt) == sorted({e.atena_no for e in events})
    assert histories_to_rows(all_events(rebuilt), tenant_code=TENANT) == rows
    ids = [e.event_id for e in all_events(rebuilt)]
    assert len(ids) == len(set(ids)) and min(ids) >= 1000


# --- PersonState ⇄ values ------------------------------------------------------------------------------


PERSON_ITEMS = [it for it in RESIDENT.items if it.id not in HISTORY_ITEMS and it.part is None]
_REMOVAL_REASONS = ["201", "202", "203", "204", "205", "206", "208", "209", "309"]


@st.composite
def person_values(draw: st.DrawFn) -> dict[str, Any]:
    """Values of the person items that agree with each other (a valid row of the 住民 file)."""
    values: dict[str, Any] = {}
    for item in PERSON_ITEMS:
        if item.id in ("atena_no", "resident_kind", "kana_confirmed"):
            values[item.id] = draw(item_values(item))
        elif item.id in INT_ITEMS:  # held as int: canonical text has no leading zeros
            values[item.id] = draw(st.none() | st.integers(0, 999).map(str))
        elif item.id not in ("status", "removal_kind", "removed_on"):
            values[item.id] = draw(st.none() | item_values(item))
    if draw(st.booleans()):
        values.update(status="10", removal_kind=None, removed_on=None)
    else:
        reason = draw(st.sampled_from(_REMOVAL_REASONS))
        rules = LAYOUT.history
        status = rules.status_by_removal_reason.get(reason, rules.other_removal_status)
        values.update(status=status, removal_kind=reason, removed_on=draw(st.dates()))
    for item in RESIDENT.items:
        if item.part == "wareki":
            jd = draw(st.none() | jp_dates())
            raw = None if jd is None else jd.to_json()
            group = {it.part: it for it in RESIDENT.items if it.part_of == item.part_of}
            values[group["wareki"].id], values[group["seireki"].id], values[group["qualifier"].id] = split_jp_date(
                raw, group["qualifier"]
            )
    return values


@SETTINGS
@given(person_values())
def test_values_to_person_and_back_is_identity(values: dict[str, Any]) -> None:
    person = values_to_person(values)
    assert person is not None
    assert person_to_values(person, removal_reason=values["removal_kind"]) == values


def test_every_person_state_field_is_written() -> None:
    person_fields = {f.name for f in dataclasses.fields(PersonState)}
    values = person_to_values(PersonState(atena_no="0000000019"))
    covered = {it.part_of or it.id for it in RESIDENT.items if it.id in values}
    assert person_fields <= covered


@SETTINGS
@given(jp_dates())
def test_a_date_splits_into_wareki_seireki_and_qualifier_and_joins_back(jd: JpDate) -> None:
    qualifier = RESIDENT.item("birth_date_qualifier")
    wareki, seireki, code = split_jp_date(jd.to_json(), qualifier)
    assert (wareki is None) != (seireki is None)
    assert join_jp_date(wareki, seireki, code, qualifier) == jd.to_json()


def test_a_qualifier_that_does_not_fit_the_date_is_refused() -> None:
    q = RESIDENT.item("birth_date_qualifier")
    full = JpDate.of(year=1965, month=3, day=4, era="showa")
    with pytest.raises(FieldError) as e:
        join_jp_date(full, None, "2", q)  # 上旬 with a known day
    assert e.value.kind == ProblemKind.DATE
    with pytest.raises(FieldError):
        join_jp_date(full, JpDate.of(year=1965, month=3, day=4), None, q)
    with pytest.raises(FieldError):
        join_jp_date(None, None, "1", q)


def test_labels_of_code_items_are_written_as_codes() -> None:
    person = PersonState(
        atena_no="0000000019", foreign_category="特別永住者", residence_status="投資・経営", resident_kind="foreign"
    )
    values = person_to_values(person)
    assert (values["foreign_category"], values["residence_status"], values["resident_kind"]) == ("2", "08", "2")
    with pytest.raises(FieldError):
        person_to_values(dataclasses.replace(person, sex="男女"))


# --- rejects ------------------------------------------------------------------------------------------------


def simple_rows() -> list[dict[str, Any]]:
    start = dt.date(2020, 4, 1)
    events = [
        MoveEvent(1, "0000000019", "move_in", "101", start, start, dt.datetime(2020, 4, 1, 1, tzinfo=dt.UTC), "c",
                  {"family_name": "山田", "address": "周南市", "household_no": "0000000019", "relationship": "世帯主"}),
        MoveEvent(2, "0000000019", "move_within", "301", dt.date(2021, 4, 1), None,
                  dt.datetime(2021, 4, 1, 1, tzinfo=dt.UTC), "c", {"address": "下松市"}),
        MoveEvent(3, "0000000019", "move_out", "309", dt.date(2022, 4, 1), None,
                  dt.datetime(2022, 4, 2, 1, tzinfo=dt.UTC), "c", {"next_address": "光市"}),
    ]  # fmt: skip
    return histories_to_rows(events, tenant_code=TENANT)


def problems_of(rows: list[dict[str, Any]], **kw: Any) -> list[Problem]:
    found: list[Problem] = []
    out = rows_to_histories(numbered(rows), tenant_code=TENANT, problems=found, **kw)
    assert out == {}  # the person with a problem is left out
    return found


def test_simple_rows_rebuild() -> None:
    rows = simple_rows()
    assert [r["status"] for r in rows] == ["10", "10", "21"]
    assert rows[2]["removal_kind"] == "309" and rows[1]["previous_address"] == "周南市"
    events = rebuild(rows)["0000000019"]
    assert [e.kind for e in events] == ["move_in", "move_within", "move_out"]


def test_gap_in_history_numbers() -> None:
    rows = simple_rows()
    rows[2]["history_no"] = "4"
    (p,) = problems_of(rows)
    assert (p.kind, p.row, p.item) == (ProblemKind.SEQUENCE, 4, "履歴番号")


def test_duplicated_key() -> None:
    rows = simple_rows()
    rows[2]["history_no"] = "2"
    (p,) = problems_of(rows)
    assert (p.kind, p.row) == (ProblemKind.DUPLICATE_KEY, 4)


def test_file_for_another_tenant() -> None:
    rows = [r | {"tenant_code": "352152"} for r in simple_rows()]
    found = problems_of(rows)
    assert {p.kind for p in found} == {ProblemKind.TENANT} and len(found) == 3


def test_support_measure_flag_must_be_the_same_on_every_row_of_a_person() -> None:
    rows = simple_rows()
    rows[1]["support_measure"] = True
    (p,) = problems_of(rows)
    assert (p.kind, p.row, p.item, p.value) == (ProblemKind.INCONSISTENT, 3, "支援措置対象フラグ", "1")
    assert "同じ人の他の行と違います" in p.reason_ja
    rows = [r | {"support_measure": True} for r in simple_rows()]
    rows[0]["support_measure"] = False
    (p,) = problems_of(rows)
    assert (p.row, p.value) == (3, "1")  # the first row that differs from the first one


def test_support_measure_flag_on_every_row_rebuilds_and_exports_the_same_rows() -> None:
    rows = [r | {"support_measure": True} for r in simple_rows()]
    events = rebuild(rows)["0000000019"]
    assert [e.kind for e in events] == ["move_in", "move_within", "move_out"]
    again = histories_to_rows(events, tenant_code=TENANT, support_measure={"0000000019"})
    assert again == rows
    assert all(r["support_measure"] is None for r in histories_to_rows(events, tenant_code=TENANT))
    zeros = [r | {"support_measure": False} for r in simple_rows()]  # 0 on every row: not protected
    assert rebuild(zeros)["0000000019"] == rebuild(simple_rows())["0000000019"]


def test_status_must_agree_with_the_removal_reason() -> None:
    rows = simple_rows()
    rows[2]["status"] = "23"  # 死亡 for a 転出確定
    (p,) = problems_of(rows)
    assert (p.kind, p.item) == (ProblemKind.INCONSISTENT, "住民状態")


def test_a_row_that_no_event_can_produce_is_reported() -> None:
    rows = simple_rows()
    rows[2]["removed_on"] = dt.date(2022, 5, 1)  # 消除日 differs from the 異動日 of the removing row
    (p,) = problems_of(rows)
    assert (p.kind, p.row) == (ProblemKind.HISTORY, 4) and "消除日" in p.reason_ja


def test_processed_dates_must_not_go_backwards() -> None:
    rows = simple_rows()
    rows[1]["processed_on"] = dt.date(2019, 1, 1)
    assert ProblemKind.SEQUENCE in {p.kind for p in problems_of(rows)}


def test_cancelled_flag_must_match_the_cancellation_rows() -> None:
    rows = simple_rows()
    rows[1]["cancelled"] = True
    (p,) = problems_of(rows)
    assert (p.kind, p.item) == (ProblemKind.INCONSISTENT, "取消済フラグ")


def test_without_a_problem_list_an_error_lists_every_problem() -> None:
    rows = simple_rows()
    rows[0]["tenant_code"] = "352152"
    with pytest.raises(HistoryError) as e:
        rebuild(rows)
    assert [p.kind for p in e.value.problems] == [ProblemKind.TENANT]


# --- households and code lists ------------------------------------------------------------------------------


def test_households_agree_with_the_records(population: list[MoveEvent]) -> None:
    by_person: dict[str, list[MoveEvent]] = {}
    for e in population:
        by_person.setdefault(e.atena_no, []).append(e)
    persons = {a: s for a, evs in by_person.items() if (s := replay(evs)) is not None}
    rows = households_to_rows(persons.values(), tenant_code=TENANT)
    assert rows and check_households(numbered(rows), persons) == []
    bad = [dict(r) for r in rows]
    bad[0]["member_count"] = str(int(bad[0]["member_count"]) + 1)
    bad.append(dict(rows[0]))
    bad[1]["head_atena_no"] = "0000000019" if bad[1]["head_atena_no"] != "0000000019" else None
    del bad[2]
    kinds = {p.kind for p in check_households(numbered(bad), persons)}
    assert kinds == {ProblemKind.INCONSISTENT, ProblemKind.DUPLICATE_KEY, ProblemKind.REFERENCE}


def test_two_heads_in_one_household() -> None:
    a = PersonState(atena_no="0000000019", household_no="0000000019", relationship="世帯主", order_in_household=1)
    b = PersonState(atena_no="0000000027", household_no="0000000019", relationship="世帯主", order_in_household=2)
    with pytest.raises(FieldError):
        households_to_rows([a, b], tenant_code=TENANT)
    row = {"household_no": "0000000019", "head_atena_no": "0000000019", "member_count": "2",
           "postal_code": None, "address": None, "katagaki": None, "address_code": None}  # fmt: skip
    (p,) = check_households([(2, row)], {a.atena_no: a, b.atena_no: b})
    assert p.kind == ProblemKind.INCONSISTENT and "世帯主が2人以上" in p.reason_ja


def test_code_list_rows_cover_every_code_list() -> None:
    rows = code_list_rows()
    assert {r["code_list"] for r in rows} == {cl.id for cl in LAYOUT.code_lists}
    assert {"code_list": "eras", "code_list_name": "年号", "code": "05", "label": "令和"} in rows
    keys = [(r["code_list"], r["code"]) for r in rows]
    assert len(keys) == len(set(keys))


def test_item_values_strategy_covers_every_type() -> None:
    for item in RESIDENT.items:
        assert item_values(item) is not None
