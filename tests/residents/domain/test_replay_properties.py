"""Property tests of the bitemporal replay (pure domain, no database)."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from moyai.residents.domain.model import MoveEvent, effective_events, history_rows, replay

BASE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
KINDS_AFTER_CREATE = ["move_within", "ex_officio_correction", "move_out", "restoration", "death", "head_change"]


@st.composite
def histories(draw: st.DrawFn) -> list[MoveEvent]:
    """A 記載 followed by random changes with random effective and recording times."""
    n = draw(st.integers(min_value=0, max_value=12))
    start = dt.date(2000, 1, 1) + dt.timedelta(days=draw(st.integers(0, 3000)))
    events = [MoveEvent(1, "A", "move_in", "101", start, start, BASE, "s",
                        {"family_name": "山田", "given_name": "花子", "address": "addr0", "household_no": "H1"})]
    for i in range(n):
        kind = draw(st.sampled_from([*KINDS_AFTER_CREATE, "cancellation"]))
        eff = start + dt.timedelta(days=draw(st.integers(0, 6000)))
        rec = BASE + dt.timedelta(hours=i + 1)
        if kind == "cancellation":
            target = draw(st.sampled_from(events)).event_id
            events.append(MoveEvent(i + 2, "A", kind, "320", eff, None, rec, "s", {}, cancels=target))
            continue
        changes: dict[str, object] = {}
        if kind in ("move_within", "ex_officio_correction"):
            changes = {"address": f"addr{i + 1}"}
            if kind == "ex_officio_correction" and draw(st.booleans()):
                changes["given_name"] = f"名{i}"
        elif kind == "head_change":
            changes = {"relationship": draw(st.sampled_from(["世帯主", "妻", "子"]))}
        events.append(MoveEvent(i + 2, "A", kind, "300", eff, None, rec, "s", changes))
    return events


dates = st.dates(min_value=dt.date(1999, 1, 1), max_value=dt.date(2030, 12, 31))


@settings(max_examples=300, deadline=None)
@given(histories(), dates, st.integers(0, 14))
def test_replay_does_not_depend_on_the_order_events_are_read(events: list[MoveEvent], on: dt.date, h: int) -> None:
    shuffled = list(events)
    random.Random(h).shuffle(shuffled)
    at = BASE + dt.timedelta(hours=h)
    assert replay(shuffled, as_of=on, recorded_at=at) == replay(events, as_of=on, recorded_at=at)


@settings(max_examples=300, deadline=None)
@given(histories(), dates, st.integers(0, 14))
def test_as_recorded_at_a_moment_is_replay_of_what_was_known_then(events: list[MoveEvent], on: dt.date, h: int) -> None:
    at = BASE + dt.timedelta(hours=h)
    known = [e for e in events if e.recorded_at <= at]
    assert replay(events, as_of=on, recorded_at=at) == replay(known, as_of=on)


@settings(max_examples=300, deadline=None)
@given(histories(), dates)
def test_events_after_the_date_do_not_change_the_past(events: list[MoveEvent], on: dt.date) -> None:
    before = [e for e in events if e.effective_date <= on or e.kind == "cancellation"]
    # Cancellations act on what they void whatever their own date; the rest after `on` cannot matter.
    assert replay(events, as_of=on) == replay(before, as_of=on)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_history_rows_number_every_event_and_end_with_the_current_record(events: list[MoveEvent]) -> None:
    rows = history_rows(events)
    assert [r.history_no for r in rows] == list(range(1, len(events) + 1))
    assert [r.event_id for r in rows] == [e.event_id for e in sorted(events, key=lambda e: (e.recorded_at, e.event_id))]
    live = effective_events(events)
    last_live = max((e for e in live), key=lambda e: e.effective_date, default=None)
    if last_live is not None and rows[-1].event_id == last_live.event_id:
        assert rows[-1].items == replay(events, as_of=last_live.effective_date)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_a_cancelled_event_has_no_effect(events: list[MoveEvent]) -> None:
    cancelled = {e.cancels for e in events if e.cancels is not None}
    stripped = [e for e in events if e.event_id not in cancelled and e.cancels is None]
    assert replay(events) == replay(stripped)
