"""住民記録 REST API under ``/api/v1/tenants/{tenant}/``: thin — parse, authorise, call one function."""
# No "from __future__ import annotations": ninja resolves the annotations of views wrapped by
# tenant_endpoint through the wrapper's globals, so they must be real objects.


import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from moyai.platform.codes.wareki import JpDate
from moyai.platform.http.endpoints import tenant_endpoint

from . import selectors, services
from .domain.model import Effect, PersonState, kind_spec
from .schemas import (
    ChangeIn,
    ChangeOut,
    CodesIn,
    ConfirmIn,
    HistoryRowOut,
    PoolStatusOut,
    RejectIn,
    ResidentRecord,
    ResidentSummary,
    SearchPage,
)

router = Router(tags=["住民記録"])


def birth_text(birth: Any, resident_kind: str) -> str:
    """生年月日 as shown: 和暦 for 日本人住民, 西暦 for 外国人住民 (標準仕様書 1.1.9)."""
    if not birth:
        return ""
    d = JpDate.from_json(birth)
    return d.seireki_text() if resident_kind == "foreign" else d.wareki_text()


def summary_of_row(r: Any) -> ResidentSummary:
    return ResidentSummary(
        atena_no=r.atena_no, household_no=r.household_no, status=r.status, resident_kind=r.resident_kind,
        name=r.display_name, kana=r.display_kana, birth_date=birth_text(r.state.get("birth_date"), r.resident_kind),
        sex=r.sex, relationship=r.relationship, address=r.address, katagaki=r.katagaki,
    )


def summary_of_state(s: PersonState) -> ResidentSummary:
    return ResidentSummary(
        atena_no=s.atena_no, household_no=s.household_no or "", status=s.status, resident_kind=s.resident_kind,
        name=s.display_name, kana=s.display_kana, birth_date=birth_text(s.birth_date, s.resident_kind),
        sex=s.sex or "", relationship=s.relationship or "", address=s.address or "", katagaki=s.katagaki or "",
    )


class SearchParams(Schema):
    name: str = Field("", description="氏名またはカナ（前方一致。全角半角・ひらがなカタカナ・空白・旧字を区別しない）")
    given: str = Field("", description="名またはそのカナのみ")
    birth: str = Field("", description="生年月日（西暦・和暦、年や年月だけでも可: 平成2年, H2.3.4, R6/1/1）")
    address: str = Field("", description="住所（町名からでも可）")
    atena_no: str = Field("", description="宛名番号")
    resident_code: str = Field("", description="住民票コード")
    include_removed: bool = Field(False, description="除票も含める")
    fuzzy: bool = Field(True, description="カナのあいまい検索（濁点・半濁点・小書き・長音・ヲ/オ・ワ/ハを区別しない）")
    match: str = Field("prefix", description="prefix 前方一致 / exact 完全一致 / partial 部分一致")
    sex: str = Field("", description="性別コード")
    household_no: str = Field("", description="世帯番号")
    individual_number: str = Field("", description="個人番号（個人番号の利用として記録されます）")
    katagaki_empty: bool = Field(False, description="方書が空欄の人に限る")
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=selectors.MAX_PER_PAGE)
    purpose: str = Field("", description="利用目的")


@router.get("/{tenant}/residents", response=SearchPage, summary="住民の検索")
@tenant_endpoint("resident.search")
def search_residents(request: HttpRequest, tenant: str, params: Query[SearchParams]) -> SearchPage:
    q = selectors.SearchQuery(
        name=params.name, given=params.given, birth=params.birth, address=params.address,
        atena_no=params.atena_no, resident_code=params.resident_code, include_removed=params.include_removed,
        fuzzy=params.fuzzy, match=params.match, sex=params.sex, household_no=params.household_no,
        individual_number=params.individual_number, katagaki_empty=params.katagaki_empty,
        page=params.page, per_page=params.per_page,
    )
    result = selectors.search(request.principal, q, purpose=params.purpose)  # type: ignore[attr-defined]
    return SearchPage(total=result.total, more=result.total > selectors.COUNT_CAP, page=result.page,
                      per_page=result.per_page,
                      items=[summary_of_row(r) for r in result.items])


class SearchHistoryOut(Schema):
    id: int
    at: dt.datetime
    query: dict[str, Any]


@router.get("/{tenant}/search-history", response=list[SearchHistoryOut], summary="自分の検索履歴（新しい順）")
@tenant_endpoint("resident.search")
def my_search_history(request: HttpRequest, tenant: str) -> list[SearchHistoryOut]:
    return [SearchHistoryOut(**h) for h in selectors.search_history(request.principal)]  # type: ignore[attr-defined]


@router.get("/{tenant}/residents/{atena_no}", response=ResidentRecord, summary="住民記録の照会（任意の時点）")
@tenant_endpoint("resident.view")
def get_resident(
    request: HttpRequest,
    tenant: str,
    atena_no: str,
    as_of: dt.date | None = None,
    recorded_at: dt.datetime | None = None,
    purpose: str = "",
) -> ResidentRecord:
    view = selectors.resident_view(request.principal, atena_no, as_of=as_of, recorded_at=recorded_at,  # type: ignore[attr-defined]
                                   purpose=purpose)
    rec = view.record
    return ResidentRecord(
        atena_no=rec.atena_no, items=rec.as_dict(), birth_date_display=birth_text(rec.birth_date, rec.resident_kind),
        household=[summary_of_state(m) for m in view.household], as_of=as_of, recorded_at=recorded_at,
    )


@router.get("/{tenant}/residents/{atena_no}/history", response=list[HistoryRowOut], summary="異動履歴（履歴番号ごとの全項目）")
@tenant_endpoint("resident.view")
def get_history(request: HttpRequest, tenant: str, atena_no: str, purpose: str = "") -> list[HistoryRowOut]:
    rows = selectors.history(request.principal, atena_no, purpose=purpose)  # type: ignore[attr-defined]
    return [
        HistoryRowOut(
            atena_no=r.atena_no, history_no=r.history_no, kind=r.kind, kind_label=kind_spec(r.kind).label,
            reason_code=r.reason_code, effective_date=r.effective_date, notified_date=r.notified_date,
            processed_on=r.processed_on, recorded_at=r.recorded_at, cancelled=r.cancelled,
            items=r.items.as_dict() if r.items else None,
        )
        for r in rows
    ]


@router.get("/{tenant}/households/{household_no}", response=list[ResidentSummary], summary="世帯の照会（任意の時点）")
@tenant_endpoint("resident.view")
def get_household(
    request: HttpRequest,
    tenant: str,
    household_no: str,
    as_of: dt.date | None = None,
    recorded_at: dt.datetime | None = None,
    purpose: str = "",
) -> list[ResidentSummary]:
    members = selectors.household_view(request.principal, household_no, as_of=as_of,  # type: ignore[attr-defined]
                                       recorded_at=recorded_at, purpose=purpose)
    return [summary_of_state(m) for m in members]


def change_out(req: Any) -> ChangeOut:
    notices = []
    if req.status == "registered" and kind_spec(req.kind).effect == Effect.CREATE:
        st = services.resident_code_pool_status()
        if st.low:
            notices.append(f"住民票コードの在庫が少なくなっています（残り{st.free}件）。CSから取り込んでください")
    return ChangeOut(
        id=str(req.id), kind=req.kind, kind_label=kind_spec(req.kind).label, status=req.status,
        effective_date=req.effective_date, notified_date=req.notified_date,
        subjects=[m["atena_no"] for m in req.moves], findings=req.findings,  # type: ignore[arg-type]
        created_by=req.created_by, decided_by=req.decided_by, notices=notices,
    )


@router.post("/{tenant}/changes", response={201: ChangeOut}, summary="異動の仮登録")
@tenant_endpoint("move.register")
def propose_change(request: HttpRequest, tenant: str, payload: ChangeIn) -> Status[ChangeOut]:
    req = services.propose(
        request.principal,  # type: ignore[attr-defined]
        payload.kind,
        payload.effective_date,
        [services.SubjectInput(s.atena_no, s.changes) for s in payload.subjects],
        notified_date=payload.notified_date,
        cancels=payload.cancels,
    )
    return Status(201, change_out(req))


@router.get("/{tenant}/changes/{change_id}", response=ChangeOut, summary="仮登録の照会")
@tenant_endpoint("resident.view")
def get_change(request: HttpRequest, tenant: str, change_id: int) -> ChangeOut:
    return change_out(selectors.change_view(request.principal, change_id))  # type: ignore[attr-defined]


@router.get("/{tenant}/changes", response=list[ChangeOut], summary="審査待ちの一覧")
@tenant_endpoint("move.approve")
def list_awaiting(request: HttpRequest, tenant: str) -> list[ChangeOut]:
    return [change_out(r) for r in selectors.awaiting_approval(request.principal)]  # type: ignore[attr-defined]


@router.post("/{tenant}/changes/{change_id}/register", response=ChangeOut, summary="本登録")
@tenant_endpoint("move.register")
def register_change(request: HttpRequest, tenant: str, change_id: int, payload: ConfirmIn) -> ChangeOut:
    return change_out(services.register(request.principal, change_id, confirm_alerts=payload.confirm_alerts))  # type: ignore[attr-defined]


@router.post("/{tenant}/changes/{change_id}/withdraw", response=ChangeOut, summary="仮登録の取下げ")
@tenant_endpoint("move.register")
def withdraw_change(request: HttpRequest, tenant: str, change_id: int) -> ChangeOut:
    return change_out(services.withdraw(request.principal, change_id))  # type: ignore[attr-defined]


@router.post("/{tenant}/changes/{change_id}/approve", response=ChangeOut, summary="審査（承認して記録）")
@tenant_endpoint("move.approve")
def approve_change(request: HttpRequest, tenant: str, change_id: int, payload: ConfirmIn) -> ChangeOut:
    return change_out(services.approve(request.principal, change_id, confirm_alerts=payload.confirm_alerts,  # type: ignore[attr-defined]
                                       note=payload.note))


@router.post("/{tenant}/changes/{change_id}/reject", response=ChangeOut, summary="審査（却下）")
@tenant_endpoint("move.approve")
def reject_change(request: HttpRequest, tenant: str, change_id: int, payload: RejectIn) -> ChangeOut:
    return change_out(services.reject(request.principal, change_id, payload.note))  # type: ignore[attr-defined]


@router.get("/{tenant}/resident-codes/status", response=PoolStatusOut, summary="住民票コード在庫の状況")
@tenant_endpoint("tenant.parameters")
def resident_code_status(request: HttpRequest, tenant: str) -> PoolStatusOut:
    st = services.resident_code_pool_status()
    msg = (f"住民票コードの在庫が少なくなっています（残り{st.free}件、警告基準{st.threshold}件）。CSから取り込んでください"
           if st.low else f"住民票コードの在庫は{st.free}件です")
    return PoolStatusOut(free=st.free, threshold=st.threshold, low=st.low, message=msg)


@router.post("/{tenant}/resident-codes", response=PoolStatusOut, summary="住民票コードの取込み（CSから供給された在庫）")
@tenant_endpoint("tenant.parameters")
def load_resident_codes(request: HttpRequest, tenant: str, payload: CodesIn) -> PoolStatusOut:
    services.load_resident_codes(payload.codes)
    return resident_code_status.__wrapped__(request, tenant)  # type: ignore[attr-defined, no-any-return]
