"""Tenant parameters API (管理 role)."""


import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from moyai.platform.audit import services as audit
from moyai.platform.http.endpoints import tenant_endpoint

from . import services

router = Router(tags=["団体パラメータ"])


class ParameterIn(Schema):
    value: Any
    effective_from: dt.date


class ParameterOut(Schema):
    key: str
    value: Any
    effective_from: dt.date
    version: int
    recorded_by: str


@router.get("/{tenant}/parameters/{key}", response=list[ParameterOut], summary="パラメータの履歴")
@tenant_endpoint("tenant.parameters")
def parameter_history(request: HttpRequest, tenant: str, key: str) -> list[ParameterOut]:
    return [
        ParameterOut(key=p.key, value=p.value, effective_from=p.effective_from, version=p.version,
                     recorded_by=p.recorded_by)
        for p in services.parameter_history(key)
    ]


@router.post("/{tenant}/parameters/{key}", response={201: ParameterOut}, summary="パラメータの設定（適用開始日つき）")
@tenant_endpoint("tenant.parameters")
def set_parameter(request: HttpRequest, tenant: str, key: str, payload: ParameterIn) -> Status[ParameterOut]:
    p = services.set_parameter(key, payload.value, payload.effective_from, request.principal.label)  # type: ignore[attr-defined]
    audit.record(request.principal, "settings.parameter", detail={  # type: ignore[attr-defined]
        "key": key, "effective_from": payload.effective_from.isoformat(), "version": p.version})
    return Status(201, ParameterOut(key=p.key, value=p.value, effective_from=p.effective_from, version=p.version,
                             recorded_by=p.recorded_by))
