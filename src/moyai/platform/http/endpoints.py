"""Tenant endpoints: authenticate, authorise (deny by default), scope to the 団体, then call.

Every endpoint under ``/api/v1/tenants/{tenant}/`` is declared with :func:`tenant_endpoint`
and names exactly one permission. The decorator

1. finds the principal (``Authorization: Bearer moyai_…`` token, else the staff session),
2. refuses unless the principal's roles in *this* 団体 grant the permission — and writes the
   refusal to the access log,
3. runs the view inside ``tenant_scope(tenant)`` (one transaction, RLS setting on PostgreSQL).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from moyai.platform.audit.services import record_denied
from moyai.platform.identity.services import (
    IdentityError,
    IdentityErrorCode,
    Principal,
    staff_principal,
    token_principal,
)
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import get_tenant

F = TypeVar("F", bound=Callable[..., Any])

#: view function qualified name → permission, for the role-matrix test.
ENDPOINT_PERMISSIONS: dict[str, str] = {}


def principal_for(request: HttpRequest, tenant: str) -> Principal:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return token_principal(header[7:].strip(), tenant)
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.user.is_authenticated:
        # A browser session must prove the request came from our pages (CSRF token).
        refused = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, lambda r: HttpResponse(), (), {})
        if refused is not None:
            raise IdentityError(IdentityErrorCode.FORBIDDEN, "CSRF トークンがないか正しくありません。画面を再読み込みしてください")
    return staff_principal(request.user, tenant)


def tenant_endpoint(permission: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        ENDPOINT_PERMISSIONS[f"{view.__module__}.{view.__qualname__}"] = permission

        @functools.wraps(view)
        def wrapper(request: HttpRequest, tenant: str, *args: Any, **kwargs: Any) -> Any:
            get_tenant(tenant)  # unknown 団体 → 404 problem
            try:
                principal = principal_for(request, tenant)
            except IdentityError as exc:
                if exc.code == IdentityErrorCode.NOT_MEMBER:
                    # Someone known, but not of this 団体: the 団体 sees the attempt in its log.
                    outsider = Principal("staff" if request.user.is_authenticated else "token",
                                         _who(request), tenant, frozenset(), frozenset())
                    record_denied(tenant, outsider, f"denied:{view.__name__}", exc.message)
                raise
            if permission not in principal.permissions:
                try:
                    principal.require(permission)
                except IdentityError as exc:
                    record_denied(tenant, principal, f"denied:{view.__name__}", exc.message)
                    raise
            request.principal = principal  # type: ignore[attr-defined]
            with tenant_scope(tenant):
                return view(request, tenant, *args, **kwargs)

        wrapper.permission = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _who(request: HttpRequest) -> str:
    if request.user.is_authenticated:
        return str(request.user.get_username())
    header = request.headers.get("Authorization", "")
    parts = header[7:].split("_", 2) if header.startswith("Bearer ") else []
    return parts[1] if len(parts) == 3 else "unknown"  # token prefix only, never the secret
