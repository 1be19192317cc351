"""抑止 and 支援措置: setting, releasing, renewing (services) and the facts the checks read.

Each public function runs inside the caller's 団体 scope and transaction. Rules are in
:mod:`moyai.residents.domain.suppression`; this module reads and writes rows and the access log.

Blocked attempts (a search hit hidden, a view, an issuance or a 異動 refused) are written to the
access log with ``outcome="blocked"`` and operation ``blocked:<process>``; the tenant's admin lists
them with :func:`moyai.residents.selectors.blocked_attempts`. A refusal that raises is a
:class:`SuppressionError`: its work is rolled back, so the API writes its log entry afterwards
in a transaction of its own (:meth:`SuppressionError.record`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db.models import Q
from django.utils import timezone

from moyai.platform.audit import services as audit
from moyai.platform.audit.models import AccessLog
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.scope import current_tenant_code, tenant_scope

from . import signals
from .domain import suppression as rules
from .domain.rules import Level
from .domain.suppression import (
    MeasureFacts,
    MeasureStatus,
    PeriodError,
    Process,
    SuppressionFacts,
    TargetKind,
    TemporaryRelease,
)
from .errors import RegistryError
from .models import Household, Resident, SupportMeasure, SupportMeasurePerson, Suppression

#: The right to know who is protected by a 支援措置 (find them, view them, see the measure).
VIEW_RIGHT = "support_measure.view"


class SuppressionErrorCode(StrEnum):
    INVALID_INPUT = "suppression.invalid_input"
    NOT_FOUND = "suppression.not_found"
    INVALID_STATE = "suppression.invalid_state"
    SUPPRESSED = "suppression.suppressed"


@dataclass(frozen=True)
class BlockedAttempt:
    """A blocked attempt waiting to be written to the access log."""

    tenant_code: str
    actor: Principal
    process: str  # search / inquiry / issuance / move
    subjects: tuple[str, ...]
    detail: dict[str, Any] = field(default_factory=dict)


class SuppressionError(RegistryError):
    """A refusal because of a 抑止 or a 支援措置; carries the blocked attempt to log after rollback.

    ``logged_id``: the access-log row already written where the refusal was raised (it survives
    when the caller catches the error inside its transaction, and is rolled back otherwise).
    """

    def __init__(self, code: str, message: str, *, blocked: BlockedAttempt, status: int = 403,
                 field: str | None = None, findings: list[dict[str, Any]] | None = None,
                 logged_id: int | None = None) -> None:
        super().__init__(code, message, status=status, field=field, findings=findings)
        self.blocked = blocked
        self.logged_id = logged_id

    def record(self) -> None:
        """Make sure the blocked attempt is in the access log: call it once the work is over (the
        API does). Writes it in a transaction of its own unless the row written at the refusal
        survived."""
        b = self.blocked
        with tenant_scope(b.tenant_code):
            if self.logged_id is not None and AccessLog.objects.filter(id=self.logged_id).exists():
                return
            self.logged_id = record_blocked(b).id


def blocked(actor: Principal, process: str, subjects: Iterable[str], **detail: Any) -> BlockedAttempt:
    return BlockedAttempt(current_tenant_code(), actor, process, tuple(sorted(set(subjects))), detail)


def record_blocked(b: BlockedAttempt) -> AccessLog:
    return audit.record(b.actor, f"blocked:{b.process}", b.subjects, outcome="blocked", detail=b.detail)


def refuse(code: str, message: str, b: BlockedAttempt, **kw: Any) -> SuppressionError:
    """Log a blocked attempt now and return the error to raise (see :class:`SuppressionError`)."""
    return SuppressionError(code, message, blocked=b, logged_id=record_blocked(b).id, **kw)


def _bad(message: str, field: str) -> RegistryError:
    return RegistryError(SuppressionErrorCode.INVALID_INPUT, message, field=field)


def _period(exc: PeriodError) -> RegistryError:
    return RegistryError(SuppressionErrorCode.INVALID_INPUT, exc.message, field=exc.field)


# ------------------------------------------------------------------ facts


def _release(row: Suppression | SupportMeasure) -> TemporaryRelease | None:
    if row.temp_from is None or row.temp_until is None:
        return None
    return TemporaryRelease(row.temp_from, row.temp_until)


def _release_for_a_while(actor: Principal, row: Suppression | SupportMeasure, *, reason: str, missing: str,
                         minutes: int | None, now: dt.datetime, operation: str, subjects: list[str],
                         key: str) -> None:
    """一時解除 of a 抑止 or a 支援措置: off from ``now`` until ``now + minutes`` (then back by
    itself, see :func:`_release`), with the reason; audited as ``operation``."""
    if not reason.strip():
        raise _bad(missing, "reason")
    try:
        until = rules.release_until(now, minutes)
    except PeriodError as exc:
        raise _period(exc) from None
    row.temp_from, row.temp_until, row.temp_by, row.temp_reason = now, until, actor.label, reason[:400]
    row.save(update_fields=["temp_from", "temp_until", "temp_by", "temp_reason"])
    audit.record(actor, operation, subjects, detail={key: row.id, "until": until.isoformat(), "reason": row.temp_reason})


def suppression_facts(row: Suppression) -> SuppressionFacts:
    return SuppressionFacts(
        id=row.id, target_kind=TargetKind(row.target_kind), target=row.target, process=Process(row.process),
        level=Level(row.level), reason=row.reason, start_date=row.start_date, end_date=row.end_date,
        released_at=row.released_at, release=_release(row),
    )


def measure_facts(row: SupportMeasure, persons: dict[str, str]) -> MeasureFacts:
    return MeasureFacts(
        id=row.id, status=MeasureStatus(row.status), applicant=row.applicant, persons=persons,
        provisional_from=row.provisional_from, start_date=row.start_date, end_date=row.end_date,
        release=_release(row),
    )


def households_of(atena_nos: Iterable[str]) -> dict[str, str]:
    """Current 世帯番号 of each person (from the projection)."""
    wanted = sorted(set(atena_nos))
    if not wanted:
        return {}
    return dict(Resident.objects.filter(atena_no__in=wanted).values_list("atena_no", "household_no"))


def suppressions_for(atena_nos: Iterable[str], households: dict[str, str]) -> list[SuppressionFacts]:
    """The 抑止 still set (not 本解除) on these persons or their 世帯."""
    people = sorted(set(atena_nos))
    hh = sorted({h for h in households.values() if h})
    if not people:
        return []
    cond = Q(target_kind=TargetKind.PERSON, target__in=people)
    if hh:
        cond |= Q(target_kind=TargetKind.HOUSEHOLD, target__in=hh)
    return [suppression_facts(r) for r in Suppression.objects.filter(cond, released_at__isnull=True)]


def measures_for(atena_nos: Iterable[str]) -> list[MeasureFacts]:
    """The 支援措置 not ended that cover any of these persons, with all their persons."""
    people = sorted(set(atena_nos))
    if not people:
        return []
    ids = set(SupportMeasurePerson.objects.filter(atena_no__in=people).values_list("measure_id", flat=True))
    return _measures(SupportMeasure.objects.filter(id__in=sorted(ids)).exclude(status=MeasureStatus.ENDED))


def _measures(rows: Iterable[SupportMeasure]) -> list[MeasureFacts]:
    rows = list(rows)
    persons: dict[int, dict[str, str]] = {r.id: {} for r in rows}
    if rows:
        for mid, atena, role in SupportMeasurePerson.objects.filter(measure_id__in=sorted(persons)).values_list(
                "measure_id", "atena_no", "role"):
            persons[mid][atena] = role
    return [measure_facts(r, persons[r.id]) for r in rows]


def protected_atena(on: dt.date) -> set[str]:
    """Everyone protected on ``on`` by a 支援措置 or 仮支援措置 (not ended, started)."""
    live = SupportMeasure.objects.exclude(status=MeasureStatus.ENDED).filter(
        Q(provisional_from__lte=on) | Q(start_date__lte=on)).values("id")
    return set(SupportMeasurePerson.objects.filter(measure_id__in=live).values_list("atena_no", flat=True))


def search_context(on: dt.date) -> tuple[set[str], set[str]]:
    """In one query: (persons protected on ``on``, targets — 宛名番号 or 世帯番号 — of 抑止 still set)."""
    from django.db.models import CharField, Value

    live = SupportMeasure.objects.exclude(status=MeasureStatus.ENDED).filter(
        Q(provisional_from__lte=on) | Q(start_date__lte=on)).values("id")
    people = (SupportMeasurePerson.objects.filter(measure_id__in=live)
              .annotate(src=Value("p", output_field=CharField())).values_list("src", "atena_no"))
    targets = (Suppression.objects.filter(released_at__isnull=True, start_date__lte=on)
               .annotate(src=Value("s", output_field=CharField())).values_list("src", "target"))
    protected: set[str] = set()
    suppressed: set[str] = set()
    for src, value in people.union(targets, all=True):
        (protected if src == "p" else suppressed).add(value)
    return protected, suppressed


def check_process(process: Process, atena_nos: Sequence[str], *, on: dt.date | None = None,
                  now: dt.datetime | None = None) -> rules.ProcessDecision:
    """The 抑止 of ``process`` that stop or warn about each person (no logging: callers log)."""
    now = now or timezone.now()
    on = on or timezone.localdate(now)
    hh = households_of(atena_nos)
    return rules.decide_process(process, atena_nos, hh, suppressions_for(atena_nos, hh), on, now)


# ------------------------------------------------------------------ 抑止: set, release, 一時解除


def set_suppression(
    actor: Principal,
    *,
    target_kind: str,
    target: str,
    process: str,
    level: str,
    reason: str,
    start_date: dt.date,
    end_date: dt.date | None = None,
    note: str = "",
) -> Suppression:
    """抑止の設定 (suppression.manage)."""
    actor.require("suppression.manage")
    r = rules.rules()
    if target_kind not in {t.value for t in TargetKind}:
        raise _bad(f"対象の単位 {target_kind!r} は person（個人）か household（世帯）です", "target_kind")
    if process not in r.processes:
        raise _bad(f"抑止する処理 {process!r} は {'・'.join(f'{k}（{v}）' for k, v in r.processes.items())} の"
                   "いずれかです", "process")
    if level not in r.levels:
        raise _bad(f"抑止レベル {level!r} は error（エラー）か alert（アラート）です", "level")
    if reason not in r.reasons:
        raise _bad(f"抑止事由 {reason!r} は {'・'.join(f'{k}（{v}）' for k, v in r.reasons.items())} の"
                   "いずれかです", "reason")
    try:
        rules.validate_suppression_period(start_date, end_date)
    except PeriodError as exc:
        raise _period(exc) from None
    if target_kind == TargetKind.PERSON and not Resident.objects.filter(atena_no=target).exists():
        raise RegistryError(SuppressionErrorCode.NOT_FOUND, f"宛名番号 {target} の住民記録はありません",
                            field="target", status=404)
    if target_kind == TargetKind.HOUSEHOLD and not Household.objects.filter(household_no=target).exists():
        raise RegistryError(SuppressionErrorCode.NOT_FOUND, f"世帯番号 {target} の世帯はありません",
                            field="target", status=404)
    row = Suppression.objects.create(
        target_kind=target_kind, target=target, process=process, level=level, reason=reason, note=note[:400],
        start_date=start_date, end_date=end_date, created_by=actor.label, created_at=timezone.now(),
    )
    audit.record(actor, "suppression.set", [target] if target_kind == TargetKind.PERSON else [],
                 detail={"suppression": row.id, "target_kind": target_kind, "target": target, "process": process,
                         "level": level, "reason": reason, "start_date": start_date.isoformat(),
                         "end_date": end_date.isoformat() if end_date else None})
    return row


def get_suppression(suppression_id: int) -> Suppression:
    row = Suppression.objects.select_for_update().filter(id=suppression_id).first()
    if row is None:
        raise RegistryError(SuppressionErrorCode.NOT_FOUND, f"抑止 {suppression_id} は見つかりません", status=404)
    return row


def _subjects(row: Suppression) -> list[str]:
    return [row.target] if row.target_kind == TargetKind.PERSON else []


def release_suppression(actor: Principal, suppression_id: int, *, note: str,
                        now: dt.datetime | None = None) -> Suppression:
    """抑止の解除 (本解除, suppression.manage): it no longer applies from ``now``."""
    actor.require("suppression.manage")
    row = get_suppression(suppression_id)
    if row.released_at is not None:
        raise RegistryError(SuppressionErrorCode.INVALID_STATE, f"抑止 {suppression_id} は解除済みです", status=409)
    if not note.strip():
        raise _bad("解除理由を入力してください", "note")
    row.released_at = now or timezone.now()
    row.released_by = actor.label
    row.release_note = note[:400]
    row.save(update_fields=["released_at", "released_by", "release_note"])
    audit.record(actor, "suppression.release", _subjects(row),
                 detail={"suppression": row.id, "target": row.target, "note": row.release_note})
    return row


def release_suppression_temporarily(actor: Principal, suppression_id: int, *, reason: str,
                                    minutes: int | None = None, now: dt.datetime | None = None) -> Suppression:
    """一時解除 (suppression.release): the 抑止 is off until ``now + minutes``, then back by itself.

    Not passed on to other systems (3.1: they must not take it for a 本解除).
    """
    actor.require("suppression.release")
    now = now or timezone.now()
    row = get_suppression(suppression_id)
    if row.released_at is not None:
        raise RegistryError(SuppressionErrorCode.INVALID_STATE, f"抑止 {suppression_id} は解除済みです", status=409)
    _release_for_a_while(actor, row, reason=reason, missing="一時解除の理由を入力してください", minutes=minutes,
                         now=now, operation="suppression.release_temporarily", subjects=_subjects(row),
                         key="suppression")
    return row


def list_suppressions(actor: Principal, *, target: str = "", include_released: bool = False,
                      limit: int = 500) -> list[Suppression]:
    qs = Suppression.objects.all()
    if target:
        qs = qs.filter(target=target)
    if not include_released:
        qs = qs.filter(released_at__isnull=True)
    rows = list(qs.order_by("-created_at", "id")[:limit])
    audit.record(actor, "suppression.list", [a for r in rows for a in _subjects(r)], detail={"target": target})
    return rows


# ------------------------------------------------------------------ 支援措置


@dataclass(frozen=True)
class Accompanying:
    """併せて支援を求める者: their 宛名番号 and relation to the applicant (申出者との関係)."""

    atena_no: str
    relationship: str = ""


def get_measure(measure_id: int) -> SupportMeasure:
    row = SupportMeasure.objects.select_for_update().filter(id=measure_id).first()
    if row is None:
        raise RegistryError(SuppressionErrorCode.NOT_FOUND, f"支援措置 {measure_id} は見つかりません", status=404)
    return row


def person_order(p: SupportMeasurePerson) -> tuple[bool, str]:
    """The applicant first, then 併せて支援を求める者 by 宛名番号."""
    return (p.role != "applicant", p.atena_no)


def persons_of(measure_id: int) -> list[SupportMeasurePerson]:
    return sorted(SupportMeasurePerson.objects.filter(measure_id=measure_id), key=person_order)


def _atena_list(row: SupportMeasure) -> list[str]:
    return [p.atena_no for p in persons_of(row.id)]


#: the change kind other business systems receive (宛名連携) when a person's protection changes
SUPPORT_MEASURE_CHANGE = "support_measure"


def _announce(atena_nos: Sequence[str], effective: dt.date) -> None:
    """Tell the 宛名連携 outbox (through ``signals.recorded``, in this transaction) that these persons'
    支援措置対象 flag may have changed, so that the 団体's other business systems protect them too
    (住民記録システム標準仕様書 7.2.3, 支援対象者管理データ). No 異動 stands behind it: event 0."""
    now = timezone.now()
    signals.recorded.send(sender=SupportMeasure, tenant_code=current_tenant_code(), changes=[
        signals.RecordedChange(a, SUPPORT_MEASURE_CHANGE, effective, 0, now) for a in sorted(set(atena_nos))])


def register_measure(
    actor: Principal,
    *,
    applicant: str,
    received_on: dt.date,
    accompanying: Sequence[Accompanying] = (),
    provisional: bool = True,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
    affairs: Sequence[str] = (),
    offender_name: str = "",
    offender_atena_no: str = "",
    note: str = "",
    today: dt.date | None = None,
) -> SupportMeasure:
    """支援措置の申出の登録: a 仮支援措置 from ``received_on`` (default), or directly a 支援措置.

    The end of a 支援措置 is set to one year from its start unless given (shorter only).
    """
    actor.require("support_measure.manage")
    today = today or timezone.localdate()
    if received_on > today:
        raise _bad(f"受付日（{rules.wareki(received_on)}）に将来の日付は指定できません", "received_on")
    people = [applicant, *[a.atena_no for a in accompanying]]
    if len(set(people)) != len(people):
        raise _bad("同じ人が申出者と併せて支援を求める者に重複しています", "accompanying")
    known = set(Resident.objects.filter(atena_no__in=people).values_list("atena_no", flat=True))
    missing = [a for a in people if a not in known]
    if missing:
        raise RegistryError(SuppressionErrorCode.NOT_FOUND, f"宛名番号 {'、'.join(missing)} の住民記録はありません",
                            field="applicant" if applicant in missing else "accompanying", status=404)
    if provisional:
        if start_date is not None or end_date is not None:
            raise _bad("仮支援措置には開始年月日・終了年月日を指定しません（確認後に支援措置として開始します）", "start_date")
        status, prov_from, end = MeasureStatus.PROVISIONAL, received_on, None
    else:
        start_date = start_date or received_on
        if start_date > today:
            raise _bad(f"開始年月日（{rules.wareki(start_date)}）に将来の日付は指定できません", "start_date")
        try:
            end = rules.validate_period(start_date, end_date)
        except PeriodError as exc:
            raise _period(exc) from None
        status, prov_from = MeasureStatus.ACTIVE, None
    row = SupportMeasure.objects.create(
        applicant=applicant, status=status, received_on=received_on, provisional_from=prov_from,
        start_date=start_date if status == MeasureStatus.ACTIVE else None, end_date=end,
        affairs=list(affairs), offender_name=offender_name[:200], offender_atena_no=offender_atena_no,
        note=note[:1000], created_by=actor.label, created_at=timezone.now(),
    )
    SupportMeasurePerson.objects.bulk_create(
        [SupportMeasurePerson(measure_id=row.id, atena_no=applicant, role="applicant")]
        + [SupportMeasurePerson(measure_id=row.id, atena_no=a.atena_no, role="accompanying",
                                relationship=a.relationship[:40]) for a in accompanying]
    )
    audit.record(actor, "support_measure.register", people,
                 detail={"measure": row.id, "status": status, "received_on": received_on.isoformat()})
    _announce(people, received_on)
    return row


def start_measure(actor: Principal, measure_id: int, *, start_date: dt.date, end_date: dt.date | None = None,
                  today: dt.date | None = None) -> SupportMeasure:
    """仮支援措置 → 支援措置, once the need is confirmed: one year from ``start_date`` by default."""
    actor.require("support_measure.manage")
    today = today or timezone.localdate()
    row = get_measure(measure_id)
    if row.status != MeasureStatus.PROVISIONAL:
        raise RegistryError(SuppressionErrorCode.INVALID_STATE, f"支援措置 {measure_id} は仮支援措置ではありません",
                            status=409)
    if start_date > today:
        raise _bad(f"開始年月日（{rules.wareki(start_date)}）に将来の日付は指定できません", "start_date")
    if row.provisional_from and start_date < row.provisional_from:
        raise _bad(f"開始年月日は仮支援措置の開始（{rules.wareki(row.provisional_from)}）以後です", "start_date")
    try:
        end = rules.validate_period(start_date, end_date)
    except PeriodError as exc:
        raise _period(exc) from None
    row.status, row.start_date, row.end_date, row.updated_by = MeasureStatus.ACTIVE, start_date, end, actor.label
    row.save(update_fields=["status", "start_date", "end_date", "updated_by"])
    audit.record(actor, "support_measure.start", _atena_list(row),
                 detail={"measure": row.id, "start_date": start_date.isoformat(), "end_date": end.isoformat()})
    _announce(_atena_list(row), start_date)
    return row


def renew_measure(actor: Principal, measure_id: int, *, on: dt.date | None = None,
                  end_date: dt.date | None = None) -> SupportMeasure:
    """延長: from one month before the end; the new period starts the day after the old end."""
    actor.require("support_measure.manage")
    on = on or timezone.localdate()
    row = get_measure(measure_id)
    facts = _measures([row])[0]
    try:
        start, longest = rules.check_renewal(facts, on)
        end = rules.validate_period(start, end_date or longest)
    except PeriodError as exc:
        raise _period(exc) from None
    assert row.start_date is not None and row.end_date is not None
    row.periods = [*row.periods, {"start": row.start_date.isoformat(), "end": row.end_date.isoformat()}]
    row.start_date, row.end_date, row.updated_by = start, end, actor.label
    row.save(update_fields=["periods", "start_date", "end_date", "updated_by"])
    audit.record(actor, "support_measure.renew", _atena_list(row),
                 detail={"measure": row.id, "start_date": start.isoformat(), "end_date": end.isoformat()})
    return row


def end_measure(actor: Principal, measure_id: int, *, ended_on: dt.date, reason: str) -> SupportMeasure:
    """支援措置の終了 (申出による終了, 期間経過・延長なし, 必要性がなくなったとき)."""
    actor.require("support_measure.manage")
    row = get_measure(measure_id)
    if row.status == MeasureStatus.ENDED:
        raise RegistryError(SuppressionErrorCode.INVALID_STATE, f"支援措置 {measure_id} は終了しています", status=409)
    if not reason.strip():
        raise _bad("終了理由を入力してください", "reason")
    since = row.provisional_from or row.start_date
    if since and ended_on < since:
        raise _bad(f"終了日は開始（{rules.wareki(since)}）以後です", "ended_on")
    row.status, row.ended_on, row.end_reason, row.updated_by = MeasureStatus.ENDED, ended_on, reason[:400], actor.label
    row.save(update_fields=["status", "ended_on", "end_reason", "updated_by"])
    audit.record(actor, "support_measure.end", _atena_list(row),
                 detail={"measure": row.id, "ended_on": ended_on.isoformat(), "reason": row.end_reason})
    _announce(_atena_list(row), ended_on)
    return row


def release_measure_temporarily(actor: Principal, measure_id: int, *, reason: str, minutes: int | None = None,
                                now: dt.datetime | None = None) -> SupportMeasure:
    """エラーの一時解除 after 審査 (3.4): certificates naming its persons may be issued until the end time."""
    actor.require("support_measure.manage")
    now = now or timezone.now()
    row = get_measure(measure_id)
    if row.status == MeasureStatus.ENDED:
        raise RegistryError(SuppressionErrorCode.INVALID_STATE, f"支援措置 {measure_id} は終了しています", status=409)
    _release_for_a_while(actor, row, reason=reason, missing="一時解除の理由（審査の結果）を入力してください",
                         minutes=minutes, now=now, operation="support_measure.release_temporarily",
                         subjects=_atena_list(row), key="measure")
    return row
