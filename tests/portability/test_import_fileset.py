"""import_fileset against the database: every kind of bad input is reported where it is and nothing
is written; a good file set (UTF-8, BOM, cp932) is imported and found by the registry; 外字 mapping."""

from __future__ import annotations

import csv
import html
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.identity.services import Principal, staff_principal
from moyai.platform.tenancy.scope import tenant_scope
from moyai.portability.fileset import FilesetSummary, write_fileset
from moyai.portability.format import Problem, ProblemKind
from moyai.portability.importer import (
    ImportCounts,
    ImportProblemKind,
    ImportResult,
    format_gaiji_map,
    import_fileset,
    write_report,
)
from moyai.portability.importer.report import CSV_HEADER, render_html
from moyai.portability.inject import InjectionKind, inject
from moyai.residents import selectors, services
from moyai.residents.demo.generator import generate
from moyai.residents.domain.model import MoveEvent, Status, replay
from moyai.residents.models import Event, Household, NumberSequence, Resident, SearchKey
from moyai.residents.services import HistoryLoader
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.fixtures import KUDAMATSU, SHUNAN

pytestmark = pytest.mark.django_db


@dataclass
class Tenants:
    """Two empty 団体 of one consortium and a clerk of 下松市 (lighter than the shared ``world``)."""

    clerk: Principal


@pytest.fixture
def world(db: None) -> Tenants:
    TenantFactory(code=SHUNAN, name="周南市")
    kudamatsu = TenantFactory(code=KUDAMATSU, name="下松市")
    user = UserFactory(username="kclerk")
    MembershipFactory(user=user, tenant=kudamatsu, role="clerk")
    return Tenants(staff_principal(user, KUDAMATSU))


def _people(code: str, scale: float, seed: int) -> dict[str, list[MoveEvent]]:
    out: dict[str, list[MoveEvent]] = {}
    for e in generate(code, scale=scale, seed=seed).events:
        out.setdefault(e.atena_no, []).append(e)
    return out


@pytest.fixture(scope="module")
def people() -> dict[str, list[MoveEvent]]:
    return _people(KUDAMATSU, 0.005, 7)


@pytest.fixture(scope="module")
def clean(people: dict[str, list[MoveEvent]], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FilesetSummary]:
    d = tmp_path_factory.mktemp("clean")
    return d, write_fileset(d, KUDAMATSU, people)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _rows_for(code: str) -> dict[str, int]:
    with tenant_scope(code):
        return {
            "events": Event.objects.count(),
            "residents": Resident.objects.count(),
            "search_keys": SearchKey.objects.count(),
            "households": Household.objects.count(),
            "sequences": NumberSequence.objects.count(),
            "access_log": AccessLog.objects.filter(operation="portability.import").count(),
            "access_subjects": AccessLogSubject.objects.count(),
        }


NOTHING = {k: 0 for k in ("events", "residents", "search_keys", "households", "sequences", "access_log",
                          "access_subjects")}


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("kind", list(InjectionKind))
def test_each_kind_of_bad_input_is_reported_where_it_is_and_nothing_is_written(
    world: Tenants, clean: tuple[Path, FilesetSummary], tmp_path: Path, kind: InjectionKind
) -> None:
    d = _copy(clean[0], tmp_path / "files")
    where = inject(d, kind, seed=3)
    result = import_fileset(KUDAMATSU, d)
    assert not result.ok
    # its own specific problem, at the file, row and item where it was put, and no other kind
    hits = [p for p in result.problems if (p.file, p.row, p.item, p.kind) ==
            (where.file, where.row, where.item, where.expected_problem_kind)]
    assert hits, [str(p) for p in result.problems]
    assert {p.kind for p in result.problems} == {where.expected_problem_kind}
    assert hits[0].reason_ja
    if where.value is not None and kind != InjectionKind.OTHER_TENANT:
        assert hits[0].value == where.value
    assert result.imported == ImportCounts()
    assert _rows_for(KUDAMATSU) == NOTHING
    # the report lists it
    html_path, csv_path = write_report(result, tmp_path / "report")
    rows = _csv_rows(csv_path)
    assert rows[0] == list(CSV_HEADER)
    assert [where.file, "" if where.row is None else str(where.row), where.item or ""] in [r[:3] for r in rows[1:]]
    page = html_path.read_text(encoding="utf-8")
    assert "データは1件も取り込んでいません" in page and html.escape(hits[0].reason_ja) in page


@pytest.mark.parametrize("kind", list(InjectionKind))
def test_what_was_written_while_checking_is_rolled_back_when_a_problem_is_found(
    world: Tenants, clean: tuple[Path, FilesetSummary], tmp_path: Path, kind: InjectionKind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL the import writes each part of persons as soon as they are checked (parts of 2
    here): a problem found later — in a later person's history, in the 世帯 file — still leaves
    nothing written.  (SQLite checks first and writes after.)"""
    monkeypatch.setattr(services, "LOAD_PART", 2)
    written: list[int] = []
    write_part = HistoryLoader._write_part

    def counted(self: HistoryLoader) -> None:
        written.append(len(self._persons))
        write_part(self)

    monkeypatch.setattr(HistoryLoader, "_write_part", counted)
    d = _copy(clean[0], tmp_path / "files")
    where = inject(d, kind, seed=3)
    result = import_fileset(KUDAMATSU, d)
    assert not result.ok and any(p.kind == where.expected_problem_kind for p in result.problems)
    assert result.imported == ImportCounts()
    assert _rows_for(KUDAMATSU) == NOTHING
    if kind == InjectionKind.TWO_HEADS and connection.vendor == "postgresql":
        # found by the 世帯 check, after every person was written
        assert sum(written) == clean[1].persons and len(written) > 2
    elif connection.vendor != "postgresql":
        assert written == []


def test_a_good_file_set_is_imported_and_the_registry_shows_it(
    world: Tenants, clean: tuple[Path, FilesetSummary], people: dict[str, list[MoveEvent]], tmp_path: Path
) -> None:
    summary = clean[1]
    result = import_fileset(KUDAMATSU, clean[0])
    assert result.ok, [str(p) for p in result.problems[:5]]
    assert result.imported == ImportCounts(
        residents=summary.residents, removed=summary.removed, history_rows=summary.history_rows,
        households=summary.households,
    )
    assert result.found == result.imported
    rows = _rows_for(KUDAMATSU)
    assert rows["events"] == summary.history_rows and rows["residents"] == summary.persons
    assert rows["access_log"] == 1 and rows["access_subjects"] == summary.persons
    # the registry: every person replays to the imported record, searches find a resident
    atena, evs = next((a, e) for a, e in sorted(people.items()) if (s := replay(e)) and s.status == Status.RESIDENT)
    state = replay(evs)
    assert state is not None
    with tenant_scope(KUDAMATSU):
        found = selectors.search(world.clerk, selectors.SearchQuery(atena_no=atena))
        assert [r.atena_no for r in found.items] == [atena]
        view = selectors.resident_view(world.clerk, atena)
        assert view.record.display_name == state.display_name and view.record.address == state.address
        by_name = selectors.search(world.clerk, selectors.SearchQuery(name=state.family_kana or ""))
        assert by_name.total >= 1
        # numbering continues after the imported numbers
        assert int(services.next_number("atena")[:9]) > max(int(a[:9]) for a in people)
    html_path, csv_path = write_report(result, tmp_path / "report")
    page = html_path.read_text(encoding="utf-8")
    assert "問題はありません" in page and f"{summary.history_rows:,}" in page
    assert _csv_rows(csv_path) == [list(CSV_HEADER)]
    # a second import into the now filled 団体 is refused, nothing more written
    rows = _rows_for(KUDAMATSU)
    again = import_fileset(KUDAMATSU, clean[0])
    assert [p.kind for p in again.problems] == [ImportProblemKind.NOT_EMPTY]
    assert _rows_for(KUDAMATSU) == rows


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig"])
def test_shift_jis_and_bom_files_import_the_same(
    world: Tenants, people: dict[str, list[MoveEvent]], clean: tuple[Path, FilesetSummary], tmp_path: Path, encoding: str
) -> None:
    d = tmp_path / encoding
    if encoding == "cp932":
        write_fileset(d, KUDAMATSU, people, encoding="cp932")
    else:
        d.mkdir()
        for f in clean[0].iterdir():
            (d / f.name).write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    result = import_fileset(KUDAMATSU, d)
    assert result.ok, [str(p) for p in result.problems[:5]]
    assert {enc for _, enc, _ in result.files} == {encoding}
    assert result.imported.history_rows == clean[1].history_rows


def test_a_gaiji_mapping_resolves_the_gaiji_and_the_report_lists_it(
    world: Tenants, clean: tuple[Path, FilesetSummary], tmp_path: Path
) -> None:
    d = _copy(clean[0], tmp_path / "files")
    where = inject(d, InjectionKind.GAIJI, seed=4)
    assert where.value is not None
    gaiji = where.value[0]
    mapping = tmp_path / "gaiji.csv"
    mapping.write_text(format_gaiji_map({gaiji: "髙"}), encoding="utf-8")
    result = import_fileset(KUDAMATSU, d, gaiji_map=mapping)
    assert result.ok, [str(p) for p in result.problems[:5]]
    code = f"U+{ord(gaiji):04X}"
    assert result.gaiji_replaced == {(where.file, where.item, code): 1}
    with tenant_scope(KUDAMATSU):
        stored = [e.changes for e in Event.objects.all() if any(
            isinstance(v, str) and "髙" + where.value[1:] == v for v in e.changes.values())]
        assert stored, "the replaced value is stored"
        assert not any(gaiji in str(e.changes) for e in Event.objects.all())
    page = write_report(result, tmp_path / "report")[0].read_text(encoding="utf-8")
    assert code in page and "外字対応表で置き換えた外字" in page


def test_a_mapping_that_does_not_cover_the_gaiji_still_refuses(
    world: Tenants, clean: tuple[Path, FilesetSummary], tmp_path: Path
) -> None:
    d = _copy(clean[0], tmp_path / "files")
    where = inject(d, InjectionKind.GAIJI, seed=4)
    assert where.value is not None
    other = chr(0xF8FF) if where.value[0] != chr(0xF8FF) else chr(0xE000)
    mapping = tmp_path / "gaiji.csv"
    mapping.write_text(format_gaiji_map({other: "髙"}), encoding="utf-8")
    result = import_fileset(KUDAMATSU, d, gaiji_map=mapping)
    assert [(p.row, p.item, p.kind) for p in result.problems] == [(where.row, where.item, ProblemKind.GAIJI)]
    assert _rows_for(KUDAMATSU) == NOTHING


def test_a_bad_mapping_file_is_reported_and_nothing_is_read(
    world: Tenants, clean: tuple[Path, FilesetSummary], tmp_path: Path
) -> None:
    mapping = tmp_path / "gaiji.csv"
    mapping.write_text("外字コード,置換文字\r\nU+3042,あ\r\n", encoding="utf-8")
    result = import_fileset(KUDAMATSU, clean[0], gaiji_map=mapping)
    assert [(p.file, p.row, p.item, p.kind) for p in result.problems] == [("gaiji.csv", 2, "外字コード", "gaiji")]
    assert _rows_for(KUDAMATSU) == NOTHING


def test_a_missing_file_and_an_unknown_tenant_are_reported(world: Tenants, clean: tuple[Path, FilesetSummary],
                                                            tmp_path: Path) -> None:
    d = _copy(clean[0], tmp_path / "files")
    (d / "JYUKI_SETAI.csv").unlink()
    result = import_fileset(KUDAMATSU, d)
    assert [(p.file, p.kind) for p in result.problems] == [("JYUKI_SETAI.csv", ImportProblemKind.MISSING_FILE)]
    assert _rows_for(KUDAMATSU) == NOTHING
    unknown = import_fileset("352101", clean[0])
    assert [p.kind for p in unknown.problems] == [ImportProblemKind.UNKNOWN_TENANT]


def test_the_files_of_one_tenant_do_not_go_into_another(world: Tenants, clean: tuple[Path, FilesetSummary]) -> None:
    result = import_fileset(SHUNAN, clean[0])
    assert {p.kind for p in result.problems} == {ProblemKind.TENANT}
    assert {(p.file, p.row) for p in result.problems} == {("JYUKI_KOJIN.csv", 2), ("JYUKI_SETAI.csv", 2)}
    assert _rows_for(SHUNAN) == NOTHING


def test_the_html_report_escapes_values(tmp_path: Path) -> None:
    problem = Problem("JYUKI_KOJIN.csv", 5, "氏", "<script>alert(1)</script>&", "理由<b>", ProblemKind.CHARSET, "family_name")
    result = ImportResult("352071", "/d<i>r", [problem], ImportCounts(), ImportCounts(), [], {})
    page = render_html(result)
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in page and "理由&lt;b&gt;" in page
    assert "<link" not in page and "src=" not in page  # self-contained
    _, csv_path = write_report(result, tmp_path)
    assert _csv_rows(csv_path)[1] == ["JYUKI_KOJIN.csv", "5", "氏", "<script>alert(1)</script>&", "理由<b>", "使えない文字"]


def _edit_rows(path: Path, item: str, value: str, rows: list[int]) -> None:
    """Set ``item`` to ``value`` on the given lines (rows hold no line breaks: line = index + 1)."""
    table = _csv_rows(path)
    col = table[0].index(item)
    for line in rows:
        table[line - 1][col] = value
    buf = io.StringIO()
    csv.writer(buf, dialect="excel", lineterminator="\r\n").writerows(table)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def test_an_empty_required_item_and_a_repeated_bad_value_are_reported_on_every_row(
    world: Tenants, clean: tuple[Path, FilesetSummary], tmp_path: Path
) -> None:
    d = _copy(clean[0], tmp_path / "files")
    _edit_rows(d / "JYUKI_KOJIN.csv", "異動日", "", [3])
    _edit_rows(d / "JYUKI_KOJIN.csv", "処理日", "20240230", [5, 9])  # the same bad text twice
    result = import_fileset(KUDAMATSU, d)
    assert [(p.row, p.item, p.kind) for p in result.problems] == [
        (3, "異動日", ProblemKind.REQUIRED), (5, "処理日", ProblemKind.DATE), (9, "処理日", ProblemKind.DATE)]
    assert result.problems[0].reason_ja == "必須項目が空です"
    assert _rows_for(KUDAMATSU) == NOTHING
