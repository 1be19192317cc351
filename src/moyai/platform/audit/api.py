"""Access-log queries for auditors (監査 role): by resident and by staff member."""


import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema

from moyai.platform.http.endpoints import tenant_endpoint

from . import services

router = Router(tags=["アクセスログ"])


class LogOut(Schema):
    id: str
    at: dt.datetime
    actor: str
    operation: str
    purpose: str
    outcome: str
    request_id: str
    subject_count: int


@router.get("/{tenant}/audit/residents/{atena_no}", response=list[LogOut], summary="住民ごとのアクセス履歴")
@tenant_endpoint("audit.read")
def by_resident(request: HttpRequest, tenant: str, atena_no: str) -> list[LogOut]:
    return [LogOut(**{**e.__dict__, "id": str(e.id)}) for e in services.entries_for_resident(atena_no)]


@router.get("/{tenant}/audit/staff/{actor}", response=list[LogOut], summary="職員ごとの操作履歴")
@tenant_endpoint("audit.read")
def by_actor(request: HttpRequest, tenant: str, actor: str) -> list[LogOut]:
    return [LogOut(**{**e.__dict__, "id": str(e.id)}) for e in services.entries_for_actor(actor)]
