"""Access-log queries for auditors (監査 role): by resident and by staff member."""


import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from moyai.platform.http.endpoints import tenant_endpoint

from . import analysis, services

router = Router(tags=["アクセスログ"])


class MassSearchOut(Schema):
    actor: str
    hour: dt.datetime
    residents: int


class LogOut(Schema):
    id: str
    at: dt.datetime
    actor: str
    operation: str
    purpose: str
    outcome: str
    request_id: str
    subject_count: int


class AnalysisOut(Schema):
    start: dt.datetime
    end: dt.datetime
    off_hours: dict[str, int] = Field(description="夜間・閉庁日のアクセス件数（操作者ごと）")
    denied: dict[str, int] = Field(description="拒否された操作の件数（操作者ごと）")
    failed_logins: dict[str, int] = Field(description="ログイン失敗回数（職員ごと）")
    logins: dict[str, int] = Field(description="ログイン回数（職員ごと）")
    mass_searches: list[MassSearchOut] = Field(description="1時間に基準を超える人数を検索した操作者")


@router.get("/{tenant}/audit/analysis", response=AnalysisOut, summary="アクセスログの分析（夜間・閉庁日、ログイン失敗、大量検索）")
@tenant_endpoint("audit.read")
def audit_analysis(request: HttpRequest, tenant: str, start: dt.datetime, end: dt.datetime) -> AnalysisOut:
    a = analysis.analyse(start, end)
    return AnalysisOut(start=a.start, end=a.end, off_hours=a.off_hours, denied=a.denied, failed_logins=a.failed_logins,
                       logins=a.logins,
                       mass_searches=[MassSearchOut(actor=x, hour=h, residents=n) for x, h, n in a.mass_searches])


@router.get("/{tenant}/audit/residents/{atena_no}", response=list[LogOut], summary="住民ごとのアクセス履歴")
@tenant_endpoint("audit.read")
def by_resident(request: HttpRequest, tenant: str, atena_no: str) -> list[LogOut]:
    return [LogOut(**{**e.__dict__, "id": str(e.id)}) for e in services.entries_for_resident(atena_no)]


@router.get("/{tenant}/audit/staff/{actor}", response=list[LogOut], summary="職員ごとの操作履歴")
@tenant_endpoint("audit.read")
def by_actor(request: HttpRequest, tenant: str, actor: str) -> list[LogOut]:
    return [LogOut(**{**e.__dict__, "id": str(e.id)}) for e in services.entries_for_actor(actor)]
