"""Export of a 団体's 住民記録 as a 中間標準レイアウト file set (``moyai export --tenant CODE DIR``).

Every 異動 of the 団体 — current residents, 除票 and their full history — goes into the 住民 file,
one row per 異動 (:func:`~moyai.portability.format.mapping.person_rows`).  Those rows are kept as
text per person (:mod:`moyai.portability.lines`, ADR 0005), so an export is mostly one ordered
read of that table: in one snapshot (REPEATABLE READ on PostgreSQL) the persons whose stored rows
are missing or stale are found in SQL and computed again (stored after the export; when there
are many, as after a bulk load, computed and stored first), the persons protected by a 支援措置
or 仮支援措置 on the day of the export (:func:`moyai.residents.selectors.support_measure_flags`)
are computed with 支援措置対象フラグ 1, and every other person's stored text is streamed into the
file (binary ``COPY … TO STDOUT`` on PostgreSQL, a ``SELECT`` on SQLite) together with the items
of the record the 世帯 file needs (:func:`~moyai.portability.fileset.write_stored_fileset`).
Deterministic: two exports of the same registry are byte-identical, whatever the day, as long as
no 支援措置 starts or ends in between — and the same bytes as computing every row
(:func:`~moyai.portability.fileset.write_fileset` of :func:`iter_histories`, which the tests
compare).

Everything runs inside ``tenant_scope`` (row-level security).  An export is an access to the
personal data of every person it writes: one access-log entry (``portability.export``) names them
all, with the purpose given, the directory, the encoding and the counts; a failed export is
logged with ``outcome="error"``.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from moyai.platform.audit import services as audit
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents.domain.model import MoveEvent, Status
from moyai.residents.models import Event, SupportMeasurePerson
from moyai.residents.selectors import support_measure_flags

from . import lines
from .fileset import ENCODINGS, FilesetError, FilesetSummary, write_stored_fileset
from .format.persons import HouseholdMember

__all__ = ["EXPORT_OPERATION", "ExportResult", "export_tenant", "iter_histories", "person_count", "protected"]

EXPORT_OPERATION: Final = "portability.export"
_CHUNK: Final = 5000
_OUT_CHUNK: Final = 1 << 18  # bytes of rows handed to the file writer at a time


@dataclass(frozen=True)
class ExportResult:
    summary: FilesetSummary
    seconds: float
    subjects: list[str] = field(repr=False)  # 宛名番号 written (and logged)


def person_count() -> int:
    """Persons with 異動 in the active 団体 (for a progress bar)."""
    return Event.objects.values("atena_no").distinct().count()


def protected(on: dt.date) -> set[str]:
    """宛名番号 of the persons of the active 団体 protected by a 支援措置 or 仮支援措置 on ``on``
    (:func:`moyai.residents.selectors.support_measure_flags` of everyone a 支援措置 names)."""
    named = set(SupportMeasurePerson.objects.values_list("atena_no", flat=True))
    return support_measure_flags(named, on) if named else set()


def iter_histories(subjects: list[str] | None = None) -> Iterator[tuple[str, list[MoveEvent]]]:
    """(宛名番号, 異動) of every person of the active 団体, by 宛名番号, streamed
    (:func:`.lines.all_events`).

    ``subjects``, when given, receives each 宛名番号 as it is yielded.
    """
    for atena, events in lines.all_events(_CHUNK):
        if subjects is not None:
            subjects.append(atena)
        yield atena, events


@contextmanager
def _snapshot() -> Iterator[None]:
    """One snapshot for the whole export on PostgreSQL (REPEATABLE READ), so that the stored lines,
    the records of the 世帯 file and the staleness check agree although they are several statements
    (SQLite: a transaction reads one snapshot already).  Inside an enclosing transaction (tests,
    onboarding) the export joins it as it is."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


class _Member(NamedTuple):
    """The items of a stored record the 世帯 file reads (:class:`~.format.persons.HouseholdMember`)."""

    atena_no: str
    status: str
    household_no: str | None
    relationship: str | None
    order_in_household: int | None
    postal_code: str | None
    address: str | None
    katagaki: str | None
    address_code: str | None


#: the types of :data:`_SELECT_LINES`' columns for psycopg's binary COPY reader
_PG_TYPES: Final = ("text", "bytea", "text", "text", "int4", "bool", "text", "text", "text", "text")
_SELECT_LINES: Final = (
    "SELECT atena_no, lines, status, household_no, order_in_household, head, postal_code, address, katagaki,"
    " address_code FROM portability_personlines WHERE tenant_code = %s ORDER BY atena_no"
)
#: at most this many persons with missing or stale lines are computed inside the export's snapshot
#: (and stored after it); more (a 団体 loaded by a path that stores none) are computed and stored
#: first, in a transaction of their own
IN_SNAPSHOT: int = 5000
#: how the stored lines are read on PostgreSQL: ``copy`` (COPY … TO STDOUT, binary) or ``cursor``
#: (a server-side cursor); both were measured (docs/performance.md)
PG_READ: str = "copy"
#: a stored row: 宛名番号, its lines (UTF-8), then the items of the record the 世帯 file needs
Stored = tuple[str, bytes, str, str, int | None, bool, str | None, str | None, str | None, str | None]


def _pg_copy_lines(code: str) -> Iterator[Stored]:
    """The stored rows from ``COPY (SELECT …) TO STDOUT (FORMAT binary)``, parsed by psycopg
    (``set_types``): no text escaping to undo. The lines column is loaded as ``bytea``: in binary
    COPY a ``text`` value is its UTF-8 bytes, which is what the file writer wants."""
    raw = connection.connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY ({_SELECT_LINES}) TO STDOUT (FORMAT binary)", (code,)) as copy:
        copy.set_types(_PG_TYPES)
        yield from copy.rows()


def _pg_cursor_lines(code: str) -> Iterator[Stored]:
    raw = connection.connection
    assert raw is not None
    with raw.cursor(name="moyai_export_lines") as cur:
        cur.itersize = _CHUNK
        cur.execute(_SELECT_LINES, (code,))
        for row in cur:
            yield (row[0], row[1].encode(), *row[2:])


def _sqlite_lines(code: str) -> Iterator[Stored]:
    with connection.cursor() as cur:
        cur.execute(_SELECT_LINES, [code])
        while rows := cur.fetchmany(_CHUNK):
            for row in rows:
                yield (row[0], row[1].encode(), row[2], row[3], row[4], bool(row[5]), *row[6:])


def stored_lines(code: str) -> Iterator[Stored]:
    """The stored rows of the active 団体 (:data:`Stored`), by 宛名番号."""
    if connection.vendor == "postgresql":
        return _pg_copy_lines(code) if PG_READ == "copy" else _pg_cursor_lines(code)
    return _sqlite_lines(code)


class _StoredExport:
    """The 住民 file from the stored lines; the persons whose lines are stale in this snapshot or
    who are protected by a 支援措置 today are computed again (``overrides``)."""

    def __init__(self, tenant_code: str, found: lines.Staleness, flagged: set[str]) -> None:
        self.code = tenant_code
        self.found = found
        self.flagged = flagged
        self.encoder = lines.LineEncoder(tenant_code)
        self.overrides: dict[str, lines.Computed | None] = dict.fromkeys(found.orphans)
        self.to_store: list[lines.Computed] = []  # stale persons, computed here: stored after the export
        self._members: list[HouseholdMember] = []
        self._by_status: dict[str, int] = {}
        self.written = 0

    def prepare(self) -> None:
        """Compute the overrides (by 宛名番号); a value the layout cannot hold raises
        :class:`FilesetError` naming the row it would have been written on.  The stale persons'
        rows without the flag are kept in ``to_store``."""
        stale = set(self.found.stale)
        wanted = sorted(stale | self.flagged)
        for atena, events in lines.events_of(wanted):
            try:
                c = self.encoder.person(atena, events, support_measure=atena in self.flagged)
                self.overrides[atena] = c
                if atena in stale:
                    self.to_store.append(c if atena not in self.flagged else self.encoder.person(atena, events))
            except lines.RowError as exc:
                row = self._rows_before(atena) + exc.index + 2
                raise FilesetError(exc.error.problem(self.encoder.spec.file_name, row)) from None

    def _rows_before(self, atena: str) -> int:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT atena_no, rows FROM portability_personlines WHERE tenant_code = %s AND atena_no < %s",
                [self.code, atena],
            )
            stored = sum(n for a, n in cur.fetchall() if a not in self.overrides)
        return stored + sum(c.rows for a, c in self.overrides.items() if c is not None and a < atena)

    def chunks(self, subjects: list[str], on_person: Callable[[], None] | None) -> Iterator[bytes]:
        """The rows of every person by 宛名番号 (UTF-8, in chunks); ``subjects`` receives each 宛名番号,
        and the records of the 世帯 file and the counts are gathered on the way (one read)."""
        pending = sorted(self.overrides)
        overrides = self.overrides
        members = self._members
        by_status = self._by_status
        resident = str(Status.RESIDENT)
        i = 0
        out: list[bytes] = []
        size = 0

        def emit_computed(c: lines.Computed) -> None:
            nonlocal size
            subjects.append(c.atena_no)
            data = c.lines.encode()
            out.append(data)
            size += len(data)
            final = c.final
            if final is not None:
                by_status[str(final.status)] = by_status.get(str(final.status), 0) + 1
                if final.status == resident and final.household_no:
                    members.append(final)
            if on_person is not None:
                on_person()

        for atena, data, status, hh, order, head, postal, address, katagaki, acode in stored_lines(self.code):
            while i < len(pending) and pending[i] < atena:
                c = overrides[pending[i]]
                if c is not None:
                    emit_computed(c)
                i += 1
            if atena in overrides:
                if i < len(pending) and pending[i] == atena:
                    c = overrides[atena]
                    if c is not None:
                        emit_computed(c)
                    i += 1
            else:
                subjects.append(atena)
                out.append(data)
                size += len(data)
                by_status[status] = by_status.get(status, 0) + 1
                if status == resident and hh:
                    members.append(
                        _Member(atena, status, hh, "世帯主" if head else None, order, postal, address, katagaki, acode)
                    )
                if on_person is not None:
                    on_person()
            if size >= _OUT_CHUNK:
                yield b"".join(out)
                out, size = [], 0
        for atena in pending[i:]:
            c = overrides[atena]
            if c is not None:
                emit_computed(c)
        if out:
            yield b"".join(out)

    def members(self) -> list[HouseholdMember]:
        """The records the 世帯 file is made of (gathered by :meth:`chunks`)."""
        return self._members

    def counts_of(self, subjects: list[str]) -> tuple[int, int, int]:
        """(persons, current residents, 除票) of what was written."""
        by_status = self._by_status
        return len(subjects), by_status.get(str(Status.RESIDENT), 0), by_status.get(str(Status.REMOVED), 0)


def export_tenant(
    tenant_code: str,
    directory: str | os.PathLike[str],
    *,
    actor: audit.Actor,
    purpose: str,
    encoding: str = "utf-8",
    on_person: Callable[[], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    on: dt.date | None = None,
) -> ExportResult:
    """Write the file set of ``tenant_code`` into ``directory``; audited as an access by ``actor``.

    ``on_total`` receives the number of persons before writing starts, ``on_person`` is called
    once per person written (progress bars).  支援措置対象フラグ is 1 on every row of a person
    protected by a 支援措置 or 仮支援措置 on ``on`` (default: today).  Raises
    :class:`~.fileset.FilesetError` (nothing written) for a stored value the layout or the
    encoding cannot hold.
    """
    if not purpose.strip():
        raise ValueError("出力の目的（利用目的）を指定してください")
    if encoding not in ENCODINGS:
        raise ValueError(f"出力の文字コード {encoding} は使えません（{'、'.join(ENCODINGS)}）")
    started = time.perf_counter()
    target = Path(directory)
    subjects: list[str] = []
    on = on or timezone.localdate()
    detail: dict[str, Any] = {"directory": str(target.resolve()), "encoding": encoding}
    refreshed = 0
    try:
        export: _StoredExport | None = None
        for attempt in (1, 2):
            with _snapshot(), tenant_scope(tenant_code):
                found = lines.stale_persons()
                if attempt == 1 and len(found.stale) > IN_SNAPSHOT:
                    export = None  # many (a 団体 loaded without lines): computed and stored first
                else:
                    if on_total is not None:
                        on_total(found.persons)
                    flagged = protected(on)
                    detail |= {
                        "support_measure_on": on.isoformat(),
                        "support_measure_persons": len(flagged),
                        "lines_recomputed": len(found.stale) + refreshed,
                    }
                    export = job = _StoredExport(tenant_code, found, flagged)
                    job.prepare()
                    summary = write_stored_fileset(
                        target,
                        tenant_code,
                        job.chunks(subjects, on_person),
                        job.members,
                        functools.partial(job.counts_of, subjects),
                        encoding=encoding,
                    )
                    detail |= {
                        "files": {f.file_name: {"rows": f.rows, "sha256": f.sha256} for f in summary.files},
                        "residents": summary.residents,
                        "removed": summary.removed,
                        "history_rows": summary.history_rows,
                        "households": summary.households,
                    }
                    audit.record(
                        actor, EXPORT_OPERATION, subjects, purpose=purpose, individual_number=True, detail=detail
                    )
            if export is not None:
                break
            # in chunks, each committed (a 本登録 storing one of them waits for a chunk, not for all);
            # whatever is still stale then is computed in the snapshot
            refreshed, _ = lines.refresh_stale(tenant_code)
        if export is not None and (export.to_store or export.found.orphans):
            # the few persons found stale in the snapshot: stored now, in a transaction of their own
            # (were they written to since, the next check finds them stale again)
            with tenant_scope(tenant_code):
                lines.store(export.to_store, drop=export.found.orphans)
    except FilesetError as exc:
        with tenant_scope(tenant_code):
            detail |= {"error": exc.problem.reason_ja, "file": exc.problem.file, "row": exc.problem.row}
            audit.record(actor, EXPORT_OPERATION, subjects, purpose=purpose, outcome="error", detail=detail)
        raise
    return ExportResult(summary, time.perf_counter() - started, subjects)
