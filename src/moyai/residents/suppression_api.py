"""抑止・支援措置 REST API under ``/api/v1/tenants/{tenant}/``: thin — parse, authorise, call one function."""
# No "from __future__ import annotations": ninja resolves the annotations of views wrapped by
# tenant_endpoint through the wrapper's globals, so they must be real objects.


import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI, Query, Router, Schema, Status
from pydantic import Field

from moyai.platform.http.endpoints import tenant_endpoint

from . import selectors, suppression
from .models import SupportMeasure, Suppression

router = Router(tags=["抑止・支援措置"])


def install(api: NinjaAPI) -> None:
    """A refusal by a 抑止 or a 支援措置 rolls its work back: its blocked-attempt entry is written
    after the rollback, then the refusal is answered like any other problem."""
    from moyai.platform.http.problems import problem

    @api.exception_handler(suppression.SuppressionError)
    def _suppressed(request: HttpRequest, exc: suppression.SuppressionError) -> HttpResponse:
        exc.record()
        return problem(api, request, exc.status, str(exc.code), exc.message, field=exc.field,
                       errors=exc.findings or None)


# ------------------------------------------------------------------ 抑止


class SuppressionIn(Schema):
    target_kind: Literal["person", "household"] = Field(description="person 個人（宛名番号） / household 世帯（世帯番号）")
    target: str = Field(min_length=1, max_length=16, description="宛名番号又は世帯番号")
    process: Literal["move", "issuance", "inquiry"] = Field(description="move 異動 / issuance 発行 / inquiry 照会")
    level: Literal["error", "alert"] = Field(description="error エラー（処理不可） / alert アラート（確認の上で処理可）")
    reason: str = Field(description="抑止事由コード（support_measure, exclusive, court_order, other）")
    start_date: dt.date = Field(description="開始日")
    end_date: dt.date | None = Field(None, description="終了日（経過しても抑止は自動的には終了しません）")
    note: str = Field("", max_length=400, description="備考")


class SuppressionOut(Schema):
    id: str
    target_kind: str
    target: str
    process: str
    level: str
    reason: str
    note: str
    start_date: dt.date
    end_date: dt.date | None
    created_by: str
    released_at: dt.datetime | None
    released_by: str
    temporarily_released_until: dt.datetime | None
    applies_now: bool


def suppression_out(row: Suppression) -> SuppressionOut:
    now = timezone.now()
    facts = suppression.suppression_facts(row)
    return SuppressionOut(
        id=str(row.id), target_kind=row.target_kind, target=row.target, process=row.process, level=row.level,
        reason=row.reason, note=row.note, start_date=row.start_date, end_date=row.end_date, created_by=row.created_by,
        released_at=row.released_at, released_by=row.released_by,
        temporarily_released_until=row.temp_until if facts.release and facts.release.covers(now) else None,
        applies_now=facts.applies(timezone.localdate(now), now),
    )


class ReleaseIn(Schema):
    note: str = Field(min_length=1, max_length=400, description="解除理由")


class TemporaryReleaseIn(Schema):
    reason: str = Field(min_length=1, max_length=400, description="一時解除の理由")
    minutes: int | None = Field(None, description="抑止に戻るまでの時間（分）。省略時は既定値")


@router.post("/{tenant}/suppressions", response={201: SuppressionOut}, summary="抑止の設定")
@tenant_endpoint("suppression.manage")
def create_suppression(request: HttpRequest, tenant: str, payload: SuppressionIn) -> Status[SuppressionOut]:
    row = suppression.set_suppression(
        request.principal,  # type: ignore[attr-defined]
        target_kind=payload.target_kind, target=payload.target, process=payload.process, level=payload.level,
        reason=payload.reason, start_date=payload.start_date, end_date=payload.end_date, note=payload.note,
    )
    return Status(201, suppression_out(row))


@router.get("/{tenant}/suppressions", response=list[SuppressionOut], summary="抑止の一覧")
@tenant_endpoint("suppression.manage")
def list_suppressions(request: HttpRequest, tenant: str, target: str = "",
                      include_released: bool = False) -> list[SuppressionOut]:
    rows = suppression.list_suppressions(request.principal, target=target,  # type: ignore[attr-defined]
                                         include_released=include_released)
    return [suppression_out(r) for r in rows]


@router.post("/{tenant}/suppressions/{suppression_id}/release", response=SuppressionOut, summary="抑止の解除")
@tenant_endpoint("suppression.manage")
def release_suppression(request: HttpRequest, tenant: str, suppression_id: int, payload: ReleaseIn) -> SuppressionOut:
    return suppression_out(suppression.release_suppression(request.principal, suppression_id,  # type: ignore[attr-defined]
                                                           note=payload.note))


@router.post("/{tenant}/suppressions/{suppression_id}/temporary-release", response=SuppressionOut,
             summary="抑止の一時解除（時間が来ると自動で抑止に戻ります）")
@tenant_endpoint("suppression.release")
def release_suppression_temporarily(request: HttpRequest, tenant: str, suppression_id: int,
                                    payload: TemporaryReleaseIn) -> SuppressionOut:
    row = suppression.release_suppression_temporarily(request.principal, suppression_id,  # type: ignore[attr-defined]
                                                      reason=payload.reason, minutes=payload.minutes)
    return suppression_out(row)


# ------------------------------------------------------------------ 支援措置


class AccompanyingIn(Schema):
    atena_no: str = Field(min_length=1, max_length=16, description="宛名番号")
    relationship: str = Field("", max_length=40, description="申出者との関係")


class MeasureIn(Schema):
    applicant: str = Field(min_length=1, max_length=16, description="申出者の宛名番号")
    received_on: dt.date = Field(description="申出の受付日")
    accompanying: list[AccompanyingIn] = Field(default_factory=list, description="併せて支援を求める者")
    provisional: bool = Field(True, description="仮支援措置として登録する（必要性の確認後に開始）")
    start_date: dt.date | None = Field(None, description="支援措置の開始年月日（provisional=false のとき。省略時は受付日）")
    end_date: dt.date | None = Field(None, description="終了年月日（省略時は開始から1年）")
    affairs: list[str] = Field(default_factory=list, description="支援を求められている事務（閲覧、住民票の写し等の交付など）")
    offender_name: str = Field("", max_length=200, description="加害者の氏名")
    offender_atena_no: str = Field("", max_length=16, description="加害者の宛名番号（同一市区町村の場合）")
    note: str = Field("", max_length=1000, description="備考")


class PersonOut(Schema):
    atena_no: str
    role: str
    relationship: str


class MeasureOut(Schema):
    id: str
    applicant: str
    status: str
    phase: str
    received_on: dt.date
    provisional_from: dt.date | None
    start_date: dt.date | None
    end_date: dt.date | None
    renewable_from: dt.date | None
    periods: list[dict[str, Any]]
    affairs: list[str]
    offender_name: str
    offender_atena_no: str
    note: str
    ended_on: dt.date | None
    end_reason: str
    temporarily_released_until: dt.datetime | None
    persons: list[PersonOut]
    notices: list[str]


def measure_out(view: selectors.MeasureView) -> MeasureOut:
    m = view.measure
    now = timezone.now()
    released = m.temp_until if m.temp_from and m.temp_until and m.temp_from <= now < m.temp_until else None
    return MeasureOut(
        id=str(m.id), applicant=m.applicant, status=m.status, phase=view.phase, received_on=m.received_on,
        provisional_from=m.provisional_from, start_date=m.start_date, end_date=m.end_date,
        renewable_from=view.renewable_from, periods=m.periods, affairs=m.affairs, offender_name=m.offender_name,
        offender_atena_no=m.offender_atena_no, note=m.note, ended_on=m.ended_on, end_reason=m.end_reason,
        temporarily_released_until=released,
        persons=[PersonOut(atena_no=p.atena_no, role=p.role, relationship=p.relationship) for p in view.persons],
        notices=list(view.notices),
    )


def _out(request: HttpRequest, row: SupportMeasure) -> MeasureOut:
    # The caller holds support_measure.manage; what it returns is the measure it just changed.
    view = selectors.measure_view_of(row, suppression.persons_of(row.id), timezone.localdate())
    return measure_out(view)


class StartIn(Schema):
    start_date: dt.date = Field(description="支援措置の開始年月日")
    end_date: dt.date | None = Field(None, description="終了年月日（省略時は開始から1年）")


class RenewIn(Schema):
    end_date: dt.date | None = Field(None, description="延長後の終了年月日（省略時は従前の終了日の翌日から1年）")


class EndIn(Schema):
    ended_on: dt.date = Field(description="終了日")
    reason: str = Field(min_length=1, max_length=400, description="終了理由")


@router.post("/{tenant}/support-measures", response={201: MeasureOut}, summary="支援措置の申出の登録（仮支援措置）")
@tenant_endpoint("support_measure.manage")
def register_measure(request: HttpRequest, tenant: str, payload: MeasureIn) -> Status[MeasureOut]:
    row = suppression.register_measure(
        request.principal,  # type: ignore[attr-defined]
        applicant=payload.applicant, received_on=payload.received_on,
        accompanying=[suppression.Accompanying(a.atena_no, a.relationship) for a in payload.accompanying],
        provisional=payload.provisional, start_date=payload.start_date, end_date=payload.end_date,
        affairs=payload.affairs, offender_name=payload.offender_name, offender_atena_no=payload.offender_atena_no,
        note=payload.note,
    )
    return Status(201, _out(request, row))


class MeasureParams(Schema):
    atena_no: str = Field("", description="この宛名番号の人を含む支援措置に限る")
    include_ended: bool = Field(False, description="終了したものも含める")


@router.get("/{tenant}/support-measures", response=list[MeasureOut], summary="支援対象者照会（支援措置の一覧）")
@tenant_endpoint("support_measure.view")
def list_measures(request: HttpRequest, tenant: str, params: Query[MeasureParams]) -> list[MeasureOut]:
    views = selectors.support_measures(request.principal, atena_no=params.atena_no,  # type: ignore[attr-defined]
                                       include_ended=params.include_ended)
    return [measure_out(v) for v in views]


@router.get("/{tenant}/support-measures/{measure_id}", response=MeasureOut, summary="支援措置の照会")
@tenant_endpoint("support_measure.view")
def get_measure(request: HttpRequest, tenant: str, measure_id: int) -> MeasureOut:
    return measure_out(selectors.support_measure(request.principal, measure_id))  # type: ignore[attr-defined]


@router.post("/{tenant}/support-measures/{measure_id}/start", response=MeasureOut,
             summary="支援措置の開始（仮支援措置から）")
@tenant_endpoint("support_measure.manage")
def start_measure(request: HttpRequest, tenant: str, measure_id: int, payload: StartIn) -> MeasureOut:
    row = suppression.start_measure(request.principal, measure_id, start_date=payload.start_date,  # type: ignore[attr-defined]
                                    end_date=payload.end_date)
    return _out(request, row)


@router.post("/{tenant}/support-measures/{measure_id}/renew", response=MeasureOut, summary="支援措置の延長")
@tenant_endpoint("support_measure.manage")
def renew_measure(request: HttpRequest, tenant: str, measure_id: int, payload: RenewIn) -> MeasureOut:
    row = suppression.renew_measure(request.principal, measure_id, end_date=payload.end_date)  # type: ignore[attr-defined]
    return _out(request, row)


@router.post("/{tenant}/support-measures/{measure_id}/end", response=MeasureOut, summary="支援措置の終了")
@tenant_endpoint("support_measure.manage")
def end_measure(request: HttpRequest, tenant: str, measure_id: int, payload: EndIn) -> MeasureOut:
    row = suppression.end_measure(request.principal, measure_id, ended_on=payload.ended_on,  # type: ignore[attr-defined]
                                  reason=payload.reason)
    return _out(request, row)


@router.post("/{tenant}/support-measures/{measure_id}/temporary-release", response=MeasureOut,
             summary="支援措置のエラーの一時解除（審査の上で交付するとき）")
@tenant_endpoint("support_measure.manage")
def release_measure_temporarily(request: HttpRequest, tenant: str, measure_id: int,
                                payload: TemporaryReleaseIn) -> MeasureOut:
    row = suppression.release_measure_temporarily(request.principal, measure_id,  # type: ignore[attr-defined]
                                                  reason=payload.reason, minutes=payload.minutes)
    return _out(request, row)


# ------------------------------------------------------------------ the admin's view


class BlockedOut(Schema):
    id: str
    at: dt.datetime
    actor: str
    process: str
    subjects: list[str]
    detail: dict[str, Any]


class BlockedParams(Schema):
    since: dt.datetime = Field(description="この日時以後（ISO 8601）")
    until: dt.datetime | None = Field(None, description="この日時より前（省略時は現在）")
    limit: int = Field(200, ge=1, le=1000)


@router.get("/{tenant}/suppression-monitor/blocked", response=list[BlockedOut],
            summary="抑止・支援措置によりブロックされた操作の一覧（新しい順）")
@tenant_endpoint("suppression.monitor")
def blocked_attempts(request: HttpRequest, tenant: str, params: Query[BlockedParams]) -> list[BlockedOut]:
    rows = selectors.blocked_attempts(request.principal, since=params.since,  # type: ignore[attr-defined]
                                      until=params.until or timezone.now(), limit=params.limit)
    return [BlockedOut(id=str(e.id), at=e.at, actor=e.actor, process=e.process, subjects=e.subjects, detail=e.detail)
            for e in rows]


class DueOut(Schema):
    kind: str
    id: str
    phase: str
    end_date: dt.date | None
    subjects: list[str]
    message: str


@router.get("/{tenant}/suppression-monitor/due", response=list[DueOut],
            summary="期間終了が近い・終了した支援措置、仮支援措置、終了日を過ぎた抑止")
@tenant_endpoint("suppression.monitor")
def due_for_attention(request: HttpRequest, tenant: str, on: dt.date | None = None) -> list[DueOut]:
    items = selectors.due_for_attention(request.principal, on=on)  # type: ignore[attr-defined]
    return [DueOut(kind=d.kind, id=str(d.id), phase=d.phase, end_date=d.end_date, subjects=d.subjects,
                   message=d.message) for d in items]


# ------------------------------------------------------------------ a person's marks (for the counter screens)


class MarksOut(Schema):
    atena_no: str
    notices: list[str]


@router.get("/{tenant}/residents/{atena_no}/suppression", response=MarksOut,
            summary="住民の抑止・支援措置の表示（照会抑止・支援措置の有無と期間のアラート）")
@tenant_endpoint("resident.view")
def resident_marks(request: HttpRequest, tenant: str, atena_no: str) -> MarksOut:
    notices = selectors.resident_marks(request.principal, atena_no)  # type: ignore[attr-defined]
    return MarksOut(atena_no=atena_no, notices=list(notices))
