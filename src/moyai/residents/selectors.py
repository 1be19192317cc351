"""Read side of 住民記録: search (検索) and reconstruction as of any date (照会).

Every function that returns personal data writes an access-log entry naming the residents.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from moyai.platform.audit import services as audit
from moyai.platform.codes.wareki import JpDateError, parse_date_query
from moyai.platform.db.lookups import PREFIX_END
from moyai.platform.identity.services import Principal

from .domain.model import HistoryRow, PersonState, history_rows, replay
from .domain.search_keys import address_key, fuzzy_kana_key, is_kana_query, kana_key, name_key, query_terms
from .errors import RegistryError, ResidentsErrorCode
from .models import ChangeRequest, Resident, SearchHistory, SearchKey
from .services import events_of, household_candidates, members_on

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
    qs = build_search(q)
    total = qs[:COUNT_CAP + 1].count()  # "more than COUNT_CAP" is all a counter needs to know
    offset = (q.page - 1) * q.per_page
    atena = [row["atena_no"] for row in qs[offset : offset + q.per_page]]
    by_atena = {r.atena_no: r for r in Resident.objects.filter(atena_no__in=atena)}
    items = [by_atena[a] for a in atena if a in by_atena]
    audit.record(actor, "resident.search", [r.atena_no for r in items], purpose=purpose,
                 individual_number=bool(q.individual_number.strip()),
                 detail={"query": _query_for_log(q), "total": total, "page": q.page})
    if q.page == 1:
        remember_search(actor, q)
    return SearchResult(total=total, page=q.page, per_page=q.per_page, items=items)


def _query_for_log(q: SearchQuery) -> dict[str, Any]:
    defaults = SearchQuery()
    return {k: v for k, v in q.__dict__.items()
            if v != getattr(defaults, k) and k not in ("page", "per_page")}


SEARCH_HISTORY_KEPT = 20


def remember_search(actor: Principal, q: SearchQuery) -> None:
    """検索履歴 (標準仕様書 2.1.1): the last conditions of each staff member, newest first."""
    SearchHistory.objects.create(actor=actor.label, query=_query_for_log(q))
    old = list(SearchHistory.objects.filter(actor=actor.label).order_by("-at", "-id")
               .values_list("id", flat=True)[SEARCH_HISTORY_KEPT:])
    if old:
        SearchHistory.objects.filter(actor=actor.label, id__in=old).delete()


def search_history(actor: Principal) -> list[dict[str, Any]]:
    return [dict(h) for h in SearchHistory.objects.filter(actor=actor.label).order_by("-at", "-id")
            .values("id", "at", "query")[:SEARCH_HISTORY_KEPT]]


@dataclass(frozen=True)
class ResidentView:
    record: PersonState
    household: list[PersonState]
    as_of: dt.date | None
    recorded_at: dt.datetime | None


def resident_view(
    actor: Principal,
    atena_no: str,
    *,
    as_of: dt.date | None = None,
    recorded_at: dt.datetime | None = None,
    purpose: str = "",
) -> ResidentView:
    """One resident's record and household, as of an effective date, as recorded at a moment."""
    histories = events_of([atena_no])
    state = replay(histories[atena_no], as_of=as_of, recorded_at=recorded_at)
    if state is None:
        raise RegistryError(ResidentsErrorCode.NOT_FOUND, f"宛名番号 {atena_no} の住民記録はありません"
                            + ("（指定日時点）" if as_of or recorded_at else ""), status=404, field="atena_no")
    members: list[PersonState] = []
    if state.household_no and state.is_resident:
        members = household_on(state.household_no, as_of=as_of, recorded_at=recorded_at)
    audit.record(actor, "resident.view", [atena_no, *[m.atena_no for m in members]], purpose=purpose,
                 individual_number=bool(state.individual_number),
                 detail={"as_of": as_of.isoformat() if as_of else None,
                         "recorded_at": recorded_at.isoformat() if recorded_at else None})
    return ResidentView(state, members, as_of, recorded_at)


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
    members = household_on(household_no, as_of=as_of, recorded_at=recorded_at)
    if not members:
        raise RegistryError(ResidentsErrorCode.NOT_FOUND, f"世帯番号 {household_no} の世帯はありません", status=404)
    audit.record(actor, "household.view", [m.atena_no for m in members], purpose=purpose,
                 detail={"household_no": household_no})
    return members


def history(actor: Principal, atena_no: str, *, purpose: str = "") -> list[HistoryRow]:
    """The standard's full history rows (one per 履歴番号) of one resident."""
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
