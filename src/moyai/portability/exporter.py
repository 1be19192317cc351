"""Export of a 団体's 住民記録 as a 中間標準レイアウト file set (``moyai export --tenant CODE DIR``).

Every 異動 of the 団体 — current residents, 除票 and their full history — is read from the
append-only store in one streamed query ordered by 宛名番号 (a server-side cursor on PostgreSQL,
chunked fetches on SQLite; no query per person), grouped per person as it arrives and written
by :func:`~moyai.portability.fileset.write_fileset` (every file of the layout, deterministic:
two exports of the same registry are byte-identical, whatever the day, as long as no 支援措置
starts or ends in between).  Each person's rows come from one pass over their history
(:func:`~moyai.portability.format.mapping.person_rows`).  支援措置対象フラグ is 1 on every row of a
person protected by a 支援措置 or 仮支援措置 on the day of the export
(:func:`moyai.residents.selectors.support_measure_flags`).

The whole read runs in one transaction inside ``tenant_scope`` (one consistent snapshot under
row-level security).  An export is an access to the personal data of every person it writes:
one access-log entry (``portability.export``) names them all, with the purpose given, the
directory, the encoding and the counts; a failed export is logged with ``outcome="error"``.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from django.utils import timezone

from moyai.platform.audit import services as audit
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents.domain.model import MoveEvent
from moyai.residents.models import Event, SupportMeasurePerson
from moyai.residents.selectors import support_measure_flags

from .fileset import FilesetError, FilesetSummary, write_fileset

__all__ = ["EXPORT_OPERATION", "ExportResult", "export_tenant", "iter_histories", "person_count", "protected"]

EXPORT_OPERATION: Final = "portability.export"
_CHUNK: Final = 5000
_COLUMNS: Final = (
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
    """(宛名番号, 異動) of every person of the active 団体, by 宛名番号, streamed.

    ``subjects``, when given, receives each 宛名番号 as it is yielded.
    """
    rows = Event.objects.order_by("atena_no").values_list(*_COLUMNS).iterator(chunk_size=_CHUNK)
    current: str | None = None
    events: list[MoveEvent] = []
    for event_id, atena, kind, reason, eff, notified, recorded, staff, changes, group, cancels in rows:
        if atena != current:
            if current is not None:
                if subjects is not None:
                    subjects.append(current)
                yield current, events
            current, events = atena, []
        events.append(
            MoveEvent(
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
        )
    if current is not None:
        if subjects is not None:
            subjects.append(current)
        yield current, events


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
    started = time.perf_counter()
    target = Path(directory)
    subjects: list[str] = []
    on = on or timezone.localdate()
    detail: dict[str, Any] = {"directory": str(target.resolve()), "encoding": encoding}
    try:
        with tenant_scope(tenant_code):
            if on_total is not None:
                on_total(person_count())
            flagged = protected(on)
            detail |= {"support_measure_on": on.isoformat(), "support_measure_persons": len(flagged)}
            summary = write_fileset(
                target,
                tenant_code,
                iter_histories(subjects),
                encoding=encoding,
                on_person=on_person,
                support_measure=flagged,
            )
            detail |= {
                "files": {f.file_name: {"rows": f.rows, "sha256": f.sha256} for f in summary.files},
                "residents": summary.residents,
                "removed": summary.removed,
                "history_rows": summary.history_rows,
                "households": summary.households,
            }
            audit.record(actor, EXPORT_OPERATION, subjects, purpose=purpose, individual_number=True, detail=detail)
    except FilesetError as exc:
        with tenant_scope(tenant_code):
            detail |= {"error": exc.problem.reason_ja, "file": exc.problem.file, "row": exc.problem.row}
            audit.record(actor, EXPORT_OPERATION, subjects, purpose=purpose, outcome="error", detail=detail)
        raise
    return ExportResult(summary, time.perf_counter() - started, subjects)
