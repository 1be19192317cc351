"""Writing and reading the access log. Every read or write of personal data calls ``record``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.utils import timezone

from moyai.platform.tenancy.scope import tenant_scope

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
    """Append one access-log entry (inside the caller's tenant scope and transaction)."""
    atena = sorted(set(subjects))
    now = timezone.now()
    log = AccessLog.objects.create(
        at=now,
        actor=actor.label,
        actor_kind=actor.kind,
        operation=operation,
        purpose=purpose[:200],
        outcome=outcome,
        request_id=current_request_id(),
        terminal=terminal_var.get()[:64],
        subject_count=len(atena),
        individual_number=individual_number,
        detail=detail or {},
    )
    if atena:
        AccessLogSubject.objects.bulk_create(
            [AccessLogSubject(atena_no=a, log_id=log.id, at=now) for a in atena], batch_size=1000
        )
    return log


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
