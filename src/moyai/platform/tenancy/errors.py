"""Errors of the tenancy mechanism (one enum per app, each with a Japanese message)."""

from __future__ import annotations

from enum import StrEnum


class TenancyErrorCode(StrEnum):
    NO_SCOPE = "tenancy.no_scope"
    CROSS_TENANT = "tenancy.cross_tenant"
    UNKNOWN_TENANT = "tenancy.unknown_tenant"
    INVALID_CODE = "tenancy.invalid_code"
    NESTED_SCOPE = "tenancy.nested_scope"


class TenancyError(RuntimeError):
    def __init__(self, code: TenancyErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NoTenantScope(TenancyError):
    """Raised by every tenant-owned query run without an active 団体 scope (fail closed)."""

    def __init__(self, what: str = "") -> None:
        super().__init__(
            TenancyErrorCode.NO_SCOPE,
            "団体が選択されていないため、団体のデータにアクセスできません" + (f"（{what}）" if what else ""),
        )


class CrossTenantWrite(TenancyError):
    def __init__(self, row_tenant: str, scope_tenant: str) -> None:
        super().__init__(
            TenancyErrorCode.CROSS_TENANT,
            f"団体 {scope_tenant} の処理中に団体 {row_tenant} のデータは書き込めません",
        )
