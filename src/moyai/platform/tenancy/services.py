"""Use cases of the tenancy app: 団体 creation and versioned parameters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max

from .errors import TenancyError, TenancyErrorCode
from .models import Consortium, Tenant, TenantParameter, validate_tenant_code
from .scope import current_tenant_code


def create_consortium(code: str, name: str, default_parameters: dict[str, Any]) -> Consortium:
    return Consortium.objects.create(code=code, name=name, default_parameters=default_parameters)


def create_tenant(code: str, name: str, prefecture: str, consortium: Consortium) -> Tenant:
    """Create a member 団体; the code's check digit is validated."""
    from django.core.exceptions import ValidationError

    try:
        validate_tenant_code(code)
    except ValidationError as exc:
        raise TenancyError(TenancyErrorCode.INVALID_CODE, f"団体コード {code}: {exc.messages[0]}") from exc
    return Tenant.objects.create(code=code, name=name, prefecture=prefecture, consortium=consortium)


def get_tenant(code: str) -> Tenant:
    try:
        return Tenant.objects.select_related("consortium").get(code=code)
    except Tenant.DoesNotExist as exc:
        raise TenancyError(TenancyErrorCode.UNKNOWN_TENANT, f"団体コード {code} の団体は登録されていません") from exc


def parameter(key: str, on: dt.date | None = None) -> Any:
    """The value of ``key`` in force on ``on`` for the active 団体, else the consortium default."""
    on = on or dt.date.today()
    row = (
        TenantParameter.objects.filter(key=key, effective_from__lte=on)
        .order_by("-effective_from", "-version")
        .values_list("value", flat=True)
        .first()
    )
    if row is not None:
        return row
    tenant = get_tenant(current_tenant_code())
    if key in tenant.consortium.default_parameters:
        return tenant.consortium.default_parameters[key]
    raise KeyError(f"パラメータ {key} が設定されていません")


def set_parameter(key: str, value: Any, effective_from: dt.date, recorded_by: str) -> TenantParameter:
    """Record a new value from ``effective_from`` on; earlier values stay as they were."""
    with transaction.atomic():
        last = TenantParameter.objects.filter(key=key, effective_from=effective_from).aggregate(v=Max("version"))["v"]
        return TenantParameter.objects.create(
            key=key, value=value, effective_from=effective_from, version=(last or 0) + 1, recorded_by=recorded_by
        )


def parameter_history(key: str) -> list[TenantParameter]:
    return list(TenantParameter.objects.filter(key=key).order_by("effective_from", "version"))
