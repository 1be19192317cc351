"""The fast replay of the import and export (and of ``load_histories``) gives what the domain gives."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from portability_strategies import histories

from moyai.residents import projections
from moyai.residents.demo.generator import DEFAULT_TODAY, generate
from moyai.residents.domain import fast_replay as fast
from moyai.residents.domain.model import (
    MoveEvent,
    apply_event,
    effective_events,
    history_rows,
    kinds,
    replay,
)
from moyai.residents.services import _load_project

TENANT = "355020"


@pytest.fixture(scope="module")
def people() -> dict[str, list[MoveEvent]]:
    out: dict[str, list[MoveEvent]] = {}
    for e in generate(TENANT, scale=0.3, seed=5).events:
        out.setdefault(e.atena_no, []).append(e)
    return out


def _check_person(events: list[MoveEvent], today: dt.date) -> None:
    ordered = sorted(events, key=lambda e: (e.recorded_at, e.event_id))
    rows, final = fast.history_states(ordered)
    assert rows == [r.items for r in history_rows(ordered)]
    assert final == replay(events)
    state = None
    for ev in effective_events(events):
        want = apply_event(state, ev)
        assert fast.apply(state, ev) == want
        assert fast.apply(state, ev) == want
        if want is not None:
            assert vars(fast.apply(state, ev)) == vars(want)  # the same fields, nothing more
        state = want
    for as_of in {e.effective_date for e in events}:
        assert fast.replay(events, as_of=as_of) == replay(events, as_of=as_of)
    mine, theirs = _load_project(events[0].atena_no, events, today), projections.project(
        events[0].atena_no, events, today
    )
    assert mine == theirs


def test_fast_replay_matches_the_domain_on_a_population(people: dict[str, list[MoveEvent]]) -> None:
    assert len(people) > 300
    assert any(len(evs) > 2 for evs in people.values())
    for evs in people.values():
        _check_person(evs, DEFAULT_TODAY)
    # a day before every 異動 of some persons: projections with 異動 not yet in effect (pending)
    for evs in list(people.values())[:50]:
        _check_person(evs, min(e.effective_date for e in evs))


def test_back_dated_and_cancelled_history_rows(people: dict[str, list[MoveEvent]]) -> None:
    """A back-dated 職権修正 and a 取消し are replayed from the start, as the domain does."""
    atena, evs = next((a, e) for a, e in people.items() if len(e) >= 2)
    last = max(e.recorded_at for e in evs)
    first = min(evs, key=lambda e: e.effective_date)
    fix = MoveEvent(10**15, atena, "ex_officio_correction", kinds()["ex_officio_correction"].reason, first.effective_date,
                    None, last + dt.timedelta(days=1), "t", {"memo": "訂正"}, 10**15)
    cancel = MoveEvent(10**15 + 1, atena, "cancellation", kinds()["cancellation"].reason, fix.effective_date,
                       None, last + dt.timedelta(days=2), "t", {}, 10**15 + 1, cancels=fix.event_id)
    later = dataclasses.replace(evs[-1], event_id=10**15 + 2, recorded_at=last + dt.timedelta(days=3),
                                changes={"memo": "後"})
    for history in ([*evs, fix], [*evs, fix, cancel], [*evs, fix, cancel, later]):
        _check_person(history, DEFAULT_TODAY)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories())
def test_fast_replay_matches_the_domain_on_generated_histories(events: list[MoveEvent]) -> None:
    if events:
        _check_person(events, DEFAULT_TODAY)
