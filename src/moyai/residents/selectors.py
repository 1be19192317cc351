"""Read side of 住民記録: search (検索) and reconstruction as of any date (照会).

Every function that returns personal data writes an access-log entry naming the residents.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from django.db.models import Q, QuerySet
from django.utils import timezone

from moyai.platform.audit import services as audit
from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.codes.wareki import JpDateError, parse_date_query
from moyai.platform.db.lookups import PREFIX_END
from moyai.platform.identity.services import Principal

from .domain.model import HistoryRow, PersonState, history_rows, replay, state_from_dict
from .domain.search_keys import address_key, fuzzy_kana_key, is_kana_query, kana_key, name_key, query_terms
from .domain.suppression import (
    IssuanceDecision,
    MeasureFacts,
    PersonDecision,
    ProcessDecision,
    Requester,
    SuppressionFacts,
    decide_issuance,
    decide_process,
    renewal_opens,
    wareki,
)
from .domain.suppression import Outcome as IssuanceOutcome
from .domain.suppression import Process as SuppressedProcess
from .errors import RegistryError, ResidentsErrorCode
from .models import ChangeRequest, Resident, SearchHistory, SearchKey, SupportMeasure, SupportMeasurePerson, Suppression
from .services import events_of, household_candidates, members_on
from .suppression import (
    VIEW_RIGHT,
    SuppressionError,
    blocked,
    check_process,
    households_of,
    measure_facts,
    measures_for,
    person_order,
    persons_of,
    protected_atena,
    record_blocked,
    refuse,
    search_context,
    suppressions_for,
)

__all__ = ["IssuanceDecision", "IssuanceOutcome", "PersonDecision", "ProcessDecision", "SuppressedProcess"]

MAX_PER_PAGE = 100

@dataclass(frozen=True)
class SearchQuery:
    name: str = ""  # 氏名 or カナ, full or leading part; spaces, width, kana kind and old kanji tolerated
    given: str = ""  # 名 (or 名のフリガナ) only
    birth: str = ""  # 生年月日 in 西暦 or 和暦, full or partial (平成2年, H2.3.4, R6/1/1…)
    address: str = ""  # 住所, from the town part or in full
    atena_no: str = ""  # 宛名番号
    resident_code: str = ""  # 住民票コード
    include_removed: bool = False  # 除票 too
    fuzzy: bool = True  # あいまい検索 of readings (濁点・小書き・長音などを区別しない)
    match: str = "prefix"  # prefix 前方一致 / exact 完全一致 / partial 部分一致
    sex: str = ""  # 性別コード
    household_no: str = ""  # 世帯番号
    individual_number: str = ""  # 個人番号 (the access is logged as a use of 個人番号)
    katagaki_empty: bool = False  # 方書が空欄の人
    page: int = 1
    per_page: int = 20

    def is_empty(self) -> bool:
        return not any([self.name.strip(), self.given.strip(), self.birth.strip(), self.address.strip(),
                        self.atena_no.strip(), self.resident_code.strip(), self.household_no.strip(),
                        self.individual_number.strip()])


COUNT_CAP = 1000


@dataclass
class SearchResult:
    total: int  # capped at COUNT_CAP + 1 (shown as "1,000件超")
    page: int
    per_page: int
    items: list[Resident] = field(default_factory=list)
    #: 宛名番号 → marks shown beside the hit (抑止対象, 支援措置: 標準仕様書 3.1 "検索結果の表示の際、抑止対象であることが明らか")
    marks: dict[str, list[str]] = field(default_factory=dict)


def _digits(s: str) -> str:
    return unicodedata.normalize("NFKC", s).replace("-", "").replace(" ", "").strip()


def _key_criteria(q: SearchQuery) -> list[tuple[str, str]]:
    """(key kind, key) for the name, given-name and address conditions of a query."""
    out: list[tuple[str, str]] = []
    if q.name.strip():
        if is_kana_query(q.name):
            out.append(("kana_fuzzy", fuzzy_kana_key(q.name)) if q.fuzzy else ("kana", kana_key(q.name)))
        else:
            out.append(("name", "".join(query_terms(q.name))))
    if q.given.strip():
        if is_kana_query(q.given):
            out.append(("given_kana_fuzzy", fuzzy_kana_key(q.given)) if q.fuzzy else ("given_kana", kana_key(q.given)))
        else:
            out.append(("given_name", name_key(q.given)))
    if q.address.strip():
        out.append(("address", address_key(q.address)))
    return [(k, v) for k, v in out if v]


def _record_filters(q: SearchQuery) -> dict[str, Any]:
    """Conditions on the current record itself (Resident columns)."""
    f: dict[str, Any] = {}
    if q.birth.strip():
        try:
            start, end = parse_date_query(q.birth)
        except JpDateError as exc:
            raise RegistryError(ResidentsErrorCode.INVALID_INPUT, exc.message, field="birth") from None
        # Unknown parts are stored as 00 (1990-00-00 for 平成2年月日不詳): a period that starts on
        # the 1st of a month (or of January) also takes the records known only to that month (year).
        low = start.isoformat()
        if start.day == 1:
            low = f"{start.year:04d}-{start.month:02d}-00"
            if start.month == 1:
                low = f"{start.year:04d}-00-00"
        f["birth_sort__gte"], f["birth_sort__lte"] = low, end.isoformat()
    if q.atena_no.strip():
        f["atena_no"] = _digits(q.atena_no)
    if q.resident_code.strip():
        f["resident_code"] = _digits(q.resident_code)
    if q.household_no.strip():
        f["household_no"] = _digits(q.household_no)
    if q.individual_number.strip():
        f["individual_number"] = _digits(q.individual_number)
    if q.sex.strip():
        f["sex"] = q.sex.strip()
    if q.katagaki_empty:
        f["katagaki"] = ""
    return f


def _validate(q: SearchQuery) -> None:
    if q.is_empty():
        raise RegistryError(ResidentsErrorCode.INVALID_INPUT, "検索条件を1つ以上入力してください", field="name")
    if q.match not in MATCHES:
        raise RegistryError(ResidentsErrorCode.INVALID_INPUT, "一致方法は prefix（前方一致）・exact（完全一致）・"
                            "partial（部分一致）のいずれかです", field="match")
    if q.page < 1 or not 1 <= q.per_page <= MAX_PER_PAGE:
        raise RegistryError(ResidentsErrorCode.INVALID_INPUT, f"ページ指定が正しくありません（1ページ{MAX_PER_PAGE}件まで）",
                            field="per_page")


def build_search(q: SearchQuery) -> QuerySet[Any, Any]:
    """The ordered (フリガナ, 宛名番号) query of matching 宛名番号 (validated; errors name the field).

    With a name, reading or address condition the search runs on the key table alone (its rows
    carry the sort key and the 住民/消除 flag), which an index serves in key order; conditions on
    the record (生年月日, numbers…) are applied as a semi-join. Otherwise it runs on the records.
    """
    _validate(q)
    keys = _key_criteria(q)
    record = _record_filters(q)
    if keys:
        (kind, key), *more = keys
        qs = _keys(kind, key, q.match)
        if not q.include_removed:
            qs = qs.filter(resident=True)
        for kind2, key2 in more:
            qs = qs.filter(atena_no__in=_keys(kind2, key2, q.match).values("atena_no"))
        if record:
            qs = qs.filter(atena_no__in=Resident.objects.filter(**record).values("atena_no"))
        return qs.values("sort_kana", "atena_no").distinct().order_by("sort_kana", "atena_no")
    rs = Resident.objects.filter(**record)
    if not q.include_removed:
        rs = rs.filter(status="resident")
    return rs.values("display_kana", "atena_no").order_by("display_kana", "atena_no")


MATCHES = ("prefix", "exact", "partial")


def _keys(kind: str, key: str, match: str) -> QuerySet[SearchKey]:
    sk = SearchKey.objects.filter(kind=kind)
    if match == "exact":
        return sk.filter(key=key)
    if match == "partial":
        return sk.filter(key__contains=key)  # no index can serve this: a scan of the 団体's keys
    return sk.filter(key__bytes_gte=key, key__bytes_lt=key + PREFIX_END)


def search(actor: Principal, q: SearchQuery, *, purpose: str = "") -> SearchResult:
    """Search; persons under a 支援措置 are left out (also from the count) unless the actor may see them."""
    qs = build_search(q)
    protected, suppressed = search_context(_today())
    if protected and VIEW_RIGHT not in actor.permissions:
        hidden = [row["atena_no"] for row in qs.filter(atena_no__in=sorted(protected))[:MAX_PER_PAGE]]
        if hidden:
            record_blocked(blocked(actor, "search", hidden, query=_query_for_log(q), hidden=len(hidden)))
            qs = qs.exclude(atena_no__in=sorted(protected))
    total, atena = _count_and_page(qs, q)
    by_atena = {r.atena_no: r for r in Resident.objects.filter(atena_no__in=atena)}
    items = [by_atena[a] for a in atena if a in by_atena]
    audit.record(actor, "resident.search", [r.atena_no for r in items], purpose=purpose,
                 individual_number=bool(q.individual_number.strip()),
                 detail={"query": _query_for_log(q), "total": total, "page": q.page})
    if q.page == 1:
        remember_search(actor, q)
    marked = [r.atena_no for r in items if r.atena_no in suppressed or r.household_no in suppressed
              or (r.atena_no in protected and VIEW_RIGHT in actor.permissions)]
    return SearchResult(total=total, page=q.page, per_page=q.per_page, items=items,
                        marks=suppression_marks(actor, marked, protected=protected))


def _count_and_page(qs: QuerySet[Any, Any], q: SearchQuery) -> tuple[int, list[str]]:
    """(count capped at COUNT_CAP + 1, 宛名番号 of the page).

    "More than COUNT_CAP" is all a counter needs to know. While the page lies within the first
    COUNT_CAP + 1 hits (page 1 to 50 of 20), one query reads those hits' 宛名番号 and both come
    from it: the matching rows are read and sorted once, not once for the count and again for
    the page (each pass is most of a broad search's time). Past that, a capped count and the page.
    """
    window = COUNT_CAP + 1
    offset = (q.page - 1) * q.per_page
    if offset + q.per_page <= window:
        columns = qs.query.values_select  # the same (sort key, 宛名番号) pairs, as tuples rather than dicts
        at = columns.index("atena_no")
        hits = [row[at] for row in qs.values_list(*columns)[:window]]
        return len(hits), hits[offset : offset + q.per_page]
    return qs[:window].count(), [row["atena_no"] for row in qs[offset : offset + q.per_page]]


def _query_for_log(q: SearchQuery) -> dict[str, Any]:
    defaults = SearchQuery()
    return {k: v for k, v in q.__dict__.items()
            if v != getattr(defaults, k) and k not in ("page", "per_page")}


SEARCH_HISTORY_KEPT = 20


def remember_search(actor: Principal, q: SearchQuery) -> None:
    """検索履歴 (標準仕様書 2.1.1): the last conditions of each staff member, newest first."""
    SearchHistory.objects.create(actor=actor.label, query=_query_for_log(q))
    # one statement (not a read of the old ids, then a delete)
    newest = SearchHistory.objects.filter(actor=actor.label).order_by("-at", "-id").values("id")[:SEARCH_HISTORY_KEPT]
    SearchHistory.objects.filter(actor=actor.label).exclude(id__in=newest).delete()


def search_history(actor: Principal) -> list[dict[str, Any]]:
    return [dict(h) for h in SearchHistory.objects.filter(actor=actor.label).order_by("-at", "-id")
            .values("id", "at", "query")[:SEARCH_HISTORY_KEPT]]


@dataclass(frozen=True)
class ResidentView:
    record: PersonState
    household: list[PersonState]
    as_of: dt.date | None
    recorded_at: dt.datetime | None
    #: 抑止 and 支援措置 notices for the screen (照会 アラート, 支援措置期間中, 期間終了間近…)
    notices: tuple[str, ...] = ()


def resident_view(
    actor: Principal,
    atena_no: str,
    *,
    as_of: dt.date | None = None,
    recorded_at: dt.datetime | None = None,
    purpose: str = "",
    process: str = "inquiry",
) -> ResidentView:
    """One resident's record and household, as of an effective date, as recorded at a moment.

    A person under a 支援措置 is "not found" for an actor without the right, and left out of the
    household of others; a 照会 抑止 at エラー level refuses the view (3.1). Both are logged as
    blocked attempts. ``process``: "issuance" when a certificate is being made (the 発行 抑止 and
    the 支援措置 rules are then :func:`issuance_check`'s), else "inquiry".
    """
    notices = guard_view(actor, atena_no, process=process)
    histories = events_of([atena_no])
    state = replay(histories[atena_no], as_of=as_of, recorded_at=recorded_at)
    if state is None:
        raise RegistryError(ResidentsErrorCode.NOT_FOUND, f"宛名番号 {atena_no} の住民記録はありません"
                            + ("（指定日時点）" if as_of or recorded_at else ""), status=404, field="atena_no")
    members: list[PersonState] = []
    if state.household_no and state.is_resident:
        members = hide_protected(actor, household_on(state.household_no, as_of=as_of, recorded_at=recorded_at))
    audit.record(actor, "resident.view", [atena_no, *[m.atena_no for m in members]], purpose=purpose,
                 individual_number=bool(state.individual_number),
                 detail={"as_of": as_of.isoformat() if as_of else None,
                         "recorded_at": recorded_at.isoformat() if recorded_at else None})
    return ResidentView(state, members, as_of, recorded_at, notices)


def household_on(household_no: str, *, as_of: dt.date | None = None,
                 recorded_at: dt.datetime | None = None) -> list[PersonState]:
    """Members of a 世帯 as of a date and as recorded at a moment, in household order."""
    histories = events_of(household_candidates([household_no]))
    on = as_of or dt.date.max
    members = members_on(household_no, histories, on, recorded_at)
    return sorted(members, key=lambda s: (0 if s.relationship == "世帯主" else 1, s.order_in_household or 99,
                                          s.atena_no))


def household_view(actor: Principal, household_no: str, *, as_of: dt.date | None = None,
                   recorded_at: dt.datetime | None = None, purpose: str = "") -> list[PersonState]:
    members = hide_protected(actor, household_on(household_no, as_of=as_of, recorded_at=recorded_at))
    if not members:
        raise RegistryError(ResidentsErrorCode.NOT_FOUND, f"世帯番号 {household_no} の世帯はありません", status=404)
    audit.record(actor, "household.view", [m.atena_no for m in members], purpose=purpose,
                 detail={"household_no": household_no})
    return members


def history(actor: Principal, atena_no: str, *, purpose: str = "") -> list[HistoryRow]:
    """The standard's full history rows (one per 履歴番号) of one resident."""
    guard_view(actor, atena_no)
    evs = events_of([atena_no])[atena_no]
    if not evs:
        raise RegistryError(ResidentsErrorCode.NOT_FOUND, f"宛名番号 {atena_no} の住民記録はありません", status=404)
    audit.record(actor, "resident.history", [atena_no], purpose=purpose)
    return history_rows(evs)


def awaiting_approval(actor: Principal, limit: int = 200) -> list[ChangeRequest]:
    """仮登録 waiting for 審査, oldest first (the list names residents: it is logged)."""
    rows = list(ChangeRequest.objects.filter(status="awaiting_approval").order_by("created_at")[:limit])
    audit.record(actor, "move.list_awaiting", [m["atena_no"] for r in rows for m in r.moves])
    return rows


def change_view(actor: Principal, request_id: int) -> ChangeRequest:
    """One 仮登録 with its items and findings (logged as a read of those residents' data)."""
    req = ChangeRequest.objects.filter(id=request_id).first()
    if req is None:
        raise RegistryError(ResidentsErrorCode.REQUEST_NOT_FOUND, f"仮登録 {request_id} は見つかりません", status=404)
    audit.record(actor, "move.view", [m["atena_no"] for m in req.moves], detail={"request": req.id})
    return req


# ------------------------------------------------------------------ 抑止 and 支援措置 (標準仕様書 3.1, 3.4, 2.2.4)


def _today() -> dt.date:
    return timezone.localdate()


def guard_view(actor: Principal, atena_no: str, *, process: str = "inquiry") -> tuple[str, ...]:
    """Refuse a view of a protected person to an actor without the right (as if not found), and a
    view stopped by a 照会 抑止 (エラー); returns the notices to show with the record."""
    today, now = _today(), timezone.now()
    measures = [m for m in measures_for([atena_no]) if m.protects(today) and atena_no in m.persons]
    if measures and VIEW_RIGHT not in actor.permissions:
        raise refuse(ResidentsErrorCode.NOT_FOUND, f"宛名番号 {atena_no} の住民記録はありません",
                     blocked(actor, "inquiry", [atena_no], refused="support_measure"), status=404, field="atena_no")
    notices: list[str] = []
    hh = households_of([atena_no])
    sups = suppressions_for([atena_no], hh)
    if process == "inquiry":
        decision = decide_process(SuppressedProcess.INQUIRY, [atena_no], hh, sups, today, now)
        if decision.errors:
            raise refuse("suppression.suppressed", " / ".join(dict.fromkeys(b.message for b in decision.errors)),
                         blocked(actor, "inquiry", [atena_no], refused="suppression",
                                 suppressions=[b.suppression_id for b in decision.errors]),
                         status=403, field="atena_no")
        notices += [b.message for b in decision.alerts]
    notices += suppression_marks(actor, [atena_no], measures=measures, households=hh,
                                 suppressions=sups).get(atena_no, [])
    for m in measures:
        notices += m.notices(today)
    return tuple(dict.fromkeys(notices))


def hide_protected(actor: Principal, members: list[PersonState]) -> list[PersonState]:
    """Members of a 世帯 without the persons under a 支援措置, for an actor without the right."""
    if VIEW_RIGHT in actor.permissions or not members:
        return members
    protected = protected_atena(_today()) & {m.atena_no for m in members}
    if not protected:
        return members
    record_blocked(blocked(actor, "inquiry", protected, hidden_from="household"))
    return [m for m in members if m.atena_no not in protected]


def suppression_marks(actor: Principal, atena_nos: list[str], *, protected: set[str] | None = None,
                      measures: list[MeasureFacts] | None = None, households: dict[str, str] | None = None,
                      suppressions: list[SuppressionFacts] | None = None) -> dict[str, list[str]]:
    """What a list or a record shows beside each person: 抑止 in force, and (with the right) 支援措置.

    ``households``/``suppressions``/``measures``: facts the caller already read (else read here)."""
    if not atena_nos:
        return {}
    from .domain.suppression import rules as suppression_rules

    r = suppression_rules()
    today, now = _today(), timezone.now()
    hh = households if households is not None else households_of(atena_nos)
    out: dict[str, list[str]] = {}
    for s in suppressions if suppressions is not None else suppressions_for(atena_nos, hh):
        if not s.in_force(today, now):
            continue
        label = f"{r.processes[s.process.value]}抑止（{r.levels[s.level.value]}）"
        if s.release is not None and s.release.covers(now):
            label += f"一時解除中（{s.release.until.astimezone(timezone.get_current_timezone()):%H:%M}まで）"
        if s.overdue(today) and s.end_date:
            label += "・終了日経過"
        for a in atena_nos:
            if (s.target_kind == "person" and s.target == a) or (s.target_kind == "household" and s.target == hh.get(a)):
                out.setdefault(a, []).append(label)
    if VIEW_RIGHT in actor.permissions:
        if measures is None:
            wanted = [a for a in atena_nos if protected is None or a in protected]
            measures = measures_for(wanted) if wanted else []
        for m in measures:
            if not m.protects(today):
                continue
            for a in atena_nos:
                if a in m.persons:
                    out.setdefault(a, []).append(f"{m.name}（{_PHASES[m.phase(today).value]}）")
    return {a: list(dict.fromkeys(v)) for a, v in out.items()}


_PHASES = {"provisional": "仮支援措置中", "active": "期間中", "expiring": "期間終了間近", "expired": "期間終了・未延長",
           "ended": "終了", "not_started": "開始前"}


def issuance_check(
    actor: Principal,
    atena_nos: list[str] | tuple[str, ...],
    *,
    requester: Requester,
    on: dt.date,
    now: dt.datetime | None = None,
    requested_by: str | None = None,
) -> IssuanceDecision:
    """May a certificate naming these persons be issued to this requester? (3.1 発行抑止, 3.4 支援措置)

    One :class:`PersonDecision` per person: allowed / omit (make the certificate without them) /
    refuse (no certificate), with Japanese reasons and alerts to confirm. The rules per requester
    are in ``suppression_rules.yaml``: by default a person under a 支援措置 is refused to a third
    party or a public office (until a 一時解除 after 審査), omitted from a certificate requested by
    another member of the 世帯, and allowed (with an alert) to themselves. ``requested_by``: the
    requester's 宛名番号 when they are a resident (decides who is 本人 of each measure).

    Blocked persons are written to the access log as a blocked attempt. When the caller refuses
    the issuance by raising, raise :func:`issuance_refusal` so that entry survives the rollback.
    """
    now = now or timezone.now()
    hh = households_of(atena_nos)
    decision = decide_issuance(
        list(atena_nos), requester=requester, on=on, now=now, households=hh,
        suppressions=suppressions_for(atena_nos, hh), measures=measures_for(atena_nos),
        detailed=VIEW_RIGHT in actor.permissions, requested_by=requested_by,
    )
    if decision.blocked:
        record_blocked(_issuance_blocked(actor, decision))
    return decision


def _issuance_blocked(actor: Principal, decision: IssuanceDecision) -> Any:
    return blocked(actor, "issuance", [p.atena_no for p in decision.blocked], requester=decision.requester,
                   on=decision.on.isoformat(),
                   refused=[p.atena_no for p in decision.persons if p.outcome == IssuanceOutcome.REFUSE],
                   omitted=decision.omitted)


def issuance_refusal(actor: Principal, decision: IssuanceDecision) -> SuppressionError:
    """The error to raise for a refused issuance (its blocked-attempt entry is kept after rollback)."""
    return SuppressionError("suppression.suppressed", decision.message or "交付できません", status=403,
                            field="atena_no", blocked=_issuance_blocked(actor, decision))


def process_check(actor: Principal, process: str, atena_nos: list[str] | tuple[str, ...], on: dt.date,
                  now: dt.datetime | None = None) -> ProcessDecision:
    """The 抑止 of a process (move 異動, issuance 発行, inquiry 照会) for these persons: errors stop
    it, alerts need confirmation. A stopped process is logged as a blocked attempt."""
    decision = check_process(SuppressedProcess(process), list(atena_nos), on=on, now=now)
    if decision.errors:
        record_blocked(blocked(actor, process, [b.atena_no for b in decision.errors],
                               suppressions=[b.suppression_id for b in decision.errors]))
    return decision


def support_measure_flags(atena_nos: list[str] | tuple[str, ...] | set[str], on: dt.date) -> set[str]:
    """宛名番号 among ``atena_nos`` protected by a 支援措置 or 仮支援措置 on ``on`` (支援措置対象フラグ of
    the 中間標準レイアウト). No log entry: the caller's export is logged as a whole."""
    wanted = set(atena_nos)
    return {a for m in measures_for(wanted) if m.protects(on) for a in m.persons if a in wanted}


@dataclass(frozen=True)
class MeasureView:
    """A 支援措置 as the 支援対象者管理 screen shows it (1.1.16, 2.2.4)."""

    measure: SupportMeasure
    persons: list[SupportMeasurePerson]
    phase: str
    notices: tuple[str, ...]
    renewable_from: dt.date | None


def measure_view_of(row: SupportMeasure, persons: list[SupportMeasurePerson], on: dt.date) -> MeasureView:
    facts = measure_facts(row, {p.atena_no: p.role for p in persons})
    renewable = renewal_opens(row.end_date) if row.status == "active" and row.end_date else None
    return MeasureView(row, persons, facts.phase(on).value, tuple(facts.notices(on)), renewable)


def support_measures(actor: Principal, *, atena_no: str = "", include_ended: bool = False,
                     on: dt.date | None = None, limit: int = 500) -> list[MeasureView]:
    """支援対象者照会: the measures (of one person, or all), newest first (support_measure.view)."""
    actor.require(VIEW_RIGHT)
    on = on or _today()
    qs = SupportMeasure.objects.all()
    if atena_no:
        qs = qs.filter(id__in=SupportMeasurePerson.objects.filter(atena_no=atena_no).values("measure_id"))
    if not include_ended:
        qs = qs.exclude(status="ended")
    rows = list(qs.order_by("-created_at", "id")[:limit])
    persons: dict[int, list[SupportMeasurePerson]] = {r.id: [] for r in rows}
    for p in sorted(SupportMeasurePerson.objects.filter(measure_id__in=sorted(persons)), key=person_order):
        persons[p.measure_id].append(p)
    out = [measure_view_of(r, persons[r.id], on) for r in rows]
    audit.record(actor, "support_measure.list", [p.atena_no for v in out for p in v.persons],
                 detail={"atena_no": atena_no, "include_ended": include_ended})
    return out


def support_measure(actor: Principal, measure_id: int, *, on: dt.date | None = None) -> MeasureView:
    actor.require(VIEW_RIGHT)
    row = SupportMeasure.objects.filter(id=measure_id).first()
    if row is None:
        raise RegistryError("suppression.not_found", f"支援措置 {measure_id} は見つかりません", status=404)
    view = measure_view_of(row, persons_of(row.id), on or _today())
    audit.record(actor, "support_measure.view", [p.atena_no for p in view.persons], detail={"measure": row.id})
    return view


@dataclass(frozen=True)
class BlockedEntry:
    """A blocked attempt (a hidden search hit, a refused view, issuance or 異動) for the admin."""

    id: int
    at: dt.datetime
    actor: str
    process: str
    subjects: list[str]
    detail: dict[str, Any]


def blocked_attempts(actor: Principal, *, since: dt.datetime, until: dt.datetime,
                     limit: int = 200) -> list[BlockedEntry]:
    """Blocked attempts of the 団体 between ``since`` and ``until``, newest first (suppression.monitor)."""
    actor.require("suppression.monitor")
    rows = list(AccessLog.objects.filter(outcome="blocked", at__gte=since, at__lt=until)
                .order_by("-at", "-id")[:limit])
    subjects: dict[int, list[str]] = {r.id: [] for r in rows}
    for log_id, atena in (AccessLogSubject.objects.filter(log_id__in=sorted(subjects))
                          .order_by("atena_no").values_list("log_id", "atena_no")):
        subjects[log_id].append(atena)
    out = [BlockedEntry(r.id, r.at, r.actor, r.operation.removeprefix("blocked:"), subjects[r.id], r.detail)
           for r in rows]
    audit.record(actor, "suppression.monitor", [a for e in out for a in e.subjects],
                 detail={"since": since.isoformat(), "until": until.isoformat(), "entries": len(out)})
    return out


@dataclass(frozen=True)
class DueItem:
    """A measure or a 抑止 that needs someone's attention: renewal, expiry, an end date passed."""

    kind: str  # support_measure / suppression
    id: int
    phase: str  # expiring / expired / provisional / overdue
    end_date: dt.date | None
    subjects: list[str]
    message: str


def due_for_attention(actor: Principal, *, on: dt.date | None = None) -> list[DueItem]:
    """支援措置 whose period ends within the alert window or has ended without renewal, 仮支援措置
    still open, and 抑止 past their end date (suppression.monitor), soonest first."""
    actor.require("suppression.monitor")
    from .domain.suppression import add_months
    from .domain.suppression import rules as suppression_rules

    on = on or _today()
    r = suppression_rules()
    horizon = add_months(on, r.expiring_alert_months)
    rows = list(SupportMeasure.objects.exclude(status="ended").filter(
        Q(status="provisional") | Q(end_date__lte=horizon)))
    persons: dict[int, dict[str, str]] = {m.id: {} for m in rows}
    for mid, atena, role in SupportMeasurePerson.objects.filter(measure_id__in=sorted(persons)).values_list(
            "measure_id", "atena_no", "role"):
        persons[mid][atena] = role
    out: list[DueItem] = []
    for m in rows:
        facts = measure_facts(m, persons[m.id])
        phase = facts.phase(on)
        if phase.value not in ("expiring", "expired", "provisional"):
            continue
        msg = " / ".join(facts.period_alerts(on)) or (r.message("measure_provisional", start=wareki(facts.since))
                                                       if facts.since else "仮支援措置")
        out.append(DueItem("support_measure", m.id, phase.value, m.end_date, sorted(persons[m.id]), msg))
    for s in Suppression.objects.filter(released_at__isnull=True, end_date__lt=on):
        out.append(DueItem("suppression", s.id, "overdue", s.end_date,
                           [s.target] if s.target_kind == "person" else [],
                           r.message("suppression_overdue", end=wareki(s.end_date)) if s.end_date else ""))
    out.sort(key=lambda d: (d.end_date or dt.date.min, d.kind, d.id))
    audit.record(actor, "suppression.due", [a for d in out for a in d.subjects], detail={"on": on.isoformat()})
    return out


def resident_marks(actor: Principal, atena_no: str) -> tuple[str, ...]:
    """The 抑止 and 支援措置 notices of one person, for a screen (refused like :func:`resident_view`)."""
    notices = guard_view(actor, atena_no)
    if not Resident.objects.filter(atena_no=atena_no).exists():
        raise RegistryError(ResidentsErrorCode.NOT_FOUND, f"宛名番号 {atena_no} の住民記録はありません", status=404,
                            field="atena_no")
    audit.record(actor, "resident.marks", [atena_no])
    return notices


# ------------------------------------------------------------------ 宛名連携 (read by moyai.linkage)

#: the 宛名 items other business systems may receive (moyai.linkage filters them per consumer)
ATENA_ITEMS = ("household_no", "status", "resident_kind", "name", "kana", "birth_date", "sex", "relationship",
               "postal_code", "address", "katagaki", "removed_on", "individual_number", "support_measure")


def _atena_record(r: Resident, with_number: bool) -> dict[str, Any]:
    return {"atena_no": r.atena_no, "household_no": r.household_no or None, "status": r.status,
            "resident_kind": r.resident_kind or None, "name": r.display_name or None, "kana": r.display_kana or None,
            "birth_date": r.birth_sort or None, "sex": r.sex or None, "relationship": r.relationship or None,
            "postal_code": r.postal_code or None, "address": r.address or None, "katagaki": r.katagaki or None,
            "removed_on": r.removed_on.isoformat() if r.removed_on else None,
            "individual_number": (r.individual_number or None) if with_number else None}


def atena_records(actor: Principal, atena_nos: list[str] | None, *, purpose: str,
                  individual_number: bool = False) -> list[dict[str, Any]]:
    """宛名連携 (標準仕様書 7.2.3): the current 宛名 items of these residents (``None``: every
    resident and 除票 of the 団体), in 宛名番号 order, as plain values; one access-log entry."""
    rows = Resident.objects.all() if atena_nos is None else Resident.objects.filter(atena_no__in=atena_nos)
    out = [_atena_record(r, individual_number) for r in rows.order_by("atena_no")]
    # 支援対象者 (7.2.3): "1" while a 支援措置 or 仮支援措置 protects the person today, so that the
    # other business systems protect them too; the few protected persons are looked up by measure
    protected = protected_atena(_today())
    for o in out:
        o["support_measure"] = "1" if o["atena_no"] in protected else None
    audit.record(actor, "resident.linkage", [o["atena_no"] for o in out], purpose=purpose,
                 individual_number=individual_number, detail={"count": len(out), "full": atena_nos is None})
    return out


# ------------------------------------------------------------------ 情報連携 (read by moyai.gateway)


@dataclass(frozen=True)
class ExchangeRecord:
    """One resident as the gateway (情報連携) answers for them: as :func:`resident_view` and
    :func:`history` would return them to the same actor on the same date."""

    record: PersonState
    household: list[PersonState]
    history: list[HistoryRow] | None = None


#: the rows of both forms below: the persons and members read ("r"), and what sends a person to the full rules
_EXCHANGE_CHECKS: Final = """
SELECT 'r', atena_no, state FROM r
UNION ALL
SELECT 'm', p.atena_no, NULL FROM residents_supportmeasureperson p
  WHERE p.tenant_code = %s AND p.atena_no IN (SELECT atena_no FROM r) AND p.measure_id IN (
    SELECT id FROM residents_supportmeasure m WHERE m.tenant_code = p.tenant_code AND m.status <> %s)
UNION ALL
SELECT 's', s.target, NULL FROM residents_suppression s
  WHERE s.tenant_code = %s AND s.released_at IS NULL AND (
    (s.target_kind = 'person' AND s.target IN (SELECT atena_no FROM w))
    OR (s.target_kind = 'household' AND s.target IN (SELECT household_no FROM r WHERE household_no <> '')))
UNION ALL
SELECT 'p', atena_no, NULL FROM residents_resident WHERE tenant_code = %s AND pending_from <= %s
"""


#: :func:`exchange_records`' one query: the persons ("w": those of ``marks`` in the registry) and
#: their 世帯's members from the projection ("r"), then whatever sends a person to the full rules: a
#: 支援措置 not ended on any of them ("m"), an 抑止 not released on a person or their 世帯 ("s"), a
#: projection not yet brought to ``on`` ("p"). Every part is an index lookup: the persons by primary
#: key, the other members by (団体, 世帯番号) — one ``atena_no IN … OR household_no IN …`` read the
#: whole table (a sequential scan: PostgreSQL's CPU per gateway exchange 1.47 ms at 2,000 residents
#: instead of 0.60, and growing with the 団体).
_EXCHANGE_SQL = """
WITH w AS (
  SELECT atena_no, household_no FROM residents_resident WHERE tenant_code = %s AND atena_no IN ({marks})),
r AS (
  SELECT atena_no, household_no, state FROM residents_resident
  WHERE tenant_code = %s AND atena_no IN (SELECT atena_no FROM w)
  UNION ALL
  SELECT atena_no, household_no, state FROM residents_resident
  WHERE tenant_code = %s AND household_no IN (SELECT household_no FROM w WHERE household_no <> '')
    AND atena_no NOT IN (SELECT atena_no FROM w))
""" + _EXCHANGE_CHECKS

#: The same statement with the persons found by a subquery (``{lookup}``, PostgreSQL only: the
#: gateway's statements, :func:`exchange_record_statement`). There the planner cannot know that
#: ``w`` holds one person, and it joined each ``IN (SELECT … FROM w)`` by hashing a sequential scan
#: of every resident of the 団体, three per exchange, in the generic plan the gateway's prepared
#: statements run (120,073 rows read for one exchange in a 団体 of 40,024). Here each member is read
#: per row of ``w`` in a ``LATERAL`` subquery that ``OFFSET 0`` keeps from being flattened into a
#: join: an index lookup whatever the estimate (tested on the generic plan).
_EXCHANGE_SQL_LOOKUP = """
WITH w AS ({lookup}),
r AS (
  SELECT x.atena_no, x.household_no, x.state FROM w CROSS JOIN LATERAL (
    SELECT atena_no, household_no, state FROM residents_resident
    WHERE tenant_code = %s AND atena_no = w.atena_no OFFSET 0) AS x
  UNION ALL
  SELECT x.atena_no, x.household_no, x.state FROM (SELECT DISTINCT household_no FROM w WHERE household_no <> '') AS h
  CROSS JOIN LATERAL (
    SELECT atena_no, household_no, state FROM residents_resident
    WHERE tenant_code = %s AND household_no = h.household_no OFFSET 0) AS x
  WHERE x.atena_no NOT IN (SELECT atena_no FROM w))
""" + _EXCHANGE_CHECKS


def _exchange_params(tenant_code: str, persons: Sequence[Any], on: dt.date) -> list[Any]:
    """The parameters of :data:`_EXCHANGE_SQL`, ``persons`` those of its ``marks``."""
    from .domain.suppression import MeasureStatus

    return [tenant_code, *persons, tenant_code, tenant_code, tenant_code, MeasureStatus.ENDED, tenant_code,
            tenant_code, on]


def _household_order(s: PersonState) -> tuple[int, int, str]:
    return 0 if s.relationship == "世帯主" else 1, s.order_in_household or 99, s.atena_no


def exchange_records(actor: Principal, atena_nos: list[str] | tuple[str, ...], *, on: dt.date, purpose: str,
                     with_history: bool = False) -> dict[str, ExchangeRecord]:
    """The records (as of ``on``), households and, if asked, 異動履歴 of these residents, for 情報連携.

    Same results, refusals and access-log entries as :func:`resident_view` (and :func:`history`)
    per person — a person not in the registry, protected by a 支援措置 from this actor, or stopped
    by a 照会 抑止 is absent from the result (the refusal logged as a blocked attempt) — but read
    from the current-record projection in three queries: the persons and their households'
    members; one UNION over the 支援措置 persons, the 抑止 and the not-yet-projected 異動
    (``pending_from``); one access-log entry. Only persons that query flags (or every person,
    when ``on`` is before today or a projection is stale) go through :func:`resident_view`, so the
    抑止/支援措置 rules stay :func:`guard_view`'s and :func:`hide_protected`'s alone.
    """
    import json

    from django.db import connection

    from moyai.platform.tenancy.scope import current_tenant_code

    wanted = sorted(set(atena_nos))
    if not wanted:
        return {}
    marks = ", ".join(["%s"] * len(wanted))
    tenant = current_tenant_code()
    rows: dict[str, PersonState] = {}
    flagged: set[str] = set()
    stale = on < _today()
    with connection.cursor() as cur:
        cur.execute(_EXCHANGE_SQL.format(marks=marks), _exchange_params(tenant, wanted, on))
        for src, atena_no, value in cur.fetchall():
            if src == "r":
                rows[atena_no] = state_from_dict(json.loads(value) if isinstance(value, str | bytes) else value)
            else:
                stale |= src == "p"
                flagged.add(atena_no)

    out: dict[str, ExchangeRecord] = {}
    fast: list[str] = []
    for a in wanted:
        r = rows.get(a)
        if r is None:
            continue
        if stale or a in flagged or (r.household_no and r.household_no in flagged) or any(
                m.household_no == r.household_no and m.atena_no in flagged for m in rows.values() if r.household_no):
            try:
                view = resident_view(actor, a, as_of=on, purpose=purpose)
                out[a] = ExchangeRecord(view.record, view.household,
                                        history(actor, a, purpose=purpose) if with_history else None)
            except RegistryError:
                pass
            continue
        fast.append(a)
    if not fast:
        return out
    states = rows
    seen: list[str] = []
    for a in fast:
        s = states[a]
        members = sorted((m for m in states.values() if m.is_resident and m.household_no == s.household_no),
                         key=_household_order) if s.household_no and s.is_resident else []
        out[a] = ExchangeRecord(s, members)
        seen += [a, *[m.atena_no for m in members]]
    audit.record(actor, "resident.view", seen, purpose=purpose,
                 individual_number=any(states[a].individual_number for a in fast),
                 detail={"as_of": on.isoformat(), "recorded_at": None}
                 | ({"persons": len(fast)} if len(fast) > 1 else {}))
    if with_history:
        histories = events_of(fast)
        for a in fast:
            out[a] = ExchangeRecord(out[a].record, out[a].household, history_rows(histories[a]))
        audit.record(actor, "resident.history", fast, purpose=purpose)
    return out


def atena_no_by_resident_code(resident_code: str) -> str | None:
    """The 宛名番号 of the one record (住民 or 除票) with this 住民票コード in the 団体 in scope.

    None when there is none, or more than one (a 住民票コード names one person). One indexed
    lookup (``resident_code`` index); no personal data is returned, so nothing is logged.
    """
    if not resident_code:
        return None
    found = list(Resident.objects.filter(resident_code=resident_code).values_list("atena_no", flat=True)[:2])
    return str(found[0]) if len(found) == 1 else None


@dataclass(frozen=True)
class ExchangeRead:
    """What :func:`exchange_record_async` found for one 住民票コード.

    ``found`` False: no (unique) record. ``full_rules`` True: the person (or their 世帯) is under
    a 支援措置 or 抑止, the projection is stale, the date is not today, or history was asked —
    nothing was read or logged, and the caller asks :func:`exchange_records` (synchronous) instead.
    """

    found: bool
    record: ExchangeRecord | None = None
    full_rules: bool = False
    #: ``defer_log``: the ``resident.view`` entry (and its subjects) the caller must store with its
    #: own commit, before anything read is released (``audit.entries_statement``)
    access_log: tuple[audit.PendingEntry, list[str]] | None = None


#: the indexed 住民票コード lookup that :func:`exchange_record_async` puts in the statement as its person list
_BY_RESIDENT_CODE: Final = ("SELECT atena_no, household_no FROM residents_resident WHERE tenant_code = %s "
                             "AND resident_code = %s")


def exchange_needs_full_rules(on: dt.date, *, with_history: bool = False) -> bool:
    """Whether an exchange read as of ``on`` can only be answered by :func:`exchange_records`
    (a past date, or 異動履歴 asked): then :func:`exchange_record_async` reads nothing."""
    return with_history or on < _today()


def exchange_record_statement(tenant_code: str, lookup: str, lookup_params: Sequence[Any],
                              on: dt.date) -> tuple[str, list[Any]]:
    """:func:`exchange_records`' statement (PostgreSQL) with ``lookup`` (a ``SELECT atena_no,
    household_no FROM residents_resident …`` of at most one person, ``%s`` placeholders,
    ``lookup_params``) as its persons: rows (source, 宛名番号, state) for :func:`exchange_read_rows`.
    For a caller that puts it inside a statement of its own (the gateway: with the nonce and the
    符号 lookup, one round trip)."""
    # _exchange_params less w's own 団体 and persons (the lookup has its own)
    return _EXCHANGE_SQL_LOOKUP.format(lookup=lookup), [*lookup_params,
                                                        *_exchange_params(tenant_code, [], on)[1:]]


def exchange_read_rows(rows: Iterable[Sequence[Any]], tenant_code: str, resident_code: str, *, on: dt.date,
                       actor: Principal, purpose: str, request_id: str) -> ExchangeRead:
    """What the rows of :func:`exchange_record_statement` say of the person with this 住民票コード:
    not found, ``full_rules`` (支援措置, 抑止, a stale projection, not one person), or the record
    and its 世帯's members with the ``resident.view`` access-log entry to store (``access_log``,
    not stored here) before anything read is released."""
    import json

    states: dict[str, PersonState] = {}
    flagged = False
    for src, atena_no, value in rows:
        if src == "r":
            states[atena_no] = state_from_dict(json.loads(value) if isinstance(value, str | bytes) else value)
        else:
            flagged = True
    persons = [p for p in states.values() if p.resident_code == resident_code]
    if not states:
        return ExchangeRead(False)
    if flagged or len(persons) != 1:
        return ExchangeRead(True, full_rules=True)  # 支援措置, 抑止, a stale projection …: the full rules decide
    s = persons[0]
    members = sorted((m for m in states.values() if m.is_resident and m.household_no == s.household_no),
                     key=_household_order) if s.household_no and s.is_resident else []
    entry, atena = audit.new_entry(actor, "resident.view", [s.atena_no, *[m.atena_no for m in members]],
                                   tenant_code=tenant_code, purpose=purpose,
                                   individual_number=bool(s.individual_number),
                                   detail={"as_of": on.isoformat(), "recorded_at": None}, request_id=request_id)
    return ExchangeRead(True, ExchangeRecord(s, members), access_log=(entry, atena))


async def exchange_record_async(conn: Any, tenant_code: str, resident_code: str, *, on: dt.date,
                                actor: Principal, purpose: str, request_id: str,
                                with_history: bool = False, bound: bool = False,
                                defer_log: bool = False) -> ExchangeRead:
    """:func:`exchange_records` for one person found by 住民票コード, on a psycopg ``AsyncConnection``.

    For the gateway's asynchronous hot path. ``conn`` is a connection of the application role
    (row-level security applies), in autocommit mode and outside any transaction. In one
    transaction: ``moyai.tenant`` set for it only (as ``tenant_scope``), the indexed 住民票コード
    lookup, :func:`exchange_records`' statement, and — when the person is answered — the same
    ``resident.view`` access-log entry (one statement, :func:`audit.entry_statements`), committed
    before returning. Anything that needs the 抑止/支援措置 rules returns ``full_rules`` without
    reading or logging personal data, so those rules stay :func:`guard_view`'s and
    :func:`hide_protected`'s alone.

    ``bound``: the connection's session is bound to ``tenant_code`` for its whole life
    (``moyai.tenant`` set at connection start, a pool per 団体): then no transaction is opened —
    the statement, then the access-log entry, each on its own, in two round trips. On a
    connection not bound to that 団体, row-level security shows no row: "not found", nothing read.

    ``defer_log`` (with ``bound``): the access-log entry is not written here but returned
    (``access_log``) for the caller to store in its own transaction before it releases anything
    read — the gateway stores it with the exchange's log entry, in the same commit. One round trip.
    """
    from moyai.platform.tenancy.scope import GUC

    if not resident_code:
        return ExchangeRead(False)
    if exchange_needs_full_rules(on, with_history=with_history):
        return ExchangeRead(True, full_rules=True)
    # No pipeline: psycopg's asynchronous wait polls the socket in a loop while a pipeline waits
    # for its results, holding the event loop (docs/performance.md). Unbound: three round trips —
    # (BEGIN; set_config) as one simple query, the statement (prepared after a few uses), and (the
    # access-log entry; COMMIT) bound client-side as one simple query. Bound: the statement and
    # the entry. The statement is exchange_records' own, with the indexed 住民票コード lookup as its
    # person list.
    from psycopg import AsyncClientCursor, sql
    from psycopg.pq import TransactionStatus

    if not bound:
        await conn.execute(sql.SQL("BEGIN; SELECT set_config({}, {}, true)").format(sql.Literal(GUC),
                                                                                  sql.Literal(tenant_code)))
    try:
        cur = await conn.execute(*exchange_record_statement(tenant_code, _BY_RESIDENT_CODE,
                                                            [tenant_code, resident_code], on))
        read = exchange_read_rows(await cur.fetchall(), tenant_code, resident_code, on=on, actor=actor,
                                  purpose=purpose, request_id=request_id)
        if read.access_log is None:
            if not bound:
                await conn.execute("ROLLBACK")  # nothing was read for the caller: nothing to log
            return read
        if defer_log and bound:
            return read
        entry, atena = read.access_log
        ((statement, params),) = audit.entry_statements("postgresql", entry, atena)
        if bound:
            await conn.execute(statement, params)
        else:
            async with AsyncClientCursor(conn) as logged:
                await logged.execute(statement + "; COMMIT", params)
    except BaseException:
        if not bound and not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            await conn.execute("ROLLBACK")
        raise
    return ExchangeRead(True, read.record)
