"""The stored lines of the 住民 file: each person's history rows, encoded once, kept in the database.

An export of a 団体 is mostly the 住民 file (``JYUKI_KOJIN.csv``): one row of 61 items per 異動
of every person.  A person's rows depend only on that person's 異動 (and the 団体コード), except
the 支援措置対象フラグ, which is decided on the day of the export.  So each person's rows are kept
as text in :class:`~moyai.portability.models.PersonLines` (ADR 0005), with the flag empty, and an
export becomes a streamed read of that table (``COPY … TO STDOUT`` on PostgreSQL) plus the small
世帯 and code files.

Correctness does not depend on any write path keeping them up to date:

- each row records what it was computed from: the number of the person's 異動 and the latest id
  among them.  The 異動 store is append-only, so a person's rows are stale exactly when these
  differ from the store's; :func:`stale_persons` finds every such person (and every person with
  異動 but no row, and every row without 異動) in one SQL statement;
- they are recomputed with the export's own code
  (:func:`~moyai.portability.format.mapping.person_rows`, then the encoder that checks every
  value) by every export (:mod:`moyai.portability.exporter`: inside its snapshot when they are
  few, by :func:`refresh_stale` before it when they are many, a committed chunk at a time).

They are also kept up to date where it is cheap: after a 本登録 (:func:`on_recorded`, a receiver
of ``moyai.residents.signals.recorded``, in the 本登録's transaction).  Bulk loads (the import,
the demo) store none: computing them there would make an import about a third slower (measured,
docs/performance.md), so the first export after a load computes and stores them.  A person whose
rows hold a value the layout cannot (an export would refuse it) gets no stored row: each export
recomputes them and reports the value where the old path did.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.db import IntegrityError, connection, transaction

from moyai.platform.tenancy.scope import current_tenant_code, tenant_scope
from moyai.residents.domain.model import MoveEvent, PersonState, Status
from moyai.residents.models import Event

from .format.codecs import FieldError
from .format.csvio import row_encoder
from .format.layout import Layout, load_layout
from .format.mapping import person_rows
from .format.persons import RESIDENT_FILE
from .models import PersonLines

__all__ = [
    "LINES_FORMAT",
    "Computed",
    "LineEncoder",
    "RowError",
    "Staleness",
    "all_events",
    "events_of",
    "on_recorded",
    "refresh",
    "refresh_stale",
    "stale_persons",
    "store",
    "version",
]

#: Bump when the code that turns 異動 into rows or rows into text changes what it writes: every
#: stored row then counts as stale (so does a change of the layout's files or code lists).
LINES_FORMAT: Final = "1"
_IN_CHUNK: Final = 500  # 宛名番号 per ``IN (…)`` (SQLite's parameter limit)
_STORE_CHUNK: Final = 5000
_EVENT_COLUMNS: Final = (
    "event_id",
    "atena_no",
    "kind",
    "reason_code",
    "effective_date",
    "notified_date",
    "recorded_at",
    "staff",
    "changes",
    "group_id",
    "cancels",
)


@functools.cache
def version() -> str:
    """What the stored rows were computed by: :data:`LINES_FORMAT` and the layout."""
    lay = load_layout()
    text = repr((LINES_FORMAT, lay.version, lay.files, lay.code_lists))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class RowError(Exception):
    """A value of row ``index`` (0-based, among the person's rows) the layout cannot hold."""

    def __init__(self, error: FieldError, index: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.index = index


@dataclass(frozen=True)
class Computed:
    """One person's rows of the 住民 file as text, and what they were computed from."""

    atena_no: str
    lines: str  # CSV rows, CRLF after each
    rows: int
    event_count: int
    last_event_id: int
    final: PersonState | None  # the record with every 異動 applied

    def values(self) -> dict[str, Any]:
        """The :class:`~.models.PersonLines` row (for :func:`moyai.platform.db.bulk.insert_values`)."""
        s = self.final
        member = s is not None and s.status == Status.RESIDENT and bool(s.household_no)
        return {
            "atena_no": self.atena_no,
            "lines": self.lines,
            "rows": self.rows,
            "event_count": self.event_count,
            "last_event_id": self.last_event_id,
            "version": version(),
            "status": str(s.status) if s is not None else "",
            "household_no": (s.household_no or "") if s is not None else "",
            "order_in_household": s.order_in_household if member and s is not None else None,
            "head": bool(member and s is not None and s.relationship == "世帯主"),
            "postal_code": s.postal_code if member and s is not None else None,
            "address": s.address if member and s is not None else None,
            "katagaki": s.katagaki if member and s is not None else None,
            "address_code": s.address_code if member and s is not None else None,
        }


class LineEncoder:
    """Encodes persons' rows of the 住民 file exactly as the file writer does (every value checked,
    each distinct value of an item encoded once, RFC 4180 quoting, CRLF)."""

    def __init__(self, tenant_code: str, layout: Layout | None = None) -> None:
        self.tenant_code = tenant_code
        self.layout = layout or load_layout()
        self.spec = self.layout.file(RESIDENT_FILE)
        self._encode = row_encoder(self.spec)
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def header(self) -> str:
        self._writer.writerow(self.spec.header)
        return self._take()

    def _take(self) -> str:
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return text

    def person(self, atena_no: str, events: Sequence[MoveEvent], *, support_measure: bool = False) -> Computed:
        """Raises :class:`RowError` for a value the layout cannot hold."""
        rows, final = person_rows(
            events, tenant_code=self.tenant_code, support_measure=support_measure, layout=self.layout
        )
        texts: list[list[str]] = []
        encode = self._encode
        for index, values in enumerate(rows):
            try:
                texts.append(encode(values))
            except FieldError as exc:
                self._take()
                raise RowError(exc, index) from None
        self._writer.writerows(texts)
        return Computed(
            atena_no=atena_no,
            lines=self._take(),
            rows=len(rows),
            event_count=len(events),
            last_event_id=max(e.event_id for e in events),
            final=final,
        )


# --- reading 異動 --------------------------------------------------------------------------------------


def _event(row: tuple[Any, ...]) -> MoveEvent:
    event_id, atena, kind, reason, eff, notified, recorded, staff, changes, group, cancels = row
    return MoveEvent(
        event_id=event_id,
        atena_no=atena,
        kind=kind,
        reason_code=reason,
        effective_date=eff,
        notified_date=notified,
        recorded_at=recorded,
        staff=staff,
        changes=changes,
        group_id=group,
        cancels=cancels,
    )


def events_of(atena_nos: Iterable[str], *, dense: bool = False) -> Iterator[tuple[str, list[MoveEvent]]]:
    """(宛名番号, 異動) of these persons of the active 団体, by 宛名番号 (persons without 異動 left out).

    ``dense``: they are most of the persons between the first and the last of them (a 団体 loaded
    without lines): one ordered range read, the others' rows skipped, instead of ``IN`` lists of
    :data:`_IN_CHUNK` (a third faster then)."""
    wanted = sorted(set(atena_nos))
    if dense and wanted:
        chosen = set(wanted)
        rows = Event.objects.filter(atena_no__gte=wanted[0], atena_no__lte=wanted[-1]).order_by("atena_no")
        yield from _grouped(row for row in rows.values_list(*_EVENT_COLUMNS) if row[1] in chosen)
        return
    for start in range(0, len(wanted), _IN_CHUNK):
        part = wanted[start : start + _IN_CHUNK]
        by_person: dict[str, list[MoveEvent]] = {}
        for row in Event.objects.filter(atena_no__in=part).values_list(*_EVENT_COLUMNS):
            by_person.setdefault(row[1], []).append(_event(row))
        for atena in sorted(by_person):
            yield atena, by_person[atena]


def all_events(chunk: int = 5000) -> Iterator[tuple[str, list[MoveEvent]]]:
    """(宛名番号, 異動) of every person of the active 団体, by 宛名番号, streamed."""
    yield from _grouped(Event.objects.order_by("atena_no").values_list(*_EVENT_COLUMNS).iterator(chunk_size=chunk))


def _grouped(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[str, list[MoveEvent]]]:
    """(宛名番号, 異動) from 異動 rows ordered by 宛名番号."""
    current: str | None = None
    events: list[MoveEvent] = []
    for row in rows:
        if row[1] != current:
            if current is not None:
                yield current, events
            current, events = row[1], []
        events.append(_event(row))
    if current is not None:
        yield current, events


# --- staleness -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staleness:
    """What :func:`stale_persons` found (宛名番号, sorted)."""

    stale: list[str]  # 異動 but no row, or a row computed from other 異動
    orphans: list[str]  # a row but no 異動 (cannot happen while the store is append-only)
    stored: int  # rows in the table
    replaced: list[str]  # the stale persons that have a (stale) row

    @property
    def persons(self) -> int:
        """Persons with 異動."""
        return self.stored - len(self.orphans) + len(self.stale) - len(self.replaced)


# a LEFT JOIN onto the table (its key serves each person) and NOT EXISTS onto the 異動 index: a FULL
# JOIN of two derived tables was a nested loop on SQLite (minutes for 50,000 persons)
_STALE_SQL: Final = (
    "SELECT e.atena_no, p.atena_no FROM ("
    " SELECT atena_no, count(*) AS n, max(event_id) AS last FROM residents_event"
    " WHERE tenant_code = %s GROUP BY atena_no) e"
    " LEFT JOIN portability_personlines p ON p.tenant_code = %s AND p.atena_no = e.atena_no"
    " WHERE p.atena_no IS NULL OR p.event_count <> e.n OR p.last_event_id <> e.last OR p.version <> %s"
)
_ORPHANS_SQL: Final = (
    "SELECT p.atena_no FROM portability_personlines p WHERE p.tenant_code = %s AND NOT EXISTS"
    " (SELECT 1 FROM residents_event e WHERE e.tenant_code = p.tenant_code AND e.atena_no = p.atena_no)"
)


def stale_persons() -> Staleness:
    """Every person of the active 団体 whose stored lines are missing or were computed from other 異動
    than the store holds now, and every stored row without 異動 — set-wise, in two SQL statements."""
    code = current_tenant_code()
    stale: list[str] = []
    orphans: list[str] = []
    replaced: list[str] = []
    with connection.cursor() as cur:
        cur.execute(_STALE_SQL, [code, code, version()])
        for atena, has_row in cur.fetchall():
            stale.append(atena)
            if has_row is not None:
                replaced.append(has_row)
        cur.execute(_ORPHANS_SQL, [code])
        orphans.extend(a for (a,) in cur.fetchall())
        cur.execute("SELECT count(*) FROM portability_personlines WHERE tenant_code = %s", [code])
        stored = cur.fetchone()[0]
    return Staleness(sorted(stale), sorted(orphans), stored, sorted(replaced))


# --- writing ---------------------------------------------------------------------------------------------


def _delete(atena_nos: Sequence[str]) -> None:
    wanted = sorted(set(atena_nos))
    for start in range(0, len(wanted), _IN_CHUNK):
        PersonLines.objects.filter(atena_no__in=wanted[start : start + _IN_CHUNK]).delete()


_UPDATED: Final = [
    f.name for f in PersonLines._meta.concrete_fields if f.name not in ("tenant", "atena_no") and not f.primary_key
]


def store(computed: Iterable[Computed], *, replace: bool = True, drop: Sequence[str] = ()) -> int:
    """Write (or, with ``replace``, rewrite) these persons' rows in the active 団体; delete the rows
    of ``drop``."""
    from moyai.platform.db.bulk import insert_values

    if drop:
        _delete(drop)
    n = 0
    batch: list[Computed] = []

    def flush() -> None:
        nonlocal n
        if replace:  # an upsert: a concurrent writer of the same person (a 本登録) waits, never fails
            rows = [PersonLines(**c.values()) for c in batch]
            PersonLines.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["tenant", "atena_no"], update_fields=_UPDATED
            )
            n += len(rows)
        else:
            n += insert_values(PersonLines, (c.values() for c in batch))

    for c in computed:
        batch.append(c)
        if len(batch) >= _STORE_CHUNK:
            flush()
            batch = []
    if batch:
        flush()
    return n


def _computed(
    histories: Iterable[tuple[str, Sequence[MoveEvent]]],
    encoder: LineEncoder,
    skipped: list[str],
) -> Iterator[Computed]:
    for atena, events in histories:
        if not events:
            continue
        try:
            yield encoder.person(atena, events)
        except RowError:
            skipped.append(atena)  # no row: an export recomputes them and reports the value


def refresh(atena_nos: Iterable[str] | None = None, *, layout: Layout | None = None) -> tuple[int, list[str]]:
    """Recompute and store the lines of these persons of the active 団体, in its transaction
    (default: every stale one, :func:`refresh_stale`).  Returns (rows stored, 宛名番号 left
    without a row because a value cannot be written)."""
    if atena_nos is None:
        return refresh_stale(current_tenant_code(), layout=layout)
    encoder = LineEncoder(current_tenant_code(), layout)
    skipped: list[str] = []
    n = store(_computed(events_of(atena_nos), encoder, skipped))
    if skipped:
        _delete(skipped)
    return n, skipped


def refresh_stale(
    tenant_code: str, *, layout: Layout | None = None, chunk: int = _STORE_CHUNK
) -> tuple[int, list[str]]:
    """Recompute and store the lines of every stale person of ``tenant_code`` (:func:`stale_persons`)
    and drop the rows without 異動, ``chunk`` persons (by 宛名番号) per transaction.

    Called outside a transaction (the export, before its snapshot), each chunk commits on its own:
    a 本登録 that stores the line of a person of the chunk being written waits for that chunk only
    (seconds), not for the whole 団体 (a minute after a bulk load of 周南市), and what was stored
    stays stored if a later chunk fails.  Inside a transaction the chunks are savepoints of it.
    A chunk whose plain ``INSERT`` meets a row a 本登録 committed meanwhile (it keeps its
    persons' lines) is written again as an upsert: a line computed from older 異動 than the
    store's then records them and is found stale by the next check.  Returns (rows stored,
    宛名番号 left without a row because a value cannot be written).
    """
    encoder = LineEncoder(tenant_code, layout)
    skipped: list[str] = []
    with tenant_scope(tenant_code):
        found = stale_persons()
        if found.orphans:
            _delete(found.orphans)
    replaced = set(found.replaced)
    dense = len(found.stale) * 4 > max(found.persons, 1)  # most of them (after a bulk load)
    n = 0

    def write(part: list[str], *, replace: bool) -> tuple[int, list[str]]:
        left_out: list[str] = []
        _delete([a for a in part if a in replaced])
        return store(_computed(events_of(part, dense=dense), encoder, left_out), replace=replace), left_out

    for start in range(0, len(found.stale), chunk):
        part = found.stale[start : start + chunk]
        with tenant_scope(tenant_code):
            try:
                with transaction.atomic():
                    stored, left_out = write(part, replace=False)
            except IntegrityError:  # a 本登録 stored one of them since the check
                stored, left_out = write(part, replace=True)
        n += stored
        skipped.extend(left_out)
    return n, skipped


def on_recorded(sender: object, tenant_code: str, changes: Sequence[Any], **kwargs: Any) -> None:
    """Receiver of ``moyai.residents.signals.recorded``: after a 本登録, in its transaction, the lines
    of the persons it appended 異動 to.  (A 支援措置 change appends none: the flag is decided at
    export.)"""
    if sender is not Event or not changes:
        return
    refresh([c.atena_no for c in changes])
