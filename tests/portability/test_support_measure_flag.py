"""支援措置対象フラグ: written from the 支援措置 on export, imported as a 仮支援措置, round trip lossless.

Both backends.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest
from fileset_support import file_bytes

from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.tenancy.scope import tenant_scope
from moyai.portability.exporter import EXPORT_OPERATION, export_tenant
from moyai.portability.format.problems import ProblemKind
from moyai.portability.importer import import_fileset
from moyai.portability.importer.pipeline import MEASURE_NOTE
from moyai.portability.inject import set_support_measure, set_tenant_code
from moyai.portability.synthetic import write_synthetic_tenant
from moyai.residents import services, suppression
from moyai.residents.demo.generator import generate
from moyai.residents.models import Event, Resident, SupportMeasure, SupportMeasurePerson
from moyai.residents.selectors import support_measure_flags
from tests.fixtures import KUDAMATSU, SHUNAN, World

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 2)
PURPOSE = "支援措置対象フラグの試験"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("source")
    write_synthetic_tenant(d, SHUNAN, scale=0.003, seed=21)
    return d


def flags(directory: Path) -> dict[str, set[str]]:
    """宛名番号 → the texts of 支援措置対象フラグ on that person's rows."""
    out: dict[str, set[str]] = {}
    with (directory / "JYUKI_KOJIN.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["宛名番号"], set()).add(row["支援措置対象フラグ"])
    return out


def test_the_export_flags_every_row_of_a_protected_person_on_the_day(world: World, tmp_path: Path) -> None:
    population = generate(SHUNAN, scale=0.003, seed=11)
    with tenant_scope(SHUNAN):
        services.load_histories(population.events, next_atena_seq=population.next_atena_seq,
                                next_household_seq=population.next_household_seq)
        protected, other = sorted(Resident.objects.filter(status="resident").values_list("atena_no", flat=True))[:2]
        suppression.register_measure(world.approver, applicant=protected, received_on=dt.date(2026, 4, 1),
                                     provisional=False, start_date=dt.date(2026, 4, 1), today=TODAY)
        suppression.register_measure(world.approver, applicant=other, received_on=dt.date(2026, 10, 1), today=TODAY)
    export_tenant(SHUNAN, tmp_path / "a", actor=world.admin, purpose=PURPOSE, on=TODAY)
    got = flags(tmp_path / "a")
    assert got[protected] == {"1"} and got[other] == {"1"}  # 支援措置 and 仮支援措置, every row
    assert all(v == {""} for a, v in got.items() if a not in (protected, other))
    with tenant_scope(SHUNAN):
        assert support_measure_flags([protected, other], TODAY) == {protected, other}
        log = AccessLog.objects.get(operation=EXPORT_OPERATION)
        assert (log.detail["support_measure_on"], log.detail["support_measure_persons"]) == ("2026-11-02", 2)
    # on a day before the 仮支援措置 began only the 支援措置 is flagged
    export_tenant(SHUNAN, tmp_path / "b", actor=world.admin, purpose=PURPOSE, on=dt.date(2026, 9, 1))
    got = flags(tmp_path / "b")
    assert (got[protected], got[other]) == ({"1"}, {""})


def test_an_imported_flag_becomes_a_provisional_measure_and_exports_again(
    world: World, source: Path, tmp_path: Path
) -> None:
    d = tmp_path / "flagged"
    shutil.copytree(source, d)
    persons = sorted(flags(d))
    chosen = {persons[0], persons[3]}
    lines = set_support_measure(d, lambda atena, _n: "1" if atena in chosen else None)
    assert len(lines) >= 2
    result = import_fileset(SHUNAN, d, actor=world.admin, today=TODAY)
    assert result.ok, result.problems[:3]
    assert result.found.support_measures == result.imported.support_measures == 2
    with tenant_scope(SHUNAN):
        measures = list(SupportMeasure.objects.order_by("applicant"))
        assert [m.applicant for m in measures] == sorted(chosen)
        for m in measures:
            assert (m.status, m.received_on, m.provisional_from, m.start_date, m.end_date) == (
                "provisional", TODAY, TODAY, None, None)
            assert m.note == MEASURE_NOTE and m.created_by == "staff:admin1"
        assert set(SupportMeasurePerson.objects.values_list("atena_no", "role")) == {(a, "applicant") for a in chosen}
        assert support_measure_flags(persons, TODAY) == chosen  # protected from the import on
        log = AccessLog.objects.get(operation="support_measure.register")
        assert log.subject_count == 2 and log.detail["source"] == "portability.import"
        assert set(AccessLogSubject.objects.filter(log_id=log.id).values_list("atena_no", flat=True)) == chosen
        imported = AccessLog.objects.get(operation="portability.import")
        assert imported.detail["support_measures"] == 2
    out = tmp_path / "out"
    export_tenant(SHUNAN, out, actor=world.admin, purpose=PURPOSE, on=TODAY)
    assert file_bytes(out) == file_bytes(d)  # lossless: the flags come back on the same rows

    moved = tmp_path / "moved"  # and into a second 団体, the same again
    shutil.copytree(out, moved)
    set_tenant_code(moved, KUDAMATSU)
    assert import_fileset(KUDAMATSU, moved, actor=world.other_clerk, today=TODAY).ok
    again = tmp_path / "again"
    export_tenant(KUDAMATSU, again, actor=world.other_clerk, purpose=PURPOSE, on=TODAY)
    assert file_bytes(again) == file_bytes(moved)


def test_a_flag_on_some_rows_only_is_refused_and_nothing_is_written(
    world: World, source: Path, tmp_path: Path
) -> None:
    d = tmp_path / "partly"
    shutil.copytree(source, d)
    counts: dict[str, int] = {}
    with (d / "JYUKI_KOJIN.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            counts[row["宛名番号"]] = counts.get(row["宛名番号"], 0) + 1
    atena = next(a for a, n in sorted(counts.items()) if n >= 2)
    (line,) = set_support_measure(d, lambda a, n: "1" if a == atena and n == 2 else None)
    result = import_fileset(SHUNAN, d, actor=world.admin, today=TODAY)
    assert not result.ok
    (p,) = result.problems
    assert (p.file, p.row, p.item, p.value, p.kind) == (
        "JYUKI_KOJIN.csv", line, "支援措置対象フラグ", "1", ProblemKind.INCONSISTENT)
    with tenant_scope(SHUNAN):
        assert not Event.objects.exists() and not SupportMeasure.objects.exists()
