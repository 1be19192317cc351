"""The stored lines of the 住民 file (moyai.portability.lines): equal to what the export's own code
(person_rows + the encoder, written by write_fileset) gives for the 異動 in the store after every
write path; missing or stale ones found and recomputed; 支援措置対象フラグ decided at export.

Both backends.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from fileset_support import bulk_load, file_bytes

from moyai.platform.tenancy.scope import tenant_scope
from moyai.portability import exporter, lines
from moyai.portability.exporter import export_tenant, iter_histories
from moyai.portability.fileset import FilesetError, write_fileset
from moyai.portability.format.problems import ProblemKind
from moyai.portability.importer import import_fileset
from moyai.portability.models import PersonLines
from moyai.portability.synthetic import write_synthetic_tenant
from moyai.residents import services, suppression
from moyai.residents.demo.generator import TenantPopulation, generate
from moyai.residents.domain.model import MoveEvent
from moyai.residents.models import Event, Resident
from moyai.residents.services import SubjectInput
from moyai.residents.signals import recorded
from tests.fixtures import KUDAMATSU, SHUNAN, World

pytestmark = pytest.mark.django_db
PURPOSE = "保存した行の試験"
TODAY = dt.date(2026, 11, 2)
ADDR = "山口県周南市糀町二丁目5番地"


@pytest.fixture(scope="module")
def population() -> TenantPopulation:
    return generate(SHUNAN, scale=0.003, seed=11)


def stored(code: str) -> dict[str, tuple[str, int, int, int]]:
    with tenant_scope(code):
        return {
            a: (text, rows, n, last)
            for a, text, rows, n, last in PersonLines.objects.order_by("atena_no").values_list(
                "atena_no", "lines", "rows", "event_count", "last_event_id"
            )
        }


def assert_lines_are_the_exports(code: str, directory: Path) -> None:
    """The stored lines, person by person, are the rows the old export path writes from the 異動 now in
    the store (person_rows + write_values, no 支援措置 flag), and each says what it was computed from."""
    with tenant_scope(code):
        histories = dict(iter_histories())
        write_fileset(directory, code, histories)
        assert lines.stale_persons().stale == []
    reference = (directory / "JYUKI_KOJIN.csv").read_bytes().decode("utf-8")
    _, _, body = reference.partition("\r\n")
    got = stored(code)
    assert sorted(got) == sorted(histories)
    assert "".join(text for text, _, _, _ in got.values()) == body
    for atena, evs in histories.items():
        text, rows, n, last = got[atena]
        assert (rows, n, last) == (len(evs), len(evs), max(e.event_id for e in evs))
        assert text.count("\r\n") == len(evs)


def test_the_demo_bulk_load_stores_none_and_the_first_export_computes_and_stores_them(
    world: World, population: TenantPopulation, tmp_path: Path
) -> None:
    bulk_load(SHUNAN, population)
    persons = {e.atena_no for e in population.events}
    with tenant_scope(SHUNAN):
        found = lines.stale_persons()
    assert (sorted(found.stale), found.orphans, found.stored, found.persons) == (sorted(persons), [], 0, len(persons))
    result = export_tenant(SHUNAN, tmp_path / "out", actor=world.admin, purpose=PURPOSE)
    assert result.summary.history_rows == len(population.events)
    assert_lines_are_the_exports(SHUNAN, tmp_path / "ref")
    assert file_bytes(tmp_path / "out") == file_bytes(tmp_path / "ref")


def test_a_registration_through_the_services_keeps_the_person_s_lines(world: World, tmp_path: Path) -> None:
    w = world
    with tenant_scope(SHUNAN):
        req = services.record_now(
            w.clerk,
            "move_in",
            dt.date(2000, 4, 1),
            [
                SubjectInput(
                    None,
                    {
                        "family_name": "山田",
                        "given_name": "一郎",
                        "family_kana": "ヤマダ",
                        "given_kana": "イチロウ",
                        "birth_date": "昭和45年5月5日",
                        "sex": "1",
                        "relationship": "世帯主",
                        "address": "山口県周南市岐山通一丁目1番地",
                        "postal_code": "745-0045",
                        "household_no": "new",
                        "previous_address": "広島県広島市中区基町1番",
                    },
                )
            ],
            notified_date=dt.date(2000, 4, 3),
        )
        assert req.status == "registered", req.findings
        person = req.moves[0]["atena_no"]
    assert_lines_are_the_exports(SHUNAN, tmp_path / "1")
    first = stored(SHUNAN)[person]
    with tenant_scope(SHUNAN):
        # 転居
        services.record_now(
            w.clerk, "move_within", dt.date(2020, 1, 10), [SubjectInput(person, {"address": ADDR})],
            notified_date=dt.date(2020, 1, 10),
        )  # fmt: skip
    assert_lines_are_the_exports(SHUNAN, tmp_path / "2")
    moved = stored(SHUNAN)[person]
    assert moved[1:3] == (2, 2) and moved[0].startswith(first[0]) and ADDR in moved[0]
    with tenant_scope(SHUNAN):
        # a back-dated 職権修正 (before the 転居), approved
        req = services.record_now(
            w.clerk, "ex_officio_correction", dt.date(2010, 6, 1), [SubjectInput(person, {"given_name": "壱郎"})]
        )
        services.approve(w.approver, req.id)
    assert_lines_are_the_exports(SHUNAN, tmp_path / "3")
    with tenant_scope(SHUNAN):
        # 取消し of the 転居, approved
        move = next(e for e in services.events_of([person])[person] if e.kind == "move_within")
        req = services.record_now(
            w.clerk, "cancellation", move.effective_date, [SubjectInput(person, {})], cancels=move.event_id
        )
        services.approve(w.approver, req.id)
    assert_lines_are_the_exports(SHUNAN, tmp_path / "4")
    text, rows, n, _ = stored(SHUNAN)[person]
    assert (rows, n) == (4, 4) and "壱郎" in text
    # the export reads them as they are: nothing recomputed
    result = export_tenant(SHUNAN, tmp_path / "out", actor=world.admin, purpose=PURPOSE)
    assert file_bytes(tmp_path / "out") == file_bytes(tmp_path / "4")
    assert result.summary.history_rows == 4


def test_after_an_import_the_first_export_stores_the_lines_of_what_it_imported(world: World, tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_synthetic_tenant(source, KUDAMATSU, scale=0.003, seed=21)
    result = import_fileset(KUDAMATSU, source, actor=world.admin, today=TODAY)
    assert result.ok, result.problems[:3]
    persons = result.imported.residents + result.imported.removed
    with tenant_scope(KUDAMATSU):
        assert len(lines.stale_persons().stale) == persons > 0  # the import stores none (too costly)
    export_tenant(KUDAMATSU, tmp_path / "out", actor=world.admin, purpose=PURPOSE, on=TODAY)
    assert len(stored(KUDAMATSU)) == persons
    assert_lines_are_the_exports(KUDAMATSU, tmp_path / "ref")
    assert file_bytes(tmp_path / "out") == file_bytes(source) == file_bytes(tmp_path / "ref")
    export_tenant(KUDAMATSU, tmp_path / "again", actor=world.admin, purpose=PURPOSE, on=TODAY)
    assert file_bytes(tmp_path / "again") == file_bytes(source)


def test_missing_stale_and_orphan_lines_are_found_in_sql_and_recomputed(
    world: World, population: TenantPopulation, tmp_path: Path
) -> None:
    bulk_load(SHUNAN, population)
    with tenant_scope(SHUNAN):
        assert lines.refresh()[0] == len({e.atena_no for e in population.events})
    before = stored(SHUNAN)
    a, b, c, v = sorted(before)[:4]
    with tenant_scope(SHUNAN):
        PersonLines.objects.filter(atena_no=a).delete()  # missing
        PersonLines.objects.filter(atena_no=b).update(event_count=99, lines="古い行\r\n")  # stale (count)
        PersonLines.objects.filter(atena_no=c).update(last_event_id=1)  # stale (last 異動)
        PersonLines.objects.filter(atena_no=v).update(version="0")  # computed by another layout or code
        PersonLines.objects.create(
            atena_no="9999999990", lines="x\r\n", rows=1, event_count=1, last_event_id=1
        )  # no 異動
        found = lines.stale_persons()
        assert (found.stale, found.orphans, found.persons) == ([a, b, c, v], ["9999999990"], len(before))
    # an 異動 appended by a path that does not keep the lines (the receiver disconnected)
    assert recorded.disconnect(dispatch_uid="moyai.portability.lines")
    try:
        with tenant_scope(SHUNAN):
            d = Resident.objects.filter(status="resident").exclude(atena_no__in=[a, b, c, v]).order_by("atena_no")[0]
            req = services.record_now(
                world.clerk, "move_within", dt.date(2026, 5, 1), [SubjectInput(d.atena_no, {"address": ADDR})]
            )
            assert req.status == "registered", req.findings
            assert lines.stale_persons().stale == sorted([a, b, c, v, d.atena_no])
    finally:
        recorded.connect(lines.on_recorded, dispatch_uid="moyai.portability.lines")
    result = export_tenant(SHUNAN, tmp_path / "out", actor=world.admin, purpose=PURPOSE)
    assert result.summary.persons == len(before)
    assert_lines_are_the_exports(SHUNAN, tmp_path / "ref")
    assert file_bytes(tmp_path / "out") == file_bytes(tmp_path / "ref")
    after = stored(SHUNAN)
    assert "9999999990" not in after and after[b] == before[b] and after[a] == before[a]


def test_a_few_stale_persons_are_computed_in_the_export_s_snapshot_and_stored_after_it(
    world: World, population: TenantPopulation, tmp_path: Path
) -> None:
    bulk_load(SHUNAN, population)
    with tenant_scope(SHUNAN):
        lines.refresh()
        person = sorted(Resident.objects.values_list("atena_no", flat=True))[5]
        PersonLines.objects.filter(atena_no=person).update(lines="古い行\r\n", event_count=0)
    good = stored(SHUNAN)
    export_tenant(SHUNAN, tmp_path / "out", actor=world.admin, purpose=PURPOSE)
    with tenant_scope(SHUNAN):
        write_fileset(tmp_path / "ref", SHUNAN, dict(iter_histories()))
        assert lines.stale_persons().stale == []
    assert file_bytes(tmp_path / "out") == file_bytes(tmp_path / "ref")
    assert stored(SHUNAN)[person][0] != "古い行\r\n"
    assert_lines_are_the_exports(SHUNAN, tmp_path / "ref2")
    assert set(stored(SHUNAN)) == set(good)


def test_many_missing_persons_are_computed_and_stored_before_the_export_s_snapshot(
    world: World, population: TenantPopulation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ``IN_SNAPSHOT`` (a 団体 loaded without lines) the lines are stored first; a write in
    between by a path that keeps none is computed inside the snapshot."""
    bulk_load(SHUNAN, population)
    monkeypatch.setattr(exporter, "IN_SNAPSHOT", 10)
    refresh = lines.refresh_stale
    spoiled: list[str] = []

    def refresh_then_spoil(code: str) -> tuple[int, list[str]]:
        out = refresh(code, chunk=7)  # several chunks, each committed
        with tenant_scope(code):
            spoiled.append(sorted(Resident.objects.values_list("atena_no", flat=True))[5])
            PersonLines.objects.filter(atena_no=spoiled[0]).update(lines="古い行\r\n", event_count=0)
        return out

    monkeypatch.setattr(lines, "refresh_stale", refresh_then_spoil)
    result = export_tenant(SHUNAN, tmp_path / "out", actor=world.admin, purpose=PURPOSE)
    with tenant_scope(SHUNAN):
        write_fileset(tmp_path / "ref", SHUNAN, dict(iter_histories()))
    assert file_bytes(tmp_path / "out") == file_bytes(tmp_path / "ref")
    assert result.summary.persons == len({e.atena_no for e in population.events})
    assert_lines_are_the_exports(SHUNAN, tmp_path / "ref2")  # the spoiled one stored after the snapshot
    assert spoiled


def _flags(directory: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with (directory / "JYUKI_KOJIN.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["宛名番号"], set()).add(row["支援措置対象フラグ"])
    return out


def test_a_support_measure_started_after_the_lines_were_stored_is_flagged_at_export(
    world: World, population: TenantPopulation, tmp_path: Path
) -> None:
    bulk_load(SHUNAN, population)
    with tenant_scope(SHUNAN):
        lines.refresh()
    before = stored(SHUNAN)
    with tenant_scope(SHUNAN):
        protected = sorted(Resident.objects.filter(status="resident").values_list("atena_no", flat=True))[3]
        suppression.register_measure(world.approver, applicant=protected, received_on=dt.date(2026, 10, 1), today=TODAY)
    assert stored(SHUNAN) == before  # the flag is not stored
    export_tenant(SHUNAN, tmp_path / "out", actor=world.admin, purpose=PURPOSE, on=TODAY)
    flags = _flags(tmp_path / "out")
    assert flags.pop(protected) == {"1"}
    assert set().union(*flags.values()) == {""}
    with tenant_scope(SHUNAN):
        write_fileset(tmp_path / "ref", SHUNAN, dict(iter_histories()), support_measure={protected})
    assert file_bytes(tmp_path / "out") == file_bytes(tmp_path / "ref")
    # the day before the 仮支援措置 was received: no flag
    export_tenant(SHUNAN, tmp_path / "before", actor=world.admin, purpose=PURPOSE, on=dt.date(2026, 9, 30))
    assert set().union(*_flags(tmp_path / "before").values()) == {""}


def _load_changing(population: TenantPopulation, target: str, change: dict[str, object],
                   when: Callable[[MoveEvent], bool]) -> None:
    """Bulk-load the population with ``change`` applied to ``target``'s 異動 for which ``when`` holds."""
    events = [
        dataclasses.replace(e, changes={**e.changes, **change}) if e.atena_no == target and when(e) else e
        for e in population.events
    ]
    services.load_histories(
        events, next_atena_seq=population.next_atena_seq, next_household_seq=population.next_household_seq
    )


def test_cp932_refuses_the_same_character_on_the_same_row_and_item(
    world: World, population: TenantPopulation, tmp_path: Path
) -> None:
    people = sorted({e.atena_no for e in population.events})
    target = people[len(people) // 2]
    with tenant_scope(SHUNAN):
        _load_changing(population, target, {"given_name": "𠮷"}, when=lambda e: "given_name" in e.changes)
        with pytest.raises(FilesetError) as old:
            write_fileset(tmp_path / "old", SHUNAN, dict(iter_histories()), encoding="cp932")
        assert lines.refresh()[1] == []  # UTF-8 holds it
    with pytest.raises(FilesetError) as new:
        export_tenant(SHUNAN, tmp_path / "new", actor=world.admin, purpose=PURPOSE, encoding="cp932")
    assert new.value.problem == old.value.problem
    assert (new.value.problem.item, new.value.problem.kind) == ("名", ProblemKind.UNENCODABLE)
    assert new.value.problem.row is not None and new.value.problem.row > 2
    assert list((tmp_path / "new").iterdir()) == []
    assert target in stored(SHUNAN)  # UTF-8 holds it: stored, refused only when written in cp932


def test_a_value_the_layout_cannot_hold_is_not_stored_and_reported_on_its_row(
    world: World, population: TenantPopulation, tmp_path: Path
) -> None:
    people = sorted({e.atena_no for e in population.events})
    target = people[len(people) // 3]
    with tenant_scope(SHUNAN):
        _load_changing(population, target, {"memo": "長" * 1001}, when=lambda e: e.kind != "cancellation")
        with pytest.raises(FilesetError) as old:
            write_fileset(tmp_path / "old", SHUNAN, dict(iter_histories()))
        assert lines.refresh()[1] == [target]  # not stored
    with pytest.raises(FilesetError) as new:
        export_tenant(SHUNAN, tmp_path / "new", actor=world.admin, purpose=PURPOSE)
    assert new.value.problem == old.value.problem
    assert new.value.problem.row is not None and new.value.problem.row > 2
    got = stored(SHUNAN)
    assert target not in got and len(got) == len(people) - 1
    with tenant_scope(SHUNAN):
        assert lines.stale_persons().stale == [target]
        assert Event.objects.filter(atena_no=target).exists()


def test_the_dense_read_of_persons_events_equals_the_read_by_lists(world: World, population: TenantPopulation) -> None:
    """``events_of(…, dense=True)`` (one range read, the persons not asked for skipped) gives what the
    ``IN`` lists give: the same persons in the same order, the same 異動 (in no given order within a
    person: the rows are computed from them sorted)."""
    bulk_load(SHUNAN, population)
    with tenant_scope(SHUNAN):
        everyone = sorted({e.atena_no for e in population.events})
        some = [a for i, a in enumerate(everyone) if i % 3 != 1][2:-2]  # holes inside, ends cut off
        assert len(some) > 100
        by_lists = list(lines.events_of(some))
        dense = list(lines.events_of(some, dense=True))
        assert [a for a, _ in dense] == some
        def by_id(read: list[tuple[str, list[MoveEvent]]]) -> list[tuple[str, list[MoveEvent]]]:
            return [(a, sorted(evs, key=lambda e: e.event_id)) for a, evs in read]

        assert by_id(dense) == by_id(by_lists)
        assert sum(len(evs) for _, evs in dense) == sum(1 for e in population.events if e.atena_no in set(some))
        assert list(lines.events_of([], dense=True)) == []
