"""Writing and reading the access log. Every read or write of personal data calls ``record``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from django.db import connection
from django.utils import timezone

from moyai.platform.ids import new_id
from moyai.platform.tenancy.scope import current_tenant_code, tenant_scope

from .context import current_request_id, terminal_var
from .models import AccessLog, AccessLogSubject


class Actor(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def kind(self) -> str: ...


def record(
    actor: Actor,
    operation: str,
    subjects: Iterable[str] = (),
    *,
    purpose: str = "",
    outcome: str = "ok",
    individual_number: bool = False,
    detail: dict[str, Any] | None = None,
) -> AccessLog:
    """Append one access-log entry (inside the caller's tenant scope and transaction).

    Written with plain SQL (:func:`entry_statements`: one statement on PostgreSQL, two on SQLite)
    rather than ``Model.save``/``bulk_create``, whose CPU cost was most of a small read's; the
    returned :class:`AccessLog` is the row as stored (not re-read).
    """
    pending, atena = new_entry(actor, operation, subjects, tenant_code=current_tenant_code(), purpose=purpose,
                               outcome=outcome, individual_number=individual_number, detail=detail)
    with connection.cursor() as cur:
        for sql, params in entry_statements(connection.vendor, pending, atena,
                                            at=connection.ops.adapt_datetimefield_value(pending.at)):
            cur.execute(sql, params)
    entry = AccessLog(**dataclasses.asdict(pending))
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


@dataclass(slots=True)
class PendingEntry:
    """An access-log entry not yet stored: the columns of :class:`AccessLog` (same names), without
    building the model instance (≈ 9 µs of ``Model.__init__``, on the gateway's hot path)."""

    tenant_id: str
    id: int
    at: dt.datetime
    actor: str
    actor_kind: str
    operation: str
    purpose: str
    outcome: str
    request_id: str
    terminal: str
    subject_count: int
    individual_number: bool
    detail: dict[str, Any]


def new_entry(
    actor: Actor,
    operation: str,
    subjects: Iterable[str] = (),
    *,
    tenant_code: str,
    purpose: str = "",
    outcome: str = "ok",
    individual_number: bool = False,
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> tuple[PendingEntry, list[str]]:
    """An access-log entry not yet stored, and its subjects (sorted, unique), for :func:`entry_statements`."""
    atena = sorted(set(subjects))
    entry = PendingEntry(
        tenant_id=tenant_code,
        id=new_id(),
        at=timezone.now(),
        actor=actor.label,
        actor_kind=actor.kind,
        operation=operation,
        purpose=purpose[:200],
        outcome=outcome,
        request_id=(request_id or current_request_id())[:64],
        terminal=terminal_var.get()[:64],
        subject_count=len(atena),
        individual_number=individual_number,
        detail=detail or {},
    )
    return entry, atena


_LOG_COLUMNS = ("tenant_code, id, at, actor, actor_kind, operation, purpose, outcome, request_id, terminal, "
                "subject_count, individual_number, detail")


def entry_statements(vendor: str, entry: PendingEntry, atena: Sequence[str], *, at: Any = None) -> list[tuple[str, list[Any]]]:
    """The SQL that stores one access-log entry and its subjects (``%s`` placeholders).

    For callers that write on their own connection inside the 団体's scope (the gateway's
    asynchronous pool sets ``moyai.tenant`` itself): PostgreSQL gets one statement (the entry and
    its subjects via ``unnest``), other databases two. ``atena`` must be sorted and unique;
    ``entry.subject_count`` must be its length; ``at`` is the time as the driver takes it
    (default ``entry.at``).
    """
    when = entry.at if at is None else at
    values = [entry.tenant_id, entry.id, when, entry.actor, entry.actor_kind, entry.operation, entry.purpose,
              entry.outcome, entry.request_id, entry.terminal, entry.subject_count, entry.individual_number,
              json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)]
    if vendor == "postgresql":
        sql = (f"WITH l AS (INSERT INTO audit_accesslog ({_LOG_COLUMNS}) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)) "
               "INSERT INTO audit_accesslogsubject (tenant_code, atena_no, log_id, at) "
               "SELECT %s, a, %s, %s FROM unnest(%s::text[]) AS a")
        return [(sql, [*values, entry.tenant_id, entry.id, when, list(atena)])]
    statements = [(f"INSERT INTO audit_accesslog ({_LOG_COLUMNS}) "
                   "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", values)]
    for start in range(0, len(atena), 1000):  # 4,000 parameters a statement: within SQLite's limit
        chunk = atena[start:start + 1000]
        rows = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
        statements.append((f"INSERT INTO audit_accesslogsubject (tenant_code, atena_no, log_id, at) VALUES {rows}",
                           [v for a in chunk for v in (entry.tenant_id, a, entry.id, when)]))
    return statements


#: the arguments of the PostgreSQL function ``audit_record_entries`` (migration 0005), in the order of
#: :func:`entries_arrays`: one array per column of the entries (13), then of their subjects (4)
RECORD_ENTRIES_ARGS: Final = (
    "%b::text[], %b::bigint[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::integer[], %b::boolean[], %b::jsonb[], "
    "%b::text[], %b::text[], %b::bigint[], %b::timestamptz[]")


def entries_arrays(entries: Sequence[tuple[PendingEntry, Sequence[str]]]) -> list[list[Any]]:
    """The arguments of ``audit_record_entries`` for these entries (of any 団体): one list per column.

    Each ``atena`` sorted and unique, ``subject_count`` its length. The function inserts each
    団体's rows with the transaction's scope set to that 団体 (row-level security checks every row),
    then sets the caller's scope again. The arrays are sent in binary (``%b`` marks, so a psycopg
    cursor with server-side binding, not Django's client-side one): psycopg dumps a text array
    element by element through a regular expression (about 65 µs per row of a dozen columns,
    measured), a binary one without it.
    """
    columns: list[list[Any]] = [[] for _ in range(13)]
    subjects: list[list[Any]] = [[], [], [], []]
    for e, atena in entries:
        for column, value in zip(columns, (
                e.tenant_id, e.id, e.at, e.actor, e.actor_kind, e.operation, e.purpose, e.outcome, e.request_id,
                e.terminal, e.subject_count, e.individual_number,
                json.dumps(e.detail, ensure_ascii=False, sort_keys=True)), strict=True):
            column.append(value)
        for a in atena:
            for column, value in zip(subjects, (e.tenant_id, a, e.id, e.at), strict=True):
                column.append(value)
    return [*columns, *subjects]


def entries_statement(entries: Sequence[tuple[PendingEntry, Sequence[str]]]) -> tuple[str, list[Any]]:
    """PostgreSQL: one statement that stores these entries and their subjects, whatever their number
    and their 団体 (:func:`entries_arrays`)."""
    return f"SELECT audit_record_entries({RECORD_ENTRIES_ARGS})", entries_arrays(entries)


def record_denied(tenant_code: str, actor: Actor, operation: str, reason: str, subjects: Sequence[str] = ()) -> None:
    """Record a refused attempt in its own transaction (the refused work was rolled back)."""
    with tenant_scope(tenant_code):
        record(actor, operation, subjects, outcome="denied", detail={"reason": reason})


@dataclass(frozen=True)
class LogEntry:
    id: int
    at: dt.datetime
    actor: str
    operation: str
    purpose: str
    outcome: str
    request_id: str
    subject_count: int


def _entry(row: AccessLog) -> LogEntry:
    return LogEntry(row.id, row.at, row.actor, row.operation, row.purpose, row.outcome, row.request_id, row.subject_count)


def entries_for_resident(atena_no: str, limit: int = 200) -> list[LogEntry]:
    ids = list(
        AccessLogSubject.objects.filter(atena_no=atena_no).order_by("-at", "-log_id").values_list("log_id", flat=True)[
            :limit
        ]
    )
    rows = AccessLog.objects.filter(id__in=ids).order_by("-at", "-id")
    return [_entry(r) for r in rows]


def entries_for_actor(actor_label: str, limit: int = 200) -> list[LogEntry]:
    rows = AccessLog.objects.filter(actor=actor_label).order_by("-at", "-id")[:limit]
    return [_entry(r) for r in rows]
