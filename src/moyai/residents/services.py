"""住民記録 use cases. Each public function is one transaction inside the caller's 団体 scope.

Entry is two-step (標準仕様書 4.0.8, 4.0.9, 11.1):

1. :func:`propose` — 仮登録: items are parsed, rules run, the request is stored with its
   エラー and アラート. Nothing is visible to searches or certificates yet.
2. :func:`register` — 本登録: the rules run again on the registry as it is now; errors refuse,
   alerts must be confirmed. Kinds that need 審査 (職権記載・職権修正・職権消除・回復・取消し) go to
   ``awaiting_approval`` and are recorded by :func:`approve` (an approver, not the proposer).

Recording appends :class:`~moyai.residents.models.Event` rows and refreshes the projections.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.utils import timezone

from moyai.platform.audit import services as audit
from moyai.platform.audit.context import current_request_id
from moyai.platform.codes.checkdigits import with_mod11
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.services import parameter

from . import projections, signals, suppression
from .domain import fast_replay
from .domain.model import (
    Effect,
    MoveEvent,
    PersonState,
    effective_events,
    first_effective_date,
    kind_spec,
    replay,
)
from .domain.rules import (
    Finding,
    Level,
    ProposedMove,
    RuleContext,
    check,
    label,
    normalise_changes,
    rule_specs,
)
from .errors import RegistryError, ResidentsErrorCode
from .models import ChangeRequest, Event, Household, NumberSequence, Resident, ResidentCodePool

NEW = "new"  # household_no value asking for a new 世帯番号


# ------------------------------------------------------------------ numbering


def next_number(name: str) -> str:
    """Issue the next 宛名番号 or 世帯番号: 9-digit sequence + modulus-11 check digit."""
    seq, _ = NumberSequence.objects.select_for_update().get_or_create(name=name, defaults={"next_value": 1})
    value = seq.next_value
    NumberSequence.objects.filter(name=name).update(next_value=F("next_value") + 1)
    return with_mod11(f"{value:09d}")


def set_sequence(name: str, next_value: int) -> None:
    NumberSequence.objects.update_or_create(name=name, defaults={"next_value": next_value})


@dataclass(frozen=True)
class PoolStatus:
    free: int
    threshold: int

    @property
    def low(self) -> bool:
        return self.free < self.threshold


def load_resident_codes(codes: Iterable[str]) -> int:
    """Add 住民票コード supplied by the national network (CS) to the pool; returns how many were new."""
    clean = sorted({c.strip() for c in codes if c.strip()})
    for c in clean:
        if len(c) != 11 or not c.isdigit():
            raise RegistryError(ResidentsErrorCode.INVALID_INPUT, f"住民票コード {c!r} は11桁の数字ではありません")
    existing = set(ResidentCodePool.objects.filter(code__in=clean).values_list("code", flat=True))
    new = [ResidentCodePool(code=c) for c in clean if c not in existing]
    ResidentCodePool.objects.bulk_create(new, batch_size=2000)
    return len(new)


def resident_code_pool_status() -> PoolStatus:
    free = ResidentCodePool.objects.filter(assigned_to="").count()
    try:
        threshold = int(parameter("resident_code_pool_alert_threshold"))
    except KeyError:
        threshold = 100
    return PoolStatus(free=free, threshold=threshold)


def draw_resident_code(atena_no: str, rng: random.Random | None = None) -> str:
    """Draw a free 住民票コード at random (標準仕様書 4.3.1) and mark it assigned."""
    rng = rng or random.SystemRandom()
    free = ResidentCodePool.objects.filter(assigned_to="").order_by("code")
    count = free.count()
    if count == 0:
        raise RegistryError(
            ResidentsErrorCode.POOL_EMPTY,
            "住民票コードの在庫がありません。住基ネット（CS）から住民票コードを取り込んでください",
            status=409,
        )
    row = free.select_for_update()[rng.randrange(count)]
    ResidentCodePool.objects.filter(code=row.code).update(assigned_to=atena_no, assigned_at=timezone.now())
    return row.code


# ------------------------------------------------------------------ reading the store


def to_domain(row: Event) -> MoveEvent:
    return MoveEvent(
        event_id=row.event_id,
        atena_no=row.atena_no,
        kind=row.kind,
        reason_code=row.reason_code,
        effective_date=row.effective_date,
        notified_date=row.notified_date,
        recorded_at=row.recorded_at,
        staff=row.staff,
        changes=row.changes,
        group_id=row.group_id,
        cancels=row.cancels,
    )


def events_of(atena_nos: Iterable[str]) -> dict[str, list[MoveEvent]]:
    wanted = sorted(set(atena_nos))
    out: dict[str, list[MoveEvent]] = {a: [] for a in wanted}
    if not wanted:
        return out
    # No ORDER BY: the planner must use the (tenant, atena_no, …) index; histories are short.
    for row in Event.objects.filter(atena_no__in=wanted):
        out[row.atena_no].append(to_domain(row))
    for evs in out.values():
        evs.sort(key=lambda e: (e.recorded_at, e.event_id))
    return out


def household_candidates(household_nos: Iterable[str]) -> set[str]:
    """Everyone who ever belonged to these households (their records decide membership on a date)."""
    hh = sorted({h for h in household_nos if h})
    if not hh:
        return set()
    a = set(Event.objects.filter(household_no__in=hh).values_list("atena_no", flat=True))
    a |= set(Resident.objects.filter(household_no__in=hh).values_list("atena_no", flat=True))
    return a


def members_on(
    household_no: str,
    histories: Mapping[str, Sequence[MoveEvent]],
    as_of: dt.date,
    recorded_at: dt.datetime | None = None,
) -> list[PersonState]:
    out = []
    for evs in histories.values():
        st = replay(evs, as_of=as_of, recorded_at=recorded_at)
        if st is not None and st.is_resident and st.household_no == household_no:
            out.append(st)
    return out


# ------------------------------------------------------------------ proposing (仮登録)


@dataclass(frozen=True)
class SubjectInput:
    """One resident's part of a request: existing 宛名番号 (None for a new record) and item changes."""

    atena_no: str | None
    changes: Mapping[str, Any]


def _provisional(mv: ProposedMove, now: dt.datetime, n: int) -> MoveEvent:
    spec = kind_spec(mv.kind)
    return MoveEvent(
        event_id=2**62 + n,
        atena_no=mv.atena_no,
        kind=mv.kind,
        reason_code=spec.reason,
        effective_date=mv.effective_date,
        notified_date=mv.notified_date,
        recorded_at=now,
        staff="",
        changes=mv.changes,
        cancels=mv.cancels,
    )


def evaluate(moves: Sequence[ProposedMove], today: dt.date | None = None) -> list[Finding]:
    """Run every rule for a group of moves against the registry as currently recorded."""
    today = today or timezone.localdate()
    now = timezone.now()
    subjects = [m.atena_no for m in moves]
    histories = events_of(subjects)
    cancel_ok = True
    for m in moves:
        if m.kind == "cancellation":
            target = next((e for e in histories.get(m.atena_no, []) if e.event_id == m.cancels), None)
            already = any(e.cancels == m.cancels for e in histories.get(m.atena_no, []))
            cancel_ok = target is not None and not already and target.kind != "cancellation"
    eff = {m.atena_no: m.effective_date for m in moves}
    before = {a: replay(histories[a], as_of=eff[a]) for a in subjects}
    proposed = {a: list(histories[a]) for a in subjects}
    for n, m in enumerate(moves):
        proposed[m.atena_no].append(_provisional(m, now, n))
    after = {a: replay(proposed[a], as_of=eff[a]) for a in subjects}
    exists = {a: first_effective_date(histories[a]) for a in subjects}

    touched = {s.household_no for s in [*before.values(), *after.values()] if s is not None and s.household_no}
    candidates = household_candidates(touched) - set(subjects)
    others = events_of(candidates)
    date = min(eff.values()) if eff else today
    hist_before = {**others, **{a: histories[a] for a in subjects}}
    hist_after = {**others, **proposed}
    households_before = {h: members_on(h, hist_before, date) for h in touched}
    households_after = {h: members_on(h, hist_after, date) for h in touched}

    holders: dict[str, list[tuple[str, str]]] = {}
    in_request: dict[str, list[str]] = {}
    for m in moves:
        if m.changes.get("individual_number"):
            in_request.setdefault(str(m.changes["individual_number"]), []).append(m.atena_no)
    for num, atenas in in_request.items():
        if len(atenas) > 1:  # the same 個人番号 twice in one request
            holders.setdefault(num, []).extend((a, "resident") for a in atenas)
    numbers = set(in_request)
    if numbers:
        for a, num, status in Resident.objects.filter(individual_number__in=numbers).values_list(
            "atena_no", "individual_number", "status"
        ):
            holders.setdefault(num, []).append((a, status))
    ctx = RuleContext(
        today=today,
        before=before,
        after=after,
        exists_since=exists,
        households_after=households_after,
        households_before=households_before,
        number_holders=holders,
        cancel_target_ok=cancel_ok,
        names={a: s.display_name for a in subjects if (s := replay(histories[a])) is not None},
    )
    return check(moves, ctx)


def _invalid_findings(kind: str, atena: str, problems: list[tuple[str, str]]) -> list[Finding]:
    spec = rule_specs()["invalid_item"]
    return [
        Finding("invalid_item", Level(spec.level), spec.message.format(name=label(item), value=reason, date="", days=""),
                atena, item)
        for item, reason in problems
    ]


def propose(
    actor: Principal,
    kind: str,
    effective_date: dt.date,
    subjects: Sequence[SubjectInput],
    *,
    notified_date: dt.date | None = None,
    cancels: int | None = None,
) -> ChangeRequest:
    """仮登録 of one 届出 or 職権 decision. Returns the stored request with its findings."""
    try:
        spec = kind_spec(kind)
    except ValueError as exc:
        raise RegistryError(ResidentsErrorCode.INVALID_INPUT, str(exc), field="kind") from None
    if not subjects:
        raise RegistryError(ResidentsErrorCode.INVALID_INPUT, "異動の対象者がいません", field="subjects")
    moves: list[ProposedMove] = []
    findings: list[Finding] = []
    new_households: dict[str, str] = {}
    for s in subjects:
        changes, problems = normalise_changes(
            {k: v for k, v in s.changes.items() if not (k == "household_no" and isinstance(v, str) and v.startswith(NEW))}
        )
        raw_hh = s.changes.get("household_no")
        if isinstance(raw_hh, str) and raw_hh.startswith(NEW):
            # "new" or "new:<label>": several subjects may share one new household.
            if raw_hh not in new_households:
                new_households[raw_hh] = next_number("household")
                Household.objects.create(household_no=new_households[raw_hh], created_on=effective_date)
            changes["household_no"] = new_households[raw_hh]
        atena = s.atena_no
        if atena is None:
            if spec.effect != Effect.CREATE:
                raise RegistryError(ResidentsErrorCode.INVALID_INPUT, f"{spec.label}には宛名番号が必要です", field="atena_no")
            atena = next_number("atena")
        if spec.effect == Effect.CREATE:
            changes.setdefault("became_resident_on", None)
            if changes["became_resident_on"] is None:
                from .domain.model import jp_date_json

                changes["became_resident_on"] = jp_date_json(effective_date)
                if kind == "birth":
                    changes.setdefault("birth_date", jp_date_json(effective_date))
            changes.setdefault("address_set_on", changes["became_resident_on"])
        findings += _invalid_findings(kind, atena, problems)
        moves.append(ProposedMove(kind, atena, effective_date, notified_date, changes, cancels))
    findings += evaluate(moves)
    stopped = _suppression_findings(moves)
    findings += stopped
    if any(f.level == Level.ERROR for f in stopped):
        suppression.record_blocked(_move_blocked(actor, kind, stopped))
    req = ChangeRequest.objects.create(
        kind=kind,
        effective_date=effective_date,
        notified_date=notified_date,
        moves=[_move_json(m) for m in moves],
        findings=[f.as_dict() for f in findings],
        created_by=actor.label,
    )
    audit.record(actor, "move.propose", [m.atena_no for m in moves], detail={"request": req.id, "kind": kind})
    return req


def _move_json(m: ProposedMove) -> dict[str, Any]:
    return {"kind": m.kind, "atena_no": m.atena_no, "effective_date": m.effective_date.isoformat(),
            "notified_date": m.notified_date.isoformat() if m.notified_date else None,
            "changes": dict(m.changes), "cancels": m.cancels}


def _moves_of(req: ChangeRequest) -> list[ProposedMove]:
    return [
        ProposedMove(
            kind=m["kind"],
            atena_no=m["atena_no"],
            effective_date=dt.date.fromisoformat(m["effective_date"]),
            notified_date=dt.date.fromisoformat(m["notified_date"]) if m["notified_date"] else None,
            changes=m["changes"],
            cancels=m.get("cancels"),
        )
        for m in req.moves
    ]


def get_request(request_id: int) -> ChangeRequest:
    req = ChangeRequest.objects.select_for_update().filter(id=request_id).first()
    if req is None:
        raise RegistryError(ResidentsErrorCode.REQUEST_NOT_FOUND, f"仮登録 {request_id} は見つかりません", status=404)
    return req


OPEN = ("draft", "awaiting_approval")


def _suppression_findings(moves: Sequence[ProposedMove]) -> list[Finding]:
    """異動抑止 (標準仕様書 3.1) of the subjects, as エラー / アラート findings."""
    decision = suppression.check_process(suppression.Process.MOVE, [m.atena_no for m in moves])
    return [Finding("suppression", b.level, b.message, b.atena_no) for b in decision.blocks]


def _move_blocked(actor: Principal, kind: str, stopped: Sequence[Finding]) -> suppression.BlockedAttempt:
    return suppression.blocked(actor, "move", [f.atena_no for f in stopped if f.level == Level.ERROR and f.atena_no],
                               kind=kind)


def _recheck(req: ChangeRequest, confirm_alerts: bool, actor: Principal | None = None) -> list[Finding]:
    moves = _moves_of(req)
    stopped = _suppression_findings(moves)
    findings = [*evaluate(moves), *stopped]
    # Item problems found at 仮登録 cannot disappear: keep them.
    stored_invalid = [f for f in req.findings if f["rule"] == "invalid_item"]
    req.findings = [*stored_invalid, *[f.as_dict() for f in findings]]
    errs = [f for f in req.findings if f["level"] == Level.ERROR]
    if errs and actor is not None and any(f.level == Level.ERROR for f in stopped):
        raise suppression.refuse(
            ResidentsErrorCode.RULE_ERRORS,
            "エラーがあるため登録できません: " + " / ".join(f["message"] for f in errs),
            _move_blocked(actor, req.kind, stopped),
            findings=errs,
            status=422,
        )
    if errs:
        req.save(update_fields=["findings"])
        raise RegistryError(
            ResidentsErrorCode.RULE_ERRORS,
            "エラーがあるため登録できません: " + " / ".join(f["message"] for f in errs),
            findings=errs,
            status=422,
        )
    alert_list = [f for f in req.findings if f["level"] == Level.ALERT]
    if alert_list and not confirm_alerts:
        req.save(update_fields=["findings"])
        raise RegistryError(
            ResidentsErrorCode.ALERTS_NOT_CONFIRMED,
            "アラートを確認してから登録してください: " + " / ".join(f["message"] for f in alert_list),
            findings=alert_list,
            status=409,
        )
    return findings


def register(actor: Principal, request_id: int, *, confirm_alerts: bool = False) -> ChangeRequest:
    """本登録. Kinds that need 審査 move to ``awaiting_approval`` instead of being recorded."""
    req = get_request(request_id)
    if req.status != "draft":
        raise RegistryError(ResidentsErrorCode.INVALID_STATE, f"仮登録 {request_id} は{_status_label(req.status)}のため本登録できません",
                            status=409)
    _recheck(req, confirm_alerts, actor)
    if kind_spec(req.kind).approval:
        req.status = "awaiting_approval"
        req.save(update_fields=["status", "findings"])
        audit.record(actor, "move.submit_for_approval", [m["atena_no"] for m in req.moves], detail={"request": req.id})
        return req
    return _record(actor, req, "move.register")


def approve(actor: Principal, request_id: int, *, confirm_alerts: bool = False, note: str = "") -> ChangeRequest:
    """審査 approval of a 職権 change: records it. The proposer cannot approve their own request."""
    actor.require("move.approve")
    req = get_request(request_id)
    if req.status != "awaiting_approval":
        raise RegistryError(ResidentsErrorCode.INVALID_STATE, f"仮登録 {request_id} は審査待ちではありません", status=409)
    if req.created_by == actor.label:
        raise RegistryError(ResidentsErrorCode.SELF_APPROVAL, "自分が入力した異動は審査できません", status=403)
    _recheck(req, confirm_alerts, actor)
    req.decided_by = actor.label
    req.decided_at = timezone.now()
    req.decision_note = note[:400]
    return _record(actor, req, "move.approve")


def reject(actor: Principal, request_id: int, note: str) -> ChangeRequest:
    actor.require("move.approve")
    req = get_request(request_id)
    if req.status != "awaiting_approval":
        raise RegistryError(ResidentsErrorCode.INVALID_STATE, f"仮登録 {request_id} は審査待ちではありません", status=409)
    req.status = "rejected"
    req.decided_by = actor.label
    req.decided_at = timezone.now()
    req.decision_note = note[:400]
    req.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit.record(actor, "move.reject", [m["atena_no"] for m in req.moves], detail={"request": req.id})
    return req


def withdraw(actor: Principal, request_id: int) -> ChangeRequest:
    req = get_request(request_id)
    if req.status not in OPEN:
        raise RegistryError(ResidentsErrorCode.INVALID_STATE, f"仮登録 {request_id} は取り下げできません", status=409)
    req.status = "withdrawn"
    req.save(update_fields=["status"])
    audit.record(actor, "move.withdraw", [m["atena_no"] for m in req.moves], detail={"request": req.id})
    return req


def _status_label(status: str) -> str:
    return {"draft": "仮登録", "awaiting_approval": "審査待ち", "registered": "本登録済み", "rejected": "却下",
            "withdrawn": "取下げ"}.get(status, status)


def _record(actor: Principal, req: ChangeRequest, operation: str) -> ChangeRequest:
    now = timezone.now()
    group = req.id
    rows = []
    for mv in _moves_of(req):
        spec = kind_spec(mv.kind)
        changes = dict(mv.changes)
        if spec.effect == Effect.CREATE and not changes.get("resident_code"):
            existing = Resident.objects.filter(atena_no=mv.atena_no).values_list("resident_code", flat=True).first()
            if not existing:
                changes["resident_code"] = draw_resident_code(mv.atena_no)
        hh = changes.get("household_no")
        rows.append(
            Event(
                atena_no=mv.atena_no,
                kind=mv.kind,
                reason_code=spec.reason,
                effective_date=mv.effective_date,
                notified_date=mv.notified_date,
                recorded_at=now,
                staff=actor.label,
                changes=changes,
                household_no=hh or "",
                group_id=group,
                cancels=mv.cancels,
                request_id=current_request_id(),
            )
        )
    Event.objects.bulk_create(rows)
    req.status = "registered"
    req.group_id = group
    req.save(update_fields=["status", "group_id", "findings", "decided_by", "decided_at", "decision_note"])
    subjects = [r.atena_no for r in rows]
    projections.refresh(subjects)
    signals.recorded.send(sender=Event, tenant_code=req.tenant_id, changes=[
        signals.RecordedChange(r.atena_no, r.kind, r.effective_date, r.event_id, now) for r in rows])
    touches_number = any("individual_number" in r.changes for r in rows)
    audit.record(actor, operation, subjects, individual_number=touches_number,
                 detail={"request": req.id, "kind": req.kind, "events": [r.event_id for r in rows]})
    return req


def record_now(
    actor: Principal,
    kind: str,
    effective_date: dt.date,
    subjects: Sequence[SubjectInput],
    *,
    notified_date: dt.date | None = None,
    cancels: int | None = None,
    confirm_alerts: bool = False,
) -> ChangeRequest:
    """仮登録 and 本登録 in one call (batch input, tests, the demo); 審査 kinds stop at awaiting_approval."""
    req = propose(actor, kind, effective_date, subjects, notified_date=notified_date, cancels=cancels)
    return register(actor, req.id, confirm_alerts=confirm_alerts)


# ------------------------------------------------------------------ bulk load (demo, migration)


@dataclass(frozen=True)
class LoadSummary:
    events: int
    residents: int
    search_keys: int
    households: int


#: the persons of a load are projected and written in this many parts: on PostgreSQL, the server moves
#: one part's rows into their indexes while the next part is projected (:func:`moyai.platform.db.bulk.overlapped`)
LOAD_PARTS = 8
#: persons per part of a :class:`HistoryLoader` fed as it goes (the import, while it checks)
LOAD_PART = 5000


def load_histories(
    events: Sequence[MoveEvent],
    *,
    next_atena_seq: int,
    next_household_seq: int,
    today: dt.date | None = None,
) -> LoadSummary:
    """Append whole histories (already validated) to the active 団体 and build the projections.

    For loads into an empty 団体 (the demo, a 中間標準レイアウト migration): events are written
    as they are, in one transaction with the projections, so a failure leaves nothing.  The
    projections are those :func:`projections.project` gives (the tests compare them with a
    rebuild), computed with a faster replay (:func:`.domain.fast_replay.apply`).  Written in
    :data:`LOAD_PARTS` parts by a :class:`HistoryLoader`.
    """
    by_person: dict[str, list[MoveEvent]] = {}
    for e in events:
        by_person.setdefault(e.atena_no, []).append(e)
    with HistoryLoader(today=today, part=max(1, -(-len(by_person) // LOAD_PARTS))) as loader:
        for atena, evs in by_person.items():
            loader.add(atena, evs)
        return loader.finish(next_atena_seq=next_atena_seq, next_household_seq=next_household_seq)


class HistoryLoader:
    """A bulk load written as the persons' whole histories come (:func:`load_histories`; the import
    feeds it while it checks the files).

    Each part of ``part`` persons is written when complete: its 異動, then its projections.  On
    PostgreSQL, inside :func:`moyai.platform.db.bulk.overlapped`, the server moves one part's rows
    into their indexes while the caller checks or projects the next.  Use it as a context manager
    inside the 団体's scope (one transaction); :meth:`finish` writes the last part, the 世帯 and
    the numbering.  A failure anywhere, the caller's too, leaves nothing once the transaction is
    rolled back.
    """

    def __init__(self, *, today: dt.date | None = None, part: int | None = None) -> None:
        from moyai.platform.db.bulk import overlapped

        self.today = today or timezone.localdate()
        self.part = part or LOAD_PART
        self._persons: list[tuple[str, Sequence[MoveEvent]]] = []
        self._first_seen: dict[str, dt.date] = {}
        self._events = self._residents = self._keys = 0
        self._overlap = overlapped()

    def __enter__(self) -> HistoryLoader:
        self._overlap.__enter__()
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self._overlap.__exit__(*exc)

    def add(self, atena_no: str, events: Sequence[MoveEvent]) -> None:
        """One person's whole history (already validated)."""
        first_seen = self._first_seen
        for e in events:
            hh = e.changes.get("household_no")
            if hh and (hh not in first_seen or e.effective_date < first_seen[hh]):
                first_seen[str(hh)] = e.effective_date
        self._persons.append((atena_no, events))
        if len(self._persons) >= self.part:
            self._write_part()

    def _write_part(self) -> None:
        from moyai.platform.db.bulk import insert_values

        persons, self._persons = self._persons, []
        if not persons:
            return
        self._events += insert_values(Event, (
            {"event_id": e.event_id, "atena_no": e.atena_no, "kind": e.kind, "reason_code": e.reason_code,
             "effective_date": e.effective_date, "notified_date": e.notified_date, "recorded_at": e.recorded_at,
             "staff": e.staff, "changes": e.changes, "household_no": str(e.changes.get("household_no") or ""),
             "group_id": e.group_id or e.event_id, "cancels": e.cancels, "request_id": "load"}
            for _, evs in persons for e in evs
        ))
        today = self.today
        rows = [r for a, evs in persons if (r := _load_project(a, evs, today)) is not None]
        n_res, n_keys = projections.write(rows)
        self._residents += n_res
        self._keys += n_keys

    def finish(self, *, next_atena_seq: int, next_household_seq: int) -> LoadSummary:
        """Write the last part, the 世帯 and where the numbering goes on; returns what was written."""
        from moyai.platform.db.bulk import insert_values, settle

        self._write_part()
        n_hh = insert_values(
            Household, ({"household_no": h, "created_on": d} for h, d in sorted(self._first_seen.items()))
        )
        settle()  # the last move done (its error raised) before the ORM's own statements
        set_sequence("atena", next_atena_seq)
        set_sequence("household", next_household_seq)
        return LoadSummary(self._events, self._residents, self._keys, n_hh)


#: The PersonState fields the search keys are made of (:func:`projections._keys_of`).
_KEY_FIELDS = ("family_name", "given_name", "name_alpha", "alias", "former_surname", "combined_name", "family_kana",
               "given_kana", "alias_kana", "former_surname_kana", "address")


def _load_project(atena_no: str, events: Sequence[MoveEvent], today: dt.date) -> projections.ProjectedRows | None:
    """:func:`projections.project` of one person, with :func:`.domain.fast_replay.apply` (the same rows)."""
    live = effective_events(events)
    state: PersonState | None = None
    past: dict[tuple[str, str], None] = {}
    pending: dt.date | None = None
    keys_of = projections._keys_of
    keyed: PersonState | None = None  # the last record whose keys were computed
    current: dict[tuple[str, str], None] = {}
    for ev in live:
        if ev.effective_date > today:
            pending = ev.effective_date
            break
        state = fast_replay.apply(state, ev)
        if state is not None:
            # keys depend on names and the address only: the same values, the same keys
            if keyed is None or any(getattr(state, f) is not getattr(keyed, f) for f in _KEY_FIELDS):
                current = keys_of(state)
                past.update(current)
            keyed = state
    if state is None:
        return None
    resident = dict(
        atena_no=atena_no,
        household_no=state.household_no or "",
        status=state.status,
        resident_kind=state.resident_kind,
        display_name=state.display_name[:200],
        display_kana=state.display_kana[:200],
        birth_sort=projections._birth_sort(state),
        sex=state.sex or "",
        relationship=state.relationship or "",
        order_in_household=state.order_in_household,
        address=(state.address or "")[:300],
        katagaki=(state.katagaki or "")[:200],
        postal_code=state.postal_code or "",
        individual_number=state.individual_number or "",
        resident_code=state.resident_code or "",
        removed_on=dt.date.fromisoformat(state.removed_on) if state.removed_on else None,
        pending_from=pending,
        state=state.as_dict(),
        version=max(e.event_id for e in events),
    )
    sort_kana, is_resident = resident["display_kana"], state.is_resident
    keys = [
        {"kind": kind, "key": key[:300], "atena_no": atena_no, "current": (kind, key) in current,
         "sort_kana": sort_kana, "resident": is_resident}
        for (kind, key) in {**past, **current}
    ]
    return projections.ProjectedRows(resident, keys)
