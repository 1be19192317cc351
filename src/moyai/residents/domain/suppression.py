"""抑止 (suppression of a process) and 支援措置 (support measures for victims of DV, stalking, abuse).

Pure rules, no framework (標準仕様書 3.1, 3.4, 1.1.16). Levels, periods, the issuance rules per
requester and the messages are data (``suppression_rules.yaml``); the service reads the rows and
calls these functions with an explicit date and time, so that nothing depends on a scheduler:

- a 抑止 applies from its start date until it is released (本解除); its end date passing does
  not end it (the standard says so) — it is only flagged as overdue;
- a 一時解除 (temporary release) is a time window: once its end time has passed the 抑止 (or the
  support measure's protection) applies again by itself;
- a 支援措置 protects its persons (the applicant and 併せて支援を求める者) from the 仮支援措置
  date or start date until it is ended. When its period passes without renewal it keeps
  protecting and is flagged (``when_expired: protect``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from moyai.platform.codes.datafiles import load
from moyai.platform.codes.wareki import format_wareki

from .rules import Level

Requester = Literal["self", "same_household", "third_party", "public_office"]
REQUESTERS: tuple[str, ...] = ("self", "same_household", "third_party", "public_office")


class Process(StrEnum):
    MOVE = "move"  # 異動
    ISSUANCE = "issuance"  # 発行
    INQUIRY = "inquiry"  # 照会


class TargetKind(StrEnum):
    PERSON = "person"  # 個人 (宛名番号)
    HOUSEHOLD = "household"  # 世帯 (世帯番号)


class MeasureStatus(StrEnum):
    PROVISIONAL = "provisional"  # 仮支援措置: from the 申出 until the need is confirmed
    ACTIVE = "active"  # 支援措置
    ENDED = "ended"  # 終了


class Phase(StrEnum):
    """Where a measure stands on a date (what the screens and the admin list show)."""

    PROVISIONAL = "provisional"
    ACTIVE = "active"
    EXPIRING = "expiring"  # within a month of its end: renewal is possible, an alert is shown
    EXPIRED = "expired"  # past its end, not renewed, not ended: still protecting, flagged
    ENDED = "ended"
    NOT_STARTED = "not_started"


class Outcome(StrEnum):
    ALLOWED = "allowed"  # 交付可
    OMIT = "omit"  # 記載省略: the certificate is made without this person
    REFUSE = "refuse"  # 交付不可

    @property
    def severity(self) -> int:
        return {"allowed": 0, "omit": 1, "refuse": 2}[self.value]


class PeriodError(ValueError):
    """A period or date that the rules do not allow (Japanese message, the field)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# ------------------------------------------------------------------ rules (data)


@dataclass(frozen=True)
class IssuanceRule:
    outcome: Outcome
    message: str = ""
    neutral: str = ""
    alert: str = ""


@dataclass(frozen=True)
class SuppressionRules:
    processes: Mapping[str, str]
    levels: Mapping[str, str]
    reasons: Mapping[str, str]
    release_default_minutes: int
    release_max_minutes: int
    period_years: int
    renewal_opens_months: int
    expiring_alert_months: int
    when_expired: str
    issuance: Mapping[str, IssuanceRule]
    messages: Mapping[str, str]

    def message(self, key: str, **values: Any) -> str:
        return self.messages[key].format(**values)


@functools.cache
def rules() -> SuppressionRules:
    df = load("moyai.residents", "suppression_rules")
    e = df.entries
    issuance = {}
    for req in REQUESTERS:
        raw = e["issuance"][req]
        issuance[req] = IssuanceRule(Outcome(raw["outcome"]), raw.get("message", ""), raw.get("neutral", ""),
                                     raw.get("alert", ""))
    sm = e["support_measure"]
    if sm["when_expired"] != "protect":
        raise ValueError(f"{df.path}: support_measure.when_expired は protect のみ対応しています")
    return SuppressionRules(
        processes=dict(e["processes"]),
        levels=dict(e["levels"]),
        reasons=dict(e["reasons"]),
        release_default_minutes=int(e["temporary_release"]["default_minutes"]),
        release_max_minutes=int(e["temporary_release"]["max_minutes"]),
        period_years=int(sm["period_years"]),
        renewal_opens_months=int(sm["renewal_opens_months_before_end"]),
        expiring_alert_months=int(sm["expiring_alert_months_before_end"]),
        when_expired=str(sm["when_expired"]),
        issuance=issuance,
        messages=dict(e["messages"]),
    )


def wareki(d: dt.date) -> str:
    return format_wareki(d)


# ------------------------------------------------------------------ periods


def add_months(d: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (earlier if negative), the month's last day when it has none."""
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(d.day, last))


def period_end(start: dt.date, years: int | None = None) -> dt.date:
    """The end of a period of ``years`` (default: the rules' one year) that starts on ``start``.

    The day before the same date ``years`` later (令和2年4月1日 → 令和3年3月31日); a period that
    starts on 2月29日 ends on the last day of February (民法 第143条第2項).
    """
    years = rules().period_years if years is None else years
    try:
        return start.replace(year=start.year + years) - dt.timedelta(days=1)
    except ValueError:  # 2月29日 in a year without one
        return dt.date(start.year + years, 2, 28)


def renewal_opens(end: dt.date) -> dt.date:
    """The first day a measure ending on ``end`` may be renewed (one month before its end)."""
    return add_months(end, -rules().renewal_opens_months)


def renewed_period(end: dt.date) -> tuple[dt.date, dt.date]:
    """The next period: from the day after ``end``, for one period."""
    start = end + dt.timedelta(days=1)
    return start, period_end(start)


def validate_period(start: dt.date, end: dt.date | None) -> dt.date:
    """Check a 支援措置 period (the end may be shortened, never made longer); returns the end."""
    longest = period_end(start)
    if end is None:
        return longest
    if end < start:
        raise PeriodError(f"終了年月日（{wareki(end)}）が開始年月日（{wareki(start)}）より前です", "end_date")
    if end > longest:
        raise PeriodError(f"支援措置の期間は{rules().period_years}年以内です（{wareki(start)}からは"
                          f"{wareki(longest)}まで）", "end_date")
    return end


def validate_suppression_period(start: dt.date, end: dt.date | None) -> None:
    if end is not None and end < start:
        raise PeriodError(f"抑止の終了日（{wareki(end)}）が開始日（{wareki(start)}）より前です", "end_date")


def release_until(now: dt.datetime, minutes: int | None) -> dt.datetime:
    """The end of a 一時解除 given now (aware) and the requested minutes (default from the rules)."""
    r = rules()
    minutes = r.release_default_minutes if minutes is None else minutes
    if not 1 <= minutes <= r.release_max_minutes:
        raise PeriodError(f"一時解除の時間は1分から{r.release_max_minutes}分までです（指定: {minutes}分）", "minutes")
    return now + dt.timedelta(minutes=minutes)


# ------------------------------------------------------------------ facts (snapshots of rows)


@dataclass(frozen=True)
class TemporaryRelease:
    start: dt.datetime
    until: dt.datetime

    def covers(self, now: dt.datetime) -> bool:
        return self.start <= now < self.until


@dataclass(frozen=True)
class SuppressionFacts:
    """One 抑止 setting."""

    id: int
    target_kind: TargetKind
    target: str  # 宛名番号 or 世帯番号
    process: Process
    level: Level
    reason: str  # a code of rules().reasons
    start_date: dt.date
    end_date: dt.date | None = None
    released_at: dt.datetime | None = None  # 本解除
    release: TemporaryRelease | None = None  # 一時解除

    @property
    def reason_label(self) -> str:
        return rules().reasons.get(self.reason, self.reason)

    def in_force(self, on: dt.date, now: dt.datetime) -> bool:
        """Set and not released on ``on`` (a 一時解除 does not matter here)."""
        return self.start_date <= on and (self.released_at is None or self.released_at > now)

    def applies(self, on: dt.date, now: dt.datetime) -> bool:
        """In force and not temporarily released at ``now``."""
        return self.in_force(on, now) and not (self.release is not None and self.release.covers(now))

    def overdue(self, on: dt.date) -> bool:
        """Its end date has passed while it is still set (it stays in force: 3.1)."""
        return self.end_date is not None and on > self.end_date and self.released_at is None


@dataclass(frozen=True)
class MeasureFacts:
    """One 支援措置 with its persons: 宛名番号 → role (applicant 申出者 / accompanying 併せて支援を求める者)."""

    id: int
    status: MeasureStatus
    applicant: str
    persons: Mapping[str, str]
    provisional_from: dt.date | None
    start_date: dt.date | None
    end_date: dt.date | None
    release: TemporaryRelease | None = None

    @property
    def name(self) -> str:
        return "仮支援措置" if self.status == MeasureStatus.PROVISIONAL else "支援措置"

    @property
    def since(self) -> dt.date | None:
        return self.provisional_from or self.start_date

    def protects(self, on: dt.date) -> bool:
        """Whether its persons are protected on ``on`` (until it is ended, even past its period)."""
        return self.status != MeasureStatus.ENDED and self.since is not None and self.since <= on

    def phase(self, on: dt.date) -> Phase:
        if self.status == MeasureStatus.ENDED:
            return Phase.ENDED
        if not self.protects(on):
            return Phase.NOT_STARTED
        if self.status == MeasureStatus.PROVISIONAL or self.end_date is None:
            return Phase.PROVISIONAL
        if on > self.end_date:
            return Phase.EXPIRED
        if on >= add_months(self.end_date, -rules().expiring_alert_months):
            return Phase.EXPIRING
        return Phase.ACTIVE

    def released(self, now: dt.datetime) -> bool:
        return self.release is not None and self.release.covers(now)

    def period_alerts(self, on: dt.date) -> list[str]:
        """The alert of a period ending within a month, or ended without renewal (3.4)."""
        phase = self.phase(on)
        if phase == Phase.EXPIRING and self.end_date:
            return [rules().message("measure_expiring", end=wareki(self.end_date))]
        if phase == Phase.EXPIRED and self.end_date:
            return [rules().message("measure_expired", end=wareki(self.end_date))]
        return []

    def notices(self, on: dt.date) -> list[str]:
        """What a screen showing one of its persons says (2.2.4, 3.4)."""
        r = rules()
        phase = self.phase(on)
        out: list[str] = []
        if phase == Phase.PROVISIONAL and self.since:
            out.append(r.message("measure_provisional", start=wareki(self.since)))
        elif phase in (Phase.ACTIVE, Phase.EXPIRING, Phase.EXPIRED) and self.start_date and self.end_date:
            out.append(r.message("measure_active", name=self.name, start=wareki(self.start_date),
                                 end=wareki(self.end_date)))
        return out + self.period_alerts(on)


def check_renewal(m: MeasureFacts, on: dt.date) -> tuple[dt.date, dt.date]:
    """The period a renewal on ``on`` gives, or why it is not possible now."""
    if m.status != MeasureStatus.ACTIVE or m.end_date is None:
        raise PeriodError("延長できるのは支援措置（仮支援措置ではなく、終了していないもの）だけです", "status")
    opens = renewal_opens(m.end_date)
    if on < opens:
        raise PeriodError(f"延長は期間の終了日（{wareki(m.end_date)}）の1か月前（{wareki(opens)}）からできます", "on")
    return renewed_period(m.end_date)


# ------------------------------------------------------------------ decisions


@dataclass(frozen=True)
class Block:
    """One 抑止 that stops (error) or warns about (alert) a process for one person."""

    atena_no: str
    suppression_id: int
    level: Level
    message: str


@dataclass(frozen=True)
class ProcessDecision:
    process: Process
    blocks: tuple[Block, ...] = ()

    @property
    def errors(self) -> list[Block]:
        return [b for b in self.blocks if b.level == Level.ERROR]

    @property
    def alerts(self) -> list[Block]:
        return [b for b in self.blocks if b.level == Level.ALERT]

    @property
    def blocked(self) -> bool:
        return bool(self.errors)


def _process_label(p: Process) -> str:
    return rules().processes.get(p.value, p.value)


def suppression_blocks(process: Process, atena_nos: Iterable[str], households: Mapping[str, str],
                       suppressions: Sequence[SuppressionFacts], on: dt.date, now: dt.datetime) -> list[Block]:
    """The 抑止 of ``process`` that apply to each person (directly or through their 世帯)."""
    r = rules()
    out: list[Block] = []
    for a in atena_nos:
        hh = households.get(a, "")
        for s in suppressions:
            if s.process != process or not s.applies(on, now):
                continue
            if not ((s.target_kind == TargetKind.PERSON and s.target == a)
                    or (s.target_kind == TargetKind.HOUSEHOLD and hh and s.target == hh)):
                continue
            key = "suppression_error" if s.level == Level.ERROR else "suppression_alert"
            out.append(Block(a, s.id, s.level, r.message(key, process=_process_label(process), reason=s.reason_label)))
    return out


def decide_process(process: Process, atena_nos: Sequence[str], households: Mapping[str, str],
                   suppressions: Sequence[SuppressionFacts], on: dt.date, now: dt.datetime) -> ProcessDecision:
    return ProcessDecision(process, tuple(suppression_blocks(process, atena_nos, households, suppressions, on, now)))


@dataclass(frozen=True)
class PersonDecision:
    """The decision for one person named on a certificate: allowed / omit / refuse, and why."""

    atena_no: str
    outcome: Outcome
    reasons: tuple[str, ...] = ()  # Japanese, why omitted or refused
    alerts: tuple[str, ...] = ()  # Japanese, to be confirmed before issuing (アラート)
    measure_ids: tuple[int, ...] = ()
    suppression_ids: tuple[int, ...] = ()

    @property
    def reason(self) -> str:
        return " / ".join(self.reasons)


@dataclass(frozen=True)
class IssuanceDecision:
    """:func:`decide_issuance`'s answer for every person of a certificate request, in request order."""

    requester: str
    on: dt.date
    persons: tuple[PersonDecision, ...] = field(default_factory=tuple)

    def of(self, atena_no: str) -> PersonDecision:
        return next(p for p in self.persons if p.atena_no == atena_no)

    @property
    def refused(self) -> bool:
        """True when no certificate may be issued (some person is refused)."""
        return any(p.outcome == Outcome.REFUSE for p in self.persons)

    @property
    def omitted(self) -> list[str]:
        return [p.atena_no for p in self.persons if p.outcome == Outcome.OMIT]

    @property
    def allowed(self) -> list[str]:
        """宛名番号 that may be printed (empty when refused)."""
        if self.refused:
            return []
        return [p.atena_no for p in self.persons if p.outcome == Outcome.ALLOWED]

    @property
    def alerts(self) -> list[str]:
        return list(dict.fromkeys(a for p in self.persons for a in p.alerts))

    @property
    def blocked(self) -> list[PersonDecision]:
        return [p for p in self.persons if p.outcome != Outcome.ALLOWED]

    @property
    def message(self) -> str:
        """One Japanese sentence for a refusal or omission ('' when everyone is allowed)."""
        return " / ".join(dict.fromkeys(r for p in self.blocked for r in p.reasons))


def effective_requester(requester: Requester, requested_by: str | None, m: MeasureFacts) -> str:
    """Who the request is from, as the measure sees it.

    With the requester's own 宛名番号 known, 本人 means a person of *this* measure: a member of
    the same 世帯 who is not protected by it is "same_household" for it.
    """
    if requested_by is not None and requester in ("self", "same_household"):
        return "self" if requested_by in m.persons else "same_household"
    return requester


def decide_issuance(
    atena_nos: Sequence[str],
    *,
    requester: Requester,
    on: dt.date,
    now: dt.datetime,
    households: Mapping[str, str],
    suppressions: Sequence[SuppressionFacts],
    measures: Sequence[MeasureFacts],
    detailed: bool,
    requested_by: str | None = None,
) -> IssuanceDecision:
    """Decide, person by person, whether a certificate naming them may be issued.

    ``detailed``: the staff member may know who is protected (support_measure.view); otherwise
    the neutral messages are used.
    """
    if requester not in REQUESTERS:
        raise PeriodError(f"請求者の区分 {requester!r} は {', '.join(REQUESTERS)} のいずれかです", "requester")
    r = rules()
    blocks = suppression_blocks(Process.ISSUANCE, atena_nos, households, suppressions, on, now)
    out: list[PersonDecision] = []
    for a in atena_nos:
        outcome = Outcome.ALLOWED
        reasons: list[str] = []
        alerts: list[str] = []
        sids: list[int] = []
        mids: list[int] = []
        for b in blocks:
            if b.atena_no != a:
                continue
            sids.append(b.suppression_id)
            if b.level == Level.ERROR:
                outcome = Outcome.REFUSE
                reasons.append(b.message)
            else:
                alerts.append(b.message)
        for m in measures:
            if a not in m.persons or not m.protects(on):
                continue
            mids.append(m.id)
            if m.released(now):
                assert m.release is not None
                alerts.append(r.message("temporarily_released", what=m.name,
                                        until=f"{m.release.until:%Y-%m-%d %H:%M}"))
                continue
            rule = r.issuance[effective_requester(requester, requested_by, m)]
            if rule.outcome.severity > outcome.severity:
                outcome = rule.outcome
            if rule.outcome != Outcome.ALLOWED:
                reasons.append((rule.message if detailed else rule.neutral).format(name=m.name))
            if rule.alert:
                alerts.append(rule.alert.format(name=m.name))
            if detailed:
                alerts += m.period_alerts(on)
        out.append(PersonDecision(a, outcome, tuple(dict.fromkeys(reasons)), tuple(dict.fromkeys(alerts)),
                                  tuple(mids), tuple(sids)))
    return IssuanceDecision(requester, on, tuple(out))
