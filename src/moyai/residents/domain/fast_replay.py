"""The domain's replay (:mod:`moyai.residents.domain.model`), made fast for whole 団体 at once
(the bulk load, the 中間標準レイアウト import and export).

:func:`apply` and :func:`replay` give exactly what :func:`~moyai.residents.domain.model.apply_event`
and :func:`~moyai.residents.domain.model.replay` give (the tests compare them over the synthetic
population and every 異動 kind); they only build the new :class:`PersonState` differently.
``dataclasses.replace`` of a 45-field frozen dataclass goes through its ``__init__`` (one
``object.__setattr__`` per field), which made up most of an import's and an export's time; here the
new record is the old one's attribute dictionary updated with the changes (the same fields, the
same values: equality, hashing and ``vars()`` are those of a normal instance).  The 和暦 JSON of a
date set by the system (住所を定めた年月日 of a 転居) is cached per date.

:func:`history_states` walks a person's 異動 once, in recording order, and gives the record each
history row shows (what :func:`~moyai.residents.domain.model.history_rows` gives, without replaying
every prefix of the history again): while each 異動 is dated no earlier than the ones before it and
nothing is cancelled, a row's record is the previous one with that 異動 applied; a back-dated 異動
or a 取消し is replayed from the start (as the domain does).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any, Final

from .model import (
    SETTABLE_ITEMS,
    Effect,
    MoveEvent,
    PersonState,
    Status,
    effective_events,
    jp_date_json,
)

__all__ = ["apply", "history_states", "make_state", "replay", "system_date_json"]

_new: Final = object.__new__
_RESIDENT: Final = Status.RESIDENT
_REMOVED: Final = Status.REMOVED


def _replace(state: PersonState, changes: dict[str, Any]) -> PersonState:
    out = _new(PersonState)
    d = out.__dict__
    d.update(state.__dict__)
    d.update(changes)
    return out


def make_state(fields: dict[str, Any]) -> PersonState:
    """A PersonState of complete ``fields`` (every field of the class, nothing else: not checked)."""
    out = _new(PersonState)
    out.__dict__.update(fields)
    return out


_BLANK: Final = {k: v for k, v in PersonState(atena_no="").__dict__.items()}


@functools.lru_cache(maxsize=65536)
def system_date_json(d: dt.date) -> dict[str, Any]:
    """:func:`~moyai.residents.domain.model.jp_date_json`, cached: shared, never to be changed."""
    return jp_date_json(d)


def apply(state: PersonState | None, ev: MoveEvent) -> PersonState | None:
    """:func:`~moyai.residents.domain.model.apply_event`, the same result."""
    effect = ev.spec.effect
    changes = {k: v for k, v in ev.changes.items() if k in SETTABLE_ITEMS}
    if effect == Effect.CREATE:
        if state is not None and state.status == _RESIDENT:
            return _replace(state, changes)
        base = state.__dict__ if state is not None else {**_BLANK, "atena_no": ev.atena_no}
        out = _new(PersonState)
        d = out.__dict__
        d.update(base)
        d.update(status=_RESIDENT, removal_kind=None, removed_on=None)
        d.update(changes)
        return out
    if state is None:
        return None
    if effect == Effect.REMOVE:
        changes = {"status": _REMOVED, "removal_kind": ev.kind, "removed_on": ev.effective_date.isoformat(), **changes}
        return _replace(state, changes)
    if effect == Effect.RESTORE:
        return _replace(state, {"status": _RESIDENT, "removal_kind": None, "removed_on": None, **changes})
    if effect == Effect.UPDATE:
        if ev.kind == "move_within" and "address" in changes and changes["address"] != state.address:
            if "previous_address" not in changes:
                changes["previous_address"] = state.address
            if "address_set_on" not in changes:
                changes["address_set_on"] = dict(system_date_json(ev.effective_date))
        return _replace(state, changes)
    return state


def replay(
    events: Iterable[MoveEvent], as_of: dt.date | None = None, recorded_at: dt.datetime | None = None
) -> PersonState | None:
    """:func:`~moyai.residents.domain.model.replay`, the same result."""
    state: PersonState | None = None
    for ev in effective_events(events, recorded_at):
        if as_of is not None and ev.effective_date > as_of:
            break
        state = apply(state, ev)
    return state


def history_states(ordered: Sequence[MoveEvent]) -> tuple[list[PersonState | None], PersonState | None]:
    """(the record of each history row, the record with every 異動 applied) of one person's 異動
    in recording order (``(recorded_at, event_id)``).

    Row *n* is ``replay(ordered[:n], as_of=ordered[n-1].effective_date)`` (no ``as_of`` for a
    取消し), as :func:`~moyai.residents.domain.model.history_rows` gives it.
    """
    rows: list[PersonState | None] = []
    full: PersonState | None = None  # replay of the 異動 known so far
    latest: dt.date | None = None  # latest 異動日 of the live 異動 known so far
    cancelled: set[int] = set()
    for n, ev in enumerate(ordered, start=1):
        eff = ev.effective_date
        if ev.cancels is not None or ev.kind == "cancellation" or ev.event_id in cancelled:
            if ev.cancels is not None:
                cancelled.add(ev.cancels)
            known = ordered[:n]
            rows.append(replay(known, as_of=None if ev.kind == "cancellation" else eff))
            full = replay(known)
            latest = max((e.effective_date for e in effective_events(known)), default=None)
            continue
        if latest is None or eff >= latest:
            # dated no earlier than every live 異動 known: applied last, nothing left out as of eff
            full = apply(full, ev)
            latest = eff
            rows.append(full)
            continue
        known = ordered[:n]
        rows.append(replay(known, as_of=eff))
        full = replay(known)
        latest = max(latest, eff)
    return rows, full
