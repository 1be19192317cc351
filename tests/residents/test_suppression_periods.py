"""支援措置 periods (3.4) and 抑止 time rules (3.1), pure: one year, renewal window, expiry, 一時解除."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moyai.residents.domain.rules import Level
from moyai.residents.domain.suppression import (
    MeasureFacts,
    MeasureStatus,
    PeriodError,
    Phase,
    Process,
    SuppressionFacts,
    TargetKind,
    TemporaryRelease,
    add_months,
    check_renewal,
    decide_process,
    period_end,
    release_until,
    renewal_opens,
    renewed_period,
    validate_period,
)

JST = dt.timezone(dt.timedelta(hours=9))
dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2090, 12, 31))


def measure(start: dt.date | None, end: dt.date | None, status: MeasureStatus = MeasureStatus.ACTIVE,
            provisional_from: dt.date | None = None) -> MeasureFacts:
    return MeasureFacts(1, status, "A", {"A": "applicant", "B": "accompanying"}, provisional_from, start, end)


def test_the_standards_example() -> None:
    # 開始年月日 令和2年4月1日 → 終了年月日 令和3年3月31日
    assert period_end(dt.date(2020, 4, 1)) == dt.date(2021, 3, 31)


def test_a_period_from_february_29th_ends_on_the_last_day_of_february() -> None:
    assert period_end(dt.date(2024, 2, 29)) == dt.date(2025, 2, 28)
    assert period_end(dt.date(2024, 3, 1)) == dt.date(2025, 2, 28)


@given(dates)
def test_a_period_is_one_year_to_the_day(start: dt.date) -> None:
    end = period_end(start)
    assert 364 <= (end - start).days <= 365
    nxt, nxt_end = renewed_period(end)
    assert nxt == end + dt.timedelta(days=1)
    assert nxt_end == period_end(nxt)
    if start.month == 2 and start.day == 29:
        assert end == dt.date(start.year + 1, 2, 28)
    else:
        assert end + dt.timedelta(days=1) == start.replace(year=start.year + 1)


@given(dates, st.integers(min_value=-1000, max_value=1000))
def test_validate_period_accepts_shorter_and_refuses_longer_or_reversed(start: dt.date, delta: int) -> None:
    longest = period_end(start)
    end = longest + dt.timedelta(days=delta)
    if start <= end <= longest:
        assert validate_period(start, end) == end
    else:
        with pytest.raises(PeriodError) as exc:
            validate_period(start, end)
        assert exc.value.field == "end_date"
        assert ("1年以内" in exc.value.message) if end > longest else ("より前です" in exc.value.message)
    assert validate_period(start, None) == longest


@given(dates, st.integers(min_value=-24, max_value=24))
def test_add_months_keeps_the_day_or_takes_the_months_last(d: dt.date, n: int) -> None:
    r = add_months(d, n)
    assert (r.year * 12 + r.month) - (d.year * 12 + d.month) == n
    assert r.day == d.day or (r.day < d.day and (r + dt.timedelta(days=1)).day == 1)


def test_renewal_opens_one_month_before_the_end() -> None:
    m = measure(dt.date(2025, 4, 1), dt.date(2026, 3, 31))
    assert renewal_opens(dt.date(2026, 3, 31)) == dt.date(2026, 2, 28)
    with pytest.raises(PeriodError) as exc:
        check_renewal(m, dt.date(2026, 2, 27))
    assert exc.value.message == "延長は期間の終了日（令和8年3月31日）の1か月前（令和8年2月28日）からできます"
    assert check_renewal(m, dt.date(2026, 2, 28)) == (dt.date(2026, 4, 1), dt.date(2027, 3, 31))
    # after the end, not renewed: still possible (the new period follows on from the old end)
    assert check_renewal(m, dt.date(2026, 5, 1)) == (dt.date(2026, 4, 1), dt.date(2027, 3, 31))
    with pytest.raises(PeriodError):
        check_renewal(measure(None, None, MeasureStatus.PROVISIONAL, dt.date(2026, 1, 1)), dt.date(2026, 5, 1))


def test_phases_and_alerts_through_a_period() -> None:
    m = measure(dt.date(2025, 4, 1), dt.date(2026, 3, 31))
    assert m.phase(dt.date(2025, 3, 31)) == Phase.NOT_STARTED and not m.protects(dt.date(2025, 3, 31))
    assert m.phase(dt.date(2026, 2, 27)) == Phase.ACTIVE and m.period_alerts(dt.date(2026, 2, 27)) == []
    assert m.phase(dt.date(2026, 2, 28)) == Phase.EXPIRING
    assert m.period_alerts(dt.date(2026, 3, 31)) == [
        "支援措置の期間が1か月以内（令和8年3月31日）に終了します。延長の要否を確認してください"]
    # past its end without renewal: still protecting, with the alert
    assert m.phase(dt.date(2026, 4, 1)) == Phase.EXPIRED and m.protects(dt.date(2026, 4, 1))
    assert m.period_alerts(dt.date(2027, 1, 1)) == [
        "支援措置の期間（令和8年3月31日まで）が終了しています。延長又は終了の処理をしてください"]
    ended = MeasureFacts(1, MeasureStatus.ENDED, "A", {"A": "applicant"}, None, dt.date(2025, 4, 1),
                         dt.date(2026, 3, 31))
    assert not ended.protects(dt.date(2025, 5, 1)) and ended.phase(dt.date(2025, 5, 1)) == Phase.ENDED


def test_provisional_protects_from_its_date() -> None:
    m = measure(None, None, MeasureStatus.PROVISIONAL, dt.date(2026, 1, 10))
    assert not m.protects(dt.date(2026, 1, 9)) and m.protects(dt.date(2026, 1, 10))
    assert m.phase(dt.date(2030, 1, 1)) == Phase.PROVISIONAL
    assert m.notices(dt.date(2026, 2, 1)) == ["仮支援措置の対象者です（令和8年1月10日から）"]


def test_release_until_bounds() -> None:
    now = dt.datetime(2026, 6, 1, 9, 0, tzinfo=JST)
    assert release_until(now, None) == now + dt.timedelta(minutes=30)
    assert release_until(now, 480) == now + dt.timedelta(hours=8)
    for bad in (0, 481, -5):
        with pytest.raises(PeriodError) as exc:
            release_until(now, bad)
        assert exc.value.field == "minutes"


def _suppression(level: Level = Level.ERROR, **kw: object) -> SuppressionFacts:
    base: dict[str, object] = dict(id=7, target_kind=TargetKind.PERSON, target="A", process=Process.MOVE, level=level,
                                   reason="other", start_date=dt.date(2026, 1, 1))
    base.update(kw)
    return SuppressionFacts(**base)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=24 * 60 * 3))
def test_a_temporary_release_reverts_by_itself(offset_minutes: int) -> None:
    start = dt.datetime(2026, 6, 1, 9, 0, tzinfo=JST)
    s = _suppression(release=TemporaryRelease(start, start + dt.timedelta(minutes=30)))
    now = start + dt.timedelta(minutes=offset_minutes)
    assert s.applies(now.date(), now) == (offset_minutes >= 30)
    assert s.in_force(now.date(), now)


def test_end_date_passing_does_not_end_a_suppression() -> None:
    s = _suppression(end_date=dt.date(2026, 3, 31))
    now = dt.datetime(2026, 6, 1, 9, 0, tzinfo=JST)
    assert s.applies(now.date(), now) and s.overdue(now.date())
    released = _suppression(end_date=dt.date(2026, 3, 31), released_at=now)
    assert not released.applies(now.date(), now + dt.timedelta(seconds=1))
    assert released.applies(now.date(), now - dt.timedelta(seconds=1))  # before the 本解除


def test_process_decision_per_process_and_household() -> None:
    now = dt.datetime(2026, 6, 1, 9, 0, tzinfo=JST)
    rows = [_suppression(), _suppression(Level.ALERT, id=8, target_kind=TargetKind.HOUSEHOLD, target="H1",
                                         process=Process.INQUIRY)]
    hh = {"A": "H1", "B": "H1", "C": "H2"}
    move = decide_process(Process.MOVE, ["A", "B", "C"], hh, rows, now.date(), now)
    assert [(b.atena_no, b.level) for b in move.blocks] == [("A", Level.ERROR)]
    assert move.blocked and move.errors[0].message == "異動抑止（その他）が設定されているため処理できません"
    inquiry = decide_process(Process.INQUIRY, ["A", "B", "C"], hh, rows, now.date(), now)
    assert [(b.atena_no, b.level) for b in inquiry.blocks] == [("A", Level.ALERT), ("B", Level.ALERT)]
    assert not inquiry.blocked
    assert decide_process(Process.ISSUANCE, ["A", "B", "C"], hh, rows, now.date(), now).blocks == ()
