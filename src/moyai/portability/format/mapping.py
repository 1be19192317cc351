"""History rows of the 住民 file ⇄ 異動 (:class:`~moyai.residents.domain.model.MoveEvent`).

Export (:func:`histories_to_rows`): the rows are :func:`~moyai.residents.domain.model.history_rows`
of each person — one per (宛名番号, 履歴番号), every item as the record stood after that 異動 —
written with :func:`.persons.person_to_values` plus the row's own items (異動事由, 異動日, 届出日,
処理日, 処理者, 取消対象履歴番号, 取消済フラグ).

Import (:func:`rows_to_histories`) rebuilds one 異動 per row so that ``history_rows`` of the
result gives back the same rows:

- the 異動's ``changes`` are the items that differ from the record just before it — the
  previous 履歴番号's record, or, when the row is dated before rows recorded earlier (a
  back-dated 職権修正), the replay of the rebuilt 異動 as of its 異動日;
- its kind is the one the 異動事由 names (the kind whose default reason it is, else by the
  reason's 記載/消除/修正 category, ``history.kind_by_category``) when that kind gives the row;
  otherwise one whose effect does: the kind of the 消除事由 for a row that removes the record, a
  記載 (or 回復) kind for one that enters it, a 修正 kind for one that changes it.  A row with
  取消対象履歴番号 is 異動の取消し.  The 異動事由 code itself is kept as read;
- 記録日時 is 0:00 JST of the 処理日 plus the 履歴番号 in microseconds (order kept, 処理日 exact);
- rows show values, not which 異動 set them: an item set to the value it already had leaves no
  trace until a later 取消し (or back-dated 異動) takes away what made it redundant.  When a row
  is not reproduced, :meth:`_Person.repair` chooses item by item which earlier 異動 also set it;
- every rebuilt row is compared with the file: a row that cannot be reproduced is reported
  (``history``) instead of being stored differently, so what is imported exports to the same rows.

Other checks: 履歴番号 from 1 without gaps or duplicates, 処理日 not going backwards, 団体コード of
the expected 団体, 取消済フラグ agreeing with the 取消 rows, 支援措置対象フラグ the same on every row
of a person (it says whether the person is protected by a 支援措置, not anything about one row).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from moyai.residents.domain.fast_replay import apply as apply_event
from moyai.residents.domain.fast_replay import history_states, replay, system_date_json
from moyai.residents.domain.model import (
    ITEM_NAMES,
    JST,
    STATUS_ITEMS,
    Effect,
    HistoryRow,
    MoveEvent,
    PersonState,
    Status,
    effective_events,
    kind_spec,
)

from .codecs import FieldError
from .layout import Layout, load_layout
from .persons import RESIDENT_FILE, kind_for_reason, person_to_values, values_to_person
from .problems import Problem, ProblemKind

__all__ = [
    "HistoryError",
    "histories_to_rows",
    "history_row_values",
    "person_rows",
    "removal_reason",
    "rows_to_histories",
]

_SETTABLE: Final = tuple(n for n in ITEM_NAMES if n not in STATUS_ITEMS)
_BLANK: Final = dict(vars(PersonState(atena_no="")))  # the items of no record (atena_no is not settable)
_DEFAULT_STAFF: Final = ""
_MAX_DEPTH: Final = 5  # flips of one item a repair may chain
_MAX_STATES: Final = 2000  # states a repair of one item may visit
# a 転居 fills in 前住所 and 住所を定めた年月日 when it changes 住所: repaired together
_ADDRESS: Final = ("address", "previous_address", "address_set_on")
_COUPLED: Final = dict.fromkeys(_ADDRESS, _ADDRESS)


class HistoryError(ValueError):
    """Rows that cannot be rebuilt into 異動; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"履歴の行に問題が{len(problems)}件あります: " + "; ".join(map(str, problems[:3])))
        self.problems = problems


# --- export ------------------------------------------------------------------------------------------


def removal_reason(known: Sequence[MoveEvent], state: PersonState | None, as_of: dt.date | None) -> str | None:
    """異動事由 of the 異動 that removed ``state`` (a 除票) among the ``known`` ones, as of ``as_of``."""
    if state is None or state.status != Status.REMOVED:
        return None
    found: MoveEvent | None = None
    for ev in effective_events(known):
        if as_of is not None and ev.effective_date > as_of:
            break
        if (
            ev.spec.effect == Effect.REMOVE
            and ev.kind == state.removal_kind
            and ev.effective_date.isoformat() == state.removed_on
        ):
            found = ev
    return found.reason_code if found is not None else None


def history_row_values(
    row: HistoryRow,
    *,
    tenant_code: str,
    staff: str = "",
    cancels_history_no: int | None = None,
    removal_reason: str | None = None,
    support_measure: bool = False,
    layout: Layout | None = None,
) -> dict[str, Any]:
    """The values of one history row of the 住民 file."""
    values = person_to_values(row.items, removal_reason=removal_reason, layout=layout)
    values.update(
        tenant_code=tenant_code,
        atena_no=row.atena_no,
        history_no=str(row.history_no),
        reason_code=row.reason_code,
        effective_date=row.effective_date,
        notified_date=row.notified_date,
        processed_on=row.processed_on,
        staff=staff or None,
        cancels_history_no=None if cancels_history_no is None else str(cancels_history_no),
        cancelled=row.cancelled,
        support_measure=True if support_measure else None,
    )
    return values


def person_rows(
    events: Sequence[MoveEvent],
    *,
    tenant_code: str,
    support_measure: bool = False,
    layout: Layout | None = None,
) -> tuple[list[dict[str, Any]], PersonState | None]:
    """(the values of every history row of one person, by 履歴番号; the record with every 異動
    applied).  One pass over the history (:func:`.replay.history_states`).

    ``support_measure``: the person is protected by a 支援措置 (支援措置対象フラグ 1 on every row).
    """
    ordered = sorted(events, key=lambda e: (e.recorded_at, e.event_id))
    number = {e.event_id: n for n, e in enumerate(ordered, start=1)}
    cancelled = {e.cancels for e in ordered if e.cancels is not None}
    states, final = history_states(ordered)
    flag = True if support_measure else None
    out: list[dict[str, Any]] = []
    previous: tuple[PersonState | None, dict[str, Any]] | None = None
    for n, (ev, items) in enumerate(zip(ordered, states, strict=True), start=1):
        reason = None
        if items is not None and items.status == Status.REMOVED:
            as_of = None if ev.kind == "cancellation" else ev.effective_date
            reason = removal_reason(ordered[:n], items, as_of)
        values = person_to_values(items, removal_reason=reason, layout=layout, previous=previous)
        previous = (items, values)
        values["atena_no"] = ev.atena_no
        values["tenant_code"] = tenant_code
        values["history_no"] = str(n)
        values["reason_code"] = ev.reason_code
        values["effective_date"] = ev.effective_date
        values["notified_date"] = ev.notified_date
        values["processed_on"] = _processed_on(ev.recorded_at)
        values["staff"] = ev.staff or None
        values["cancels_history_no"] = str(number[ev.cancels]) if ev.cancels in number else None
        values["cancelled"] = ev.event_id in cancelled
        values["support_measure"] = flag
        out.append(values)
    return out, final


def _processed_on(recorded_at: dt.datetime) -> dt.date:
    return recorded_at.astimezone(JST).date()


def histories_to_rows(
    events: Iterable[MoveEvent],
    *,
    tenant_code: str,
    support_measure: Collection[str] = (),
    layout: Layout | None = None,
) -> list[dict[str, Any]]:
    """Values of the 住民 file for every person of ``events``, by (宛名番号, 履歴番号).

    ``support_measure``: 宛名番号 of the persons protected by a 支援措置 (flag 1 on their rows).
    Raises :class:`~.codecs.FieldError` for a stored value the layout cannot hold.
    """
    by_person: dict[str, list[MoveEvent]] = {}
    for ev in events:
        by_person.setdefault(ev.atena_no, []).append(ev)
    out: list[dict[str, Any]] = []
    for atena in sorted(by_person):
        rows, _ = person_rows(
            by_person[atena], tenant_code=tenant_code, support_measure=atena in support_measure, layout=layout
        )
        out.extend(rows)
    return out


# --- import ------------------------------------------------------------------------------------------


def _recorded_at(processed_on: dt.date, history_no: int) -> dt.datetime:
    midnight = dt.datetime.combine(processed_on, dt.time(), tzinfo=JST)
    return (midnight + dt.timedelta(microseconds=history_no)).astimezone(dt.UTC)


def _choose_kind(reason: str, base: PersonState | None, target: PersonState | None, layout: Layout) -> str:
    """The 異動 kind for a row: the reason's kind when its effect fits the change, else the fallback."""
    k0 = kind_for_reason(reason, layout)
    e0 = kind_spec(k0).effect
    fallback = layout.history.kind_by_category
    allowed: tuple[Effect, ...]
    if target is None:
        return k0 if e0 not in (Effect.CREATE, Effect.CANCEL) else fallback["修正"]
    if target.status == Status.REMOVED and (
        base is None
        or base.status == Status.RESIDENT
        or (base.removal_kind, base.removed_on) != (target.removal_kind, target.removed_on)
    ):
        return str(target.removal_kind)
    if base is None:
        allowed, other = (Effect.CREATE,), fallback["記載"]
    elif base.status == Status.REMOVED and target.status == Status.RESIDENT:
        allowed, other = (Effect.CREATE, Effect.RESTORE), "restoration"
    elif base.status == Status.RESIDENT:
        allowed, other = (Effect.UPDATE, Effect.CREATE), fallback["修正"]
    else:
        allowed, other = (Effect.UPDATE,), fallback["修正"]
    return k0 if e0 in allowed else other


def _changes(base: PersonState | None, target: PersonState | None, kind: str, eff: dt.date) -> dict[str, Any]:
    if target is None:
        return {}
    ref = vars(base) if base is not None else _BLANK
    now = vars(target)
    changes = {f: now[f] for f in _SETTABLE if now[f] != ref[f]}
    if kind == "move_within" and base is not None and "address" in changes:
        # replay fills these in for a 転居 unless given (from the address it moves from, as it
        # stands when replayed): give them only where the row differs from what replay fills in
        for field, auto in (("previous_address", base.address), ("address_set_on", system_date_json(eff))):
            if getattr(target, field) == auto:
                changes.pop(field, None)
            else:
                changes[field] = getattr(target, field)
    return changes


def _differences(expected: PersonState | None, target: PersonState | None) -> list[str]:
    if expected is None or target is None:
        return [] if expected is target else ["住民状態"]
    if expected == target:
        return []
    a, b = vars(expected), vars(target)
    return [f for f in ITEM_NAMES if a[f] != b[f]]


class _Person:
    """Rebuilding one person's 異動 from their rows (sorted by 履歴番号)."""

    def __init__(self, rows: list[tuple[int, Mapping[str, Any]]], ctx: _Context) -> None:
        self.rows = rows
        self.ctx = ctx
        self.events: list[MoveEvent] = []
        self.targets: list[PersonState | None] = []  # the record of each row
        self.as_of: list[dt.date | None] = []  # the 異動日 each row is as of (None: a 取消し row)
        self.ok = True

    def problem(self, row: int, item_id: str | None, value: Any, reason: str, kind: ProblemKind) -> None:
        name = self.ctx.spec.item(item_id).name if item_id else None
        self.ctx.problems.append(
            Problem(self.ctx.file, row, name, None if value is None else str(value), reason, kind, item_id)
        )
        self.ok = False

    def event(
        self,
        n: int,
        v: Mapping[str, Any],
        event_id: int,
        kind: str,
        changes: dict[str, Any],
        cancels: int | None = None,
    ) -> MoveEvent:
        return MoveEvent(
            event_id=event_id,
            atena_no=str(v["atena_no"]),
            kind=kind,
            reason_code=str(v["reason_code"]),
            effective_date=v["effective_date"],
            notified_date=v.get("notified_date"),
            recorded_at=_recorded_at(v["processed_on"], n),
            staff=str(v.get("staff") or self.ctx.staff),
            changes=changes,
            group_id=event_id,
            cancels=cancels,
        )

    def check_rows(self) -> None:
        previous: dt.date | None = None
        tenant = self.ctx.tenant_code
        for n, (row, v) in enumerate(self.rows, start=1):
            if int(v["history_no"]) != n:
                self.problem(
                    row, "history_no", v["history_no"], f"履歴番号 {n} がありません（欠番）", ProblemKind.SEQUENCE
                )
                return
            if previous is not None and v["processed_on"] < previous:
                reason = "処理日が前の履歴番号の処理日より前です"
                self.problem(row, "processed_on", v["processed_on"], reason, ProblemKind.SEQUENCE)
            previous = v["processed_on"]
            if tenant is not None and v["tenant_code"] != tenant:
                self.problem(
                    row, "tenant_code", v["tenant_code"], f"団体 {tenant} のファイルではありません", ProblemKind.TENANT
                )
        # 支援措置対象フラグ is about the person (protected on the day the file was made): the same
        # on every row of theirs
        flags = [bool(v.get("support_measure")) for _, v in self.rows]
        if any(flags) and not all(flags):
            row, v = self.rows[flags.index(not flags[0])]
            reason = "支援措置対象フラグが同じ人の他の行と違います（その人のすべての行で同じ値にします）"
            value = "1" if v.get("support_measure") else ("0" if v.get("support_measure") is False else "")
            self.problem(row, "support_measure", value, reason, ProblemKind.INCONSISTENT)

    # -- building --------------------------------------------------------------------------------

    def rebuild(self) -> list[MoveEvent]:
        self.check_rows()
        if not self.ok:
            return []
        previous: PersonState | None = None
        exact = True  # every row so far is reproduced: `previous` is the replay of the 異動 so far
        full = True  # `previous` is as of a date no earlier than any rebuilt 異動
        latest: dt.date | None = None  # latest 異動日 of the rebuilt 異動 (not cancellations)
        first_bad: tuple[int, list[str]] | None = None
        for n, (row, v) in enumerate(self.rows, start=1):
            try:
                target = values_to_person(v, layout=self.ctx.layout)
            except FieldError as exc:
                self.ctx.problems.append(exc.problem(self.ctx.file, row))
                self.ok = False
                return []
            eff: dt.date = v["effective_date"]
            event_id = next(self.ctx.event_ids)
            if v.get("cancels_history_no") is not None:
                target_no = int(v["cancels_history_no"])
                if not 1 <= target_no < n:
                    reason = "取消対象履歴番号はこの行より前の履歴番号です"
                    self.problem(row, "cancels_history_no", target_no, reason, ProblemKind.REFERENCE)
                    return []
                ev = self.event(n, v, event_id, "cancellation", {}, self.events[target_no - 1].event_id)
                expected = replay([*self.events, ev])
                self.as_of.append(None)
                full = True
            else:
                fast = exact and full and (latest is None or eff >= latest)
                base = previous if fast else replay(self.events, as_of=eff)
                # the kind of the 異動事由 when it gives the row, else one whose effect does
                kind = kind_for_reason(str(v["reason_code"]), self.ctx.layout)
                ev = self.event(n, v, event_id, kind, _changes(base, target, kind, eff))
                expected = apply_event(base, ev)
                if kind == "cancellation" or expected != target:
                    kind = _choose_kind(str(v["reason_code"]), base, target, self.ctx.layout)
                    ev = self.event(n, v, event_id, kind, _changes(base, target, kind, eff))
                    expected = apply_event(base, ev)
                self.as_of.append(eff)
                full = latest is None or eff >= latest
                latest = eff if latest is None else max(latest, eff)
            self.events.append(ev)
            self.targets.append(target)
            diff = _differences(expected, target)
            if diff:
                exact = False
                first_bad = first_bad or (row, diff)
            previous = target
        if first_bad is not None and not self.repair():
            row, diff = first_bad
            labels = [self.ctx.label(f) for f in diff[:5]]
            self.problem(
                row, None, None, f"この行は前の履歴から再現できません（{'、'.join(labels)}）", ProblemKind.HISTORY
            )
            return []
        self.check_removals_and_cancellations()
        return self.events if self.ok else []

    def check_removals_and_cancellations(self) -> None:
        cancelled = {int(v["cancels_history_no"]) for _, v in self.rows if v.get("cancels_history_no") is not None}
        for n, (row, v) in enumerate(self.rows, start=1):
            target = self.targets[n - 1]
            if target is not None and target.status == Status.REMOVED:
                reason = removal_reason(self.events[:n], target, self.as_of[n - 1])
                if reason != v.get("removal_kind"):
                    text = f"消除事由は消除した行の異動事由（{reason}）です"
                    self.problem(row, "removal_kind", v.get("removal_kind"), text, ProblemKind.INCONSISTENT)
            if bool(v["cancelled"]) != (n in cancelled):
                text = "取消済フラグが取消の行と合いません"
                self.problem(row, "cancelled", "1" if v["cancelled"] else "0", text, ProblemKind.INCONSISTENT)

    # -- repairing ---------------------------------------------------------------------------------

    def _replayed(self) -> list[PersonState | None]:
        """Each row as ``history_rows`` of the rebuilt 異動 gives it."""
        return [replay(self.events[: r + 1], as_of=self.as_of[r]) for r in range(len(self.events))]

    def _first_difference(self, fields: Iterable[str]) -> int | None:
        """Index of the first row not reproduced on ``fields`` (None when every row is)."""
        names = list(fields)
        for r in range(len(self.events)):
            got, want = replay(self.events[: r + 1], as_of=self.as_of[r]), self.targets[r]
            if (got is None) != (want is None):
                return r
            if got is not None and want is not None and any(getattr(got, f) != getattr(want, f) for f in names):
                return r
        return None

    def _agree(self, fields: Iterable[str]) -> bool:
        return self._first_difference(fields) is None

    def _solve(self, group: tuple[str, ...], depth: int) -> bool:
        """Depth-first search for flips of ``group`` that reproduce every row.

        A flip may not break a row before the first one not reproduced (rows only depend on the
        異動 recorded up to them, so only those are flipped); the search is bounded in depth and
        in the number of states it visits (``_MAX_STATES``), shallowest first."""
        seen: set[tuple[int, frozenset[tuple[int, str, str]]]] = set()
        flipped: list[tuple[int, str, str]] = []  # (異動, item, value) flipped so far
        budget = [_MAX_STATES]

        def search(left: int) -> bool:
            first = self._first_difference(group)
            if first is None:
                return True
            state = (left, frozenset(flipped))
            if left == 0 or state in seen or budget[0] <= 0:
                return False
            seen.add(state)
            budget[0] -= 1
            for field in group:
                for j, value in self._candidates(field):
                    if j > first or any(k == j and f == field for k, f, _ in flipped):
                        continue
                    self._flip(j, field, value)
                    flipped.append((j, field, repr(value)))
                    after = self._first_difference(group)
                    if (after is None or after >= first) and search(left - 1):
                        return True
                    flipped.pop()
                    self._flip(j, field, value)
            return False

        # iterative deepening: the fewest flips first
        return any(search(d) for d in range(1, depth + 1))

    def _flip(self, j: int, field: str, value: Any) -> None:
        """Make the j-th 異動 set ``field`` to ``value``, or stop setting it if it does."""
        ev = self.events[j]
        changes = dict(ev.changes)
        if field in changes:
            del changes[field]
        else:
            changes[field] = value
        self.events[j] = dataclasses.replace(ev, changes=changes)

    def _candidates(self, field: str) -> list[tuple[int, Any]]:
        """(異動, value) pairs a repair of ``field`` may flip: the value its row shows, or, for a row
        without a record (an 異動 replayed before any 記載), each value the rows show."""
        shown = list(dict.fromkeys(repr(getattr(t, field)) for t in self.targets if t is not None))
        values = {repr(getattr(t, field)): getattr(t, field) for t in self.targets if t is not None}
        out: list[tuple[int, Any]] = []
        for j, ev in enumerate(self.events):
            if ev.kind == "cancellation":
                continue
            held = self.targets[j]
            if held is not None or field in ev.changes:
                out.append((j, getattr(held, field) if held is not None else ev.changes[field]))
            else:
                out += [(j, values[r]) for r in shown]
        return out

    def repair(self) -> bool:
        """Choose, item by item, which 異動 set it, so that every row is reproduced.

        Rows show values, not which 異動 set them: an item set to the value it already had
        leaves no trace, until a later 取消し (or back-dated 異動) takes away what made it
        redundant.  Items are independent in replay (but for 住所, which a 転居 uses to fill in
        前住所 and 住所を定めた年月日: the three are repaired together), so for each item that some
        row does not reproduce, 異動 are made to set it (or to stop setting it) by a small
        depth-first search (:meth:`_solve`) until every row agrees; the result is then checked on
        every item.
        """
        got = self._replayed()
        if any((g is None) != (t is None) for g, t in zip(got, self.targets, strict=True)):
            return False
        pairs = list(zip(got, self.targets, strict=True))
        bad = [
            f
            for f in ITEM_NAMES
            if any(g is not None and t is not None and getattr(g, f) != getattr(t, f) for g, t in pairs)
        ]
        if any(f in STATUS_ITEMS for f in bad):
            return False
        for field in bad:
            group = _COUPLED.get(field, (field,))
            if self._first_difference(group) is not None and not self._solve(group, _MAX_DEPTH):
                return False
        return self._agree(ITEM_NAMES)


class _Context:
    def __init__(
        self,
        layout: Layout,
        file: str,
        tenant_code: str | None,
        staff: str,
        event_ids: Iterator[int],
        problems: list[Problem],
    ) -> None:
        self.layout = layout
        self.spec = layout.file(RESIDENT_FILE)
        self.file = file
        self.tenant_code = tenant_code
        self.staff = staff
        self.event_ids = event_ids
        self.problems = problems
        self._labels = {it.part_of or it.id: it.name for it in self.spec.items}

    def label(self, field: str) -> str:
        """The standard item name of a PersonState field."""
        return self._labels.get(field, field)


def rows_to_histories(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    tenant_code: str | None = None,
    problems: list[Problem] | None = None,
    event_ids: Iterator[int] | None = None,
    staff: str = _DEFAULT_STAFF,
    file: str | None = None,
    layout: Layout | None = None,
    on_person: Callable[[str, list[MoveEvent]], None] | None = None,
) -> dict[str, list[MoveEvent]]:
    """Rebuild the 異動 of every person from ``(row_number, values)`` of the 住民 file.

    Returns 宛名番号 → 異動 in 履歴番号 order (persons by 宛名番号).  ``event_ids`` gives the ids
    (default 1, 2, 3 …); ``staff`` is used where 処理者 is empty.  With a ``problems`` list, every
    problem is appended to it and the persons with problems are left out; without one,
    :class:`HistoryError` is raised if there is any.  ``on_person`` receives each person's 異動 as
    soon as they are rebuilt, as long as no problem has been found (the import writes them while it
    checks the rest).
    """
    lay = layout or load_layout()
    found: list[Problem] = []
    ctx = _Context(
        lay, file or lay.file(RESIDENT_FILE).file_name, tenant_code, staff, event_ids or itertools.count(1), found
    )
    by_person: dict[str, dict[int, tuple[int, Mapping[str, Any]]]] = {}
    duplicated: set[str] = set()
    for row, values in rows:
        atena, number = str(values["atena_no"]), int(values["history_no"])
        person = by_person.setdefault(atena, {})
        if number in person:
            item = ctx.spec.item("history_no").name
            reason = f"宛名番号 {atena} の履歴番号 {number} が2行あります（{person[number][0]}行目）"
            found.append(Problem(ctx.file, row, item, str(number), reason, ProblemKind.DUPLICATE_KEY, "history_no"))
            duplicated.add(atena)
            continue
        person[number] = (row, values)
    out: dict[str, list[MoveEvent]] = {}
    for atena in sorted(by_person):
        if atena in duplicated:
            continue
        ordered = [by_person[atena][k] for k in sorted(by_person[atena])]
        events = _Person(ordered, ctx).rebuild()
        if events:
            out[atena] = events
            if on_person is not None and not found:
                on_person(atena, events)
    if problems is not None:
        problems.extend(found)
        return out
    if found:
        raise HistoryError(found)
    return out
