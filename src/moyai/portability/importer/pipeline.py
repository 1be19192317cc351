"""Import of a 中間標準レイアウト file set into an empty 団体: check everything, write all or nothing.

Pipeline (:func:`import_fileset`):

1. **read** every file of the layout (:mod:`.reading`): encoding (UTF-8 with or without BOM,
   Shift_JIS), structure, every item (type, length, required, code, date, check digit), 外字
   (mapped by the user's 外字対応表 or reported), 団体コード;
2. **check across rows and files**: duplicate keys, 履歴番号 without gaps, each person's history
   rebuilt into 異動 that reproduce every row (:func:`~moyai.portability.format.rows_to_histories`),
   the 世帯 file against the current records (:func:`~moyai.portability.format.check_households`:
   members, 世帯員数, at most one 世帯主 and the one named, address), the code-list file against
   the code tables;
3. **write**, in one transaction of the 団体 opened before the files are read (the 団体 locked
   and found empty first): each person's 異動, as soon as they are rebuilt and while no problem
   has been found, go to a :class:`~moyai.residents.services.HistoryLoader`, which writes them
   with the current records and search keys a part of persons at a time (bulk ``COPY``
   on PostgreSQL, the server's part overlapped with the checks going on); then the 世帯, the
   仮支援措置 and one access-log entry naming every imported resident.  A problem found at any
   point, an error or a killed process leaves nothing: the transaction is rolled back, or never
   committed.  On SQLite (one process does all the work, so nothing would overlap) and for
   onboarding, :func:`prepare_fileset` checks first and :func:`write_prepared` writes after.

Checks across rows run in Python over hash maps while the rows are read (each key seen once): at
the sizes of a 団体 (hundreds of thousands of rows) this is faster than staging the rows in the
database first to find the same duplicates and gaps in SQL, and the rows must be decoded in
Python anyway to rebuild the 異動.  The database is touched only to write.
"""

from __future__ import annotations

import datetime as dt
import gc
import getpass
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from moyai.platform.ids import new_id
from moyai.portability.format import (
    Layout,
    Problem,
    ProblemKind,
    check_households,
    load_layout,
    rows_to_histories,
)
from moyai.portability.format.persons import CODE_FILE, HOUSEHOLD_FILE, RESIDENT_FILE
from moyai.residents.domain.fast_replay import replay
from moyai.residents.domain.model import MoveEvent, PersonState, Status

from .gaiji import GaijiMap
from .reading import FileRead, count_lines, read_file

if TYPE_CHECKING:
    from moyai.residents.services import LoadSummary

__all__ = [
    "ImportCounts",
    "ImportProblemKind",
    "ImportResult",
    "Prepared",
    "ProgressCallback",
    "SystemActor",
    "check_tenant",
    "import_fileset",
    "no_gc",
    "prepare_fileset",
    "write_prepared",
]


class ImportProblemKind:
    """Problem kinds of the import beyond the format layer's :class:`ProblemKind`."""

    MISSING_FILE = "missing_file"  # a file of the layout is not in the directory
    NOT_EMPTY = "not_empty"  # the 団体 already has 住民記録
    UNKNOWN_TENANT = "unknown_tenant"  # the 団体 is not registered


class ProgressCallback(Protocol):
    def __call__(self, phase: str, advance: int = 0, total: int | None = None) -> None: ...


def _no_progress(phase: str, advance: int = 0, total: int | None = None) -> None:
    return None


@dataclass(frozen=True)
class SystemActor:
    """The operator of a command-line import, for the access log."""

    ident: str = field(default_factory=lambda: _user())

    @property
    def label(self) -> str:
        return f"cli:{self.ident}"

    @property
    def kind(self) -> str:
        return "system"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@dataclass
class ImportCounts:
    """What an import wrote (or, before writing, what the files hold)."""

    residents: int = 0  # current records (住民)
    removed: int = 0  # 除票
    history_rows: int = 0  # history rows (one 異動 each)
    households: int = 0  # rows of the 世帯 file
    support_measures: int = 0  # persons with 支援措置対象フラグ 1 (a 仮支援措置 each once written)


@dataclass
class ImportResult:
    tenant_code: str
    directory: str
    problems: list[Problem]
    found: ImportCounts  # what the valid rows of the files hold
    imported: ImportCounts  # what was written (zero when there is any problem)
    files: list[tuple[str, str | None, int]]  # (file name, encoding, data rows read)
    gaiji_replaced: dict[tuple[str, str, str], int]  # (file, item, 外字コード) → values replaced
    gaiji_map: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem_counts(self) -> Counter[str]:
        return Counter(p.kind for p in self.problems)


@dataclass
class Prepared:
    """A checked file set, ready to write (when ``problems`` is empty)."""

    result: ImportResult
    events: list[MoveEvent]
    next_atena_seq: int
    next_household_seq: int
    support_measure: list[str] = field(default_factory=list)  # 宛名番号 flagged 支援措置対象


_REQUIRED_FILES: Final = (RESIDENT_FILE, HOUSEHOLD_FILE)
#: Problems after which rows of the 住民 file were not read at all (whose they are is unknown): the
#: 世帯 file is then not checked against the records, which would only repeat the same defect.
_LOST_ROWS: Final = frozenset(
    {
        ProblemKind.ENCODING,
        ProblemKind.HEADER,
        ProblemKind.MISSING_COLUMN,
        ProblemKind.EXTRA_COLUMN,
        ProblemKind.DUPLICATE_COLUMN,
        ProblemKind.CSV_SYNTAX,
        ProblemKind.TRUNCATED,
        ProblemKind.FIELD_COUNT,
    }
)


def prepare_fileset(
    tenant_code: str,
    directory: str | Path,
    *,
    gaiji_map: GaijiMap | None = None,
    progress: ProgressCallback = _no_progress,
    layout: Layout | None = None,
    staff: str = "",
    on_person: Callable[[str, list[MoveEvent]], None] | None = None,
) -> Prepared:
    """Read and check every file (no database access of its own).

    ``on_person`` receives each person's rebuilt 異動 while the histories are checked, as long as
    no problem has been found (:func:`import_fileset` writes them meanwhile)."""
    lay = layout or load_layout()
    folder = Path(directory)
    problems: list[Problem] = []
    seconds: dict[str, float] = {}
    table = gaiji_map.table() if gaiji_map else None
    reads: dict[str, FileRead] = {}
    t0 = time.perf_counter()
    for spec in lay.files:
        path = folder / spec.file_name
        if not path.is_file():
            if spec.id in _REQUIRED_FILES:
                problems.append(
                    Problem(
                        spec.file_name,
                        None,
                        None,
                        None,
                        f"ファイル {spec.file_name}（{spec.name}）がありません",
                        ImportProblemKind.MISSING_FILE,
                    )
                )
            continue
        progress(f"読込 {spec.file_name}", 0, max(count_lines(path) - 1, 0))
        keys = ("atena_no", "household_no") if spec.id == RESIDENT_FILE else ("household_no",)
        reads[spec.id] = read_file(
            path,
            spec,
            problems,
            tenant_code=tenant_code,
            gaiji=table,
            keys=keys,
            advance=_advance(progress, f"読込 {spec.file_name}"),
        )
    seconds["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    events: list[MoveEvent] = []
    states: dict[str, PersonState] = {}
    flagged: list[str] = []
    found = ImportCounts()
    resident = reads.get(RESIDENT_FILE)
    if resident is not None:
        tainted = resident.tainted.get("atena_no", set())
        rows = [(r, v) for r, v in resident.rows if v["atena_no"] not in tainted]
        progress("履歴の検査", 0, len(rows))
        histories = rows_to_histories(
            rows,
            problems=problems,
            event_ids=itertools.count(new_id()),
            staff=staff,
            file=resident.name,
            layout=lay,
            on_person=None if problems else on_person,
        )
        bad_households = set(resident.tainted.get("household_no", set()))
        for atena, evs in histories.items():
            events.extend(evs)
            state = replay(evs)
            if state is not None:
                states[atena] = state
        # persons whose history could not be rebuilt: their 世帯 are checked no further
        for _, v in rows:
            if v["atena_no"] not in histories and v.get("household_no"):
                bad_households.add(str(v["household_no"]))
        progress("履歴の検査", len(rows))
        flagged = sorted({str(v["atena_no"]) for _, v in rows if v.get("support_measure")} & histories.keys())
        for atena in flagged:
            if atena not in states:
                first = next(r for r, v in rows if v["atena_no"] == atena)
                problems.append(
                    Problem(resident.name, first, lay.file(RESIDENT_FILE).item("support_measure").name, "1",
                            "住民の記録のない人に支援措置対象フラグがあります", ProblemKind.REFERENCE, "support_measure")
                )
        found.support_measures = len(flagged)
        found.history_rows = len(events)
        found.residents = sum(1 for s in states.values() if s.status == Status.RESIDENT)
        found.removed = len(states) - found.residents
        household = reads.get(HOUSEHOLD_FILE)
        lost = any(p.file == resident.name and p.kind in _LOST_ROWS for p in problems)
        if household is not None and not lost:
            progress("世帯の検査", 0, len(household.rows))
            bad_households |= household.tainted.get("household_no", set())
            checked = [(r, v) for r, v in household.rows if v["household_no"] not in bad_households]
            current = {a: s for a, s in states.items() if s.household_no not in bad_households}
            problems.extend(check_households(checked, current, file=household.name, layout=lay))
            found.households = len(household.rows)
            progress("世帯の検査", len(household.rows))
    code = reads.get(CODE_FILE)
    if code is not None:
        problems.extend(_check_code_file(code, lay))
    seconds["check"] = time.perf_counter() - t0

    result = ImportResult(
        tenant_code=tenant_code,
        directory=str(folder),
        problems=problems,
        found=found,
        imported=ImportCounts(),
        files=[(r.name, r.encoding, r.rows_read) for r in reads.values()],
        gaiji_replaced={(r.name, item, cp): n for r in reads.values() for (item, cp), n in sorted(r.gaiji.items())},
        gaiji_map=gaiji_map.file if gaiji_map else None,
        seconds=seconds,
    )
    # numbering continues after every number the files use (a person whose every 異動 was
    # cancelled keeps the number too)
    atena_bodies = [int(e.atena_no[:9]) for e in events]
    household_bodies = [int(str(hh)[:9]) for e in events if (hh := e.changes.get("household_no"))]
    return Prepared(
        result=result,
        events=events,
        next_atena_seq=max(atena_bodies, default=0) + 1,
        next_household_seq=max(household_bodies, default=0) + 1,
        support_measure=flagged,
    )


def _advance(progress: ProgressCallback, phase: str) -> Callable[[int], None]:
    def step(n: int) -> None:
        progress(phase, n)

    return step


def _check_code_file(read: FileRead, layout: Layout) -> list[Problem]:
    """Each row names a code list of the layout and a code of it, once."""
    spec = layout.file(CODE_FILE)
    lists = {c.id: c for c in layout.code_lists}
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    for row, v in read.rows:
        key = (str(v["code_list"]), str(v["code"]))
        if key in seen:
            problems.append(
                Problem(read.name, row, spec.item("code").name, key[1],
                        f"コード表 {key[0]} のコード {key[1]} が2行あります（{seen[key]}行目）",
                        ProblemKind.DUPLICATE_KEY, "code")
            )
            continue
        seen[key] = row
        if key[0] not in lists:
            problems.append(
                Problem(read.name, row, spec.item("code_list").name, key[0],
                        f"コード表 {key[0]} はレイアウトのコード一覧にありません", ProblemKind.CODE, "code_list")
            )
        elif not layout.code_table(key[0]).has(key[1]):
            problems.append(
                Problem(read.name, row, spec.item("code").name, key[1],
                        f"コード {key[1]} は{lists[key[0]].name}のコード表にありません", ProblemKind.CODE, "code")
            )
    return problems


# --- writing --------------------------------------------------------------------------------------------


def _tenant_problems(tenant_code: str) -> list[Problem]:
    """The 団体 must be registered and have no 住民記録 yet (call inside its scope)."""
    from moyai.platform.tenancy.models import Tenant
    from moyai.residents.models import Event

    if not Tenant.objects.filter(code=tenant_code).exists():
        return [Problem("", None, None, tenant_code, f"団体コード {tenant_code} の団体は登録されていません",
                        ImportProblemKind.UNKNOWN_TENANT)]
    if Event.objects.exists():
        return [Problem("", None, None, tenant_code,
                        f"団体 {tenant_code} にはすでに住民記録があります（取込は住民記録のない団体にだけできます）",
                        ImportProblemKind.NOT_EMPTY)]
    return []


def check_tenant(tenant_code: str) -> list[Problem]:
    from moyai.platform.tenancy.scope import tenant_scope

    with tenant_scope(tenant_code):
        return _tenant_problems(tenant_code)


def write_prepared(
    prepared: Prepared,
    *,
    actor: Any = None,
    progress: ProgressCallback = _no_progress,
    today: dt.date | None = None,
) -> ImportResult:
    """Write a checked file set (no problems) in one transaction; returns the result with counts.

    Inside an enclosing transaction (onboarding) the write joins it, so a later failure there
    removes it too.
    """
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents.services import load_histories

    result = prepared.result
    if result.problems:
        raise ValueError("problems were found: nothing may be written")
    t0 = time.perf_counter()
    progress("書き込み", 0, None)
    with tenant_scope(result.tenant_code):
        refused = _lock_empty_tenant(result.tenant_code)
        if refused:
            result.problems.extend(refused)
            return result
        summary = load_histories(
            prepared.events,
            next_atena_seq=prepared.next_atena_seq,
            next_household_seq=prepared.next_household_seq,
            today=today,
        )
        _write_rest(prepared, summary, actor, today)
    result.seconds["write"] = time.perf_counter() - t0
    progress("書き込み", 1, 1)
    return result


def _lock_empty_tenant(tenant_code: str) -> list[Problem]:
    """Inside the 団体's scope: lock it (two imports into one 団体 at once: the second waits here,
    then finds it not empty) and refuse it unless it is registered and empty."""
    from moyai.platform.tenancy.models import Tenant

    list(Tenant.objects.select_for_update().filter(code=tenant_code).values_list("code", flat=True))
    return _tenant_problems(tenant_code)


def _write_rest(prepared: Prepared, summary: LoadSummary, actor: Any, today: dt.date | None) -> None:
    """After the 異動 and projections: the 仮支援措置, the counts and the access-log entry naming every
    imported person (sets ``prepared.result.imported``)."""
    from moyai.platform.audit import services as audit
    from moyai.residents.models import Resident

    result = prepared.result
    measures = _provisional_measures(prepared.support_measure, actor or SystemActor(), today)
    imported = ImportCounts(
        residents=Resident.objects.filter(status=Status.RESIDENT).count(),
        removed=Resident.objects.filter(status=Status.REMOVED).count(),
        history_rows=summary.events,
        households=result.found.households,
        support_measures=measures,
    )
    audit.record(
        actor or SystemActor(),
        "portability.import",
        sorted({e.atena_no for e in prepared.events}),
        purpose="中間標準レイアウトによるデータ移行",
        detail={
            "files": [name for name, _, _ in result.files],
            "residents": imported.residents,
            "removed": imported.removed,
            "history_rows": imported.history_rows,
            "households": imported.households,
            "support_measures": imported.support_measures,
            "gaiji_replaced": sum(result.gaiji_replaced.values()),
        },
    )
    result.imported = imported


#: 備考 of a 仮支援措置 made from 支援措置対象フラグ (staff complete it on the 支援措置 screens).
MEASURE_NOTE: Final = (
    "中間標準レイアウトによるデータ移行で支援措置対象フラグが1だった人の仮支援措置です。"
    "申出の内容（加害者、支援を求める事務、期間）を確認し、支援措置を開始するか終了してください。"
)


def _provisional_measures(atena_nos: list[str], actor: Any, today: dt.date | None) -> int:
    """One 仮支援措置 (the person as 申出者, from the day of the import) per flagged person, so that
    they are protected (certificates, searches, linkage) from the moment the data is in; logged
    like a registration on the 支援措置 screens.  Returns how many were made."""
    from django.utils import timezone

    from moyai.platform.audit import services as audit
    from moyai.platform.db.bulk import insert_values
    from moyai.residents.models import SupportMeasure, SupportMeasurePerson

    if not atena_nos:
        return 0
    on = today or timezone.localdate()
    now = timezone.now()
    ids = {a: new_id() for a in atena_nos}
    insert_values(
        SupportMeasure,
        (
            {"id": ids[a], "applicant": a, "status": "provisional", "received_on": on, "provisional_from": on,
             "periods": [], "affairs": [], "offender_name": "", "offender_atena_no": "", "note": MEASURE_NOTE,
             "end_reason": "", "created_by": actor.label, "created_at": now, "updated_by": "", "temp_by": "",
             "temp_reason": ""}
            for a in atena_nos
        ),
    )
    insert_values(
        SupportMeasurePerson, ({"measure_id": ids[a], "atena_no": a, "role": "applicant", "relationship": ""} for a in atena_nos)
    )
    audit.record(
        actor,
        "support_measure.register",
        atena_nos,
        detail={"source": "portability.import", "status": "provisional", "received_on": on.isoformat(),
                "measures": len(atena_nos)},
    )
    return len(atena_nos)


def import_fileset(
    tenant_code: str,
    directory: str | Path,
    *,
    gaiji_map: GaijiMap | Path | str | None = None,
    progress: ProgressCallback = _no_progress,
    actor: Any = None,
    today: dt.date | None = None,
) -> ImportResult:
    """Check the file set in ``directory`` and, when there is no problem, write it into the empty
    団体 ``tenant_code``.  ``result.problems`` lists every problem; nothing is written if any."""
    from django.db import connection

    from .gaiji import GaijiMapError, load_gaiji_map

    mapping: GaijiMap | None
    if gaiji_map is None or isinstance(gaiji_map, GaijiMap):
        mapping = gaiji_map
    else:
        try:
            mapping = load_gaiji_map(gaiji_map)
        except GaijiMapError as exc:
            return ImportResult(tenant_code, str(directory), exc.problems, ImportCounts(), ImportCounts(), [], {},
                                gaiji_map=Path(gaiji_map).name)
    refused = check_tenant(tenant_code)
    if refused:
        return ImportResult(tenant_code, str(directory), refused, ImportCounts(), ImportCounts(), [], {})
    with no_gc():
        if connection.vendor != "postgresql":
            # SQLite: one process does all the work, so writing while checking hides nothing
            prepared = prepare_fileset(tenant_code, directory, gaiji_map=mapping, progress=progress)
            if prepared.result.problems:
                return prepared.result
            return write_prepared(prepared, actor=actor, progress=progress, today=today)
        try:
            return _check_and_write(tenant_code, directory, mapping, progress, actor, today)
        except _Discarded as exc:
            return exc.result


class _Discarded(Exception):
    """A problem was found: whatever the import wrote meanwhile is rolled back."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__("problems were found")
        self.result = result


def _check_and_write(
    tenant_code: str,
    directory: str | Path,
    mapping: GaijiMap | None,
    progress: ProgressCallback,
    actor: Any,
    today: dt.date | None,
) -> ImportResult:
    """Check the files and write them in one transaction of the 団体: each person's 異動 go to a
    :class:`~moyai.residents.services.HistoryLoader` as soon as they are rebuilt (while nothing is
    wrong so far), so on PostgreSQL the server writes one part while the next is checked.  Any
    problem, found at any point, rolls everything back (:class:`_Discarded`): nothing is written."""
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents.services import HistoryLoader

    with tenant_scope(tenant_code):
        refused = _lock_empty_tenant(tenant_code)
        if refused:
            return ImportResult(tenant_code, str(directory), refused, ImportCounts(), ImportCounts(), [], {})
        with HistoryLoader(today=today) as loader:
            prepared = prepare_fileset(tenant_code, directory, gaiji_map=mapping, progress=progress,
                                       on_person=loader.add)
            result = prepared.result
            if result.problems:
                raise _Discarded(result)
            # the parts were written during the check: its time is both (the import's 所要時間)
            result.seconds["check+write"] = result.seconds.pop("check")
            t0 = time.perf_counter()
            progress("書き込み", 0, None)
            summary = loader.finish(
                next_atena_seq=prepared.next_atena_seq, next_household_seq=prepared.next_household_seq
            )
        _write_rest(prepared, summary, actor, today)
    result.seconds["finish"] = time.perf_counter() - t0  # the last part, 世帯, access log, commit
    progress("書き込み", 1, 1)
    return result


@contextmanager
def no_gc() -> Iterator[None]:
    """Without the cyclic garbage collector: an import makes millions of small long-lived objects
    (rows, values, 異動) and no cycles to speak of, so its passes over them only cost time (a third
    of the import at 20,000 rows).  Reference counting still frees what is dropped."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()

