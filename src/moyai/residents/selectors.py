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
from moyai.platform.identity.services import Principal

from .domain.model import HistoryRow, PersonState, history_rows, replay
from .domain.search_keys import address_key, is_kana_query, kana_key, name_key, query_terms
from .errors import RegistryError, ResidentsErrorCode
from .models import ChangeRequest, Resident, SearchKey
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
    page: int = 1
    per_page: int = 20

    def is_empty(self) -> bool:
        return not any([self.name.strip(), self.given.strip(), self.birth.strip(), self.address.strip(),
                        self.atena_no.strip(), self.resident_code.strip()])


@dataclass
class SearchResult:
    total: int
    page: int
    per_page: int
    items: list[Resident] = field(default_factory=list)


def _digits(s: str) -> str:
    return unicodedata.normalize("NFKC", s).replace("-", "").replace(" ", "").strip()


def build_search(q: SearchQuery) -> QuerySet[Resident]:
    """The queryset for a search (validated; raises RegistryError with the failing field)."""
    if q.is_empty():
        raise RegistryError(ResidentsErrorCode.INVALID_INPUT, "検索条件を1つ以上入力してください", field="name")
    qs = Resident.objects.all()
    if not q.include_removed:
        qs = qs.filter(status="resident")
    if q.name.strip():
        if is_kana_query(q.name):
            key = kana_key(q.name)
            kinds = ["kana"]
        else:
            key = "".join(query_terms(q.name))
            kinds = ["name"]
        qs = qs.filter(atena_no__in=SearchKey.objects.filter(kind__in=kinds, key__startswith=key).values("atena_no"))
    if q.given.strip():
        if is_kana_query(q.given):
            sk = SearchKey.objects.filter(kind="given_kana", key__startswith=kana_key(q.given))
        else:
            sk = SearchKey.objects.filter(kind="given_name", key__startswith=name_key(q.given))
        qs = qs.filter(atena_no__in=sk.values("atena_no"))
    if q.birth.strip():
        try:
            start, end = parse_date_query(q.birth)
        except JpDateError as exc:
            raise RegistryError(ResidentsErrorCode.INVALID_INPUT, exc.message, field="birth") from None
        qs = qs.filter(birth_sort__gte=start.isoformat(), birth_sort__lte=end.isoformat())
    if q.address.strip():
        key = address_key(q.address)
        qs = qs.filter(atena_no__in=SearchKey.objects.filter(kind="address", key__startswith=key).values("atena_no"))
    if q.atena_no.strip():
        qs = qs.filter(atena_no=_digits(q.atena_no))
    if q.resident_code.strip():
        qs = qs.filter(resident_code=_digits(q.resident_code))
    return qs.order_by("display_kana", "atena_no")


def search(actor: Principal, q: SearchQuery, *, purpose: str = "") -> SearchResult:
    if q.page < 1 or not 1 <= q.per_page <= MAX_PER_PAGE:
        raise RegistryError(ResidentsErrorCode.INVALID_INPUT, f"ページ指定が正しくありません（1ページ{MAX_PER_PAGE}件まで）",
                            field="per_page")
    qs = build_search(q)
    total = qs.count()
    offset = (q.page - 1) * q.per_page
    items = list(qs[offset : offset + q.per_page])
    audit.record(actor, "resident.search", [r.atena_no for r in items], purpose=purpose,
                 detail={"query": _query_for_log(q), "total": total, "page": q.page})
    return SearchResult(total=total, page=q.page, per_page=q.per_page, items=items)


def _query_for_log(q: SearchQuery) -> dict[str, Any]:
    return {k: v for k, v in q.__dict__.items() if v not in ("", False) and k not in ("page", "per_page")}


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


def awaiting_approval(limit: int = 200) -> list[ChangeRequest]:
    """仮登録 waiting for 審査, oldest first."""
    return list(ChangeRequest.objects.filter(status="awaiting_approval").order_by("created_at")[:limit])
