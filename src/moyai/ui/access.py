"""How a counter screen is entered: log-in, the 団体 and the permission, then the tenant scope.

:func:`counter_view` reuses the API's :func:`~moyai.platform.http.endpoints.tenant_endpoint`
(deny by default, refusals written to the 団体's access log, ``tenant_scope`` around the view) and
turns its refusals into Japanese pages instead of problem+json. Every response carries a
``Server-Timing`` header with the server time spent on it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from moyai.platform.errors import DomainError
from moyai.platform.http.endpoints import tenant_endpoint
from moyai.platform.identity.services import IdentityError, IdentityErrorCode, Principal
from moyai.platform.tenancy.errors import TenancyError

F = TypeVar("F", bound=Callable[..., HttpResponse])


def with_server_timing(response: HttpResponse, started: float) -> HttpResponse:
    """``Server-Timing: app;dur=<ms>`` (the time from entering the view to the response)."""
    ms = (time.perf_counter() - started) * 1000
    response["Server-Timing"] = f'app;dur={ms:.1f};desc="server"'
    return response


def timed(view: F) -> F:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        started = time.perf_counter()
        return with_server_timing(view(request, *args, **kwargs), started)

    return wrapper  # type: ignore[return-value]


def principal(request: HttpRequest) -> Principal:
    """The principal :func:`counter_view` resolved for this request."""
    return request.principal  # type: ignore[attr-defined, no-any-return]


def log_blocked(exc: DomainError) -> None:
    """A refusal because of a 抑止 or a 支援措置 carries the blocked attempt: write it to the access log
    in a transaction of its own, once the refused work has been rolled back."""
    record = getattr(exc, "record", None)
    if callable(record):
        record()


def refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "ui/refused.html", {"message": message, "status": status}, status=status)


def counter_view(permission: str) -> Callable[[F], F]:
    """A counter screen for one 団体 (``tenant`` in the URL) needing ``permission``."""

    def decorate(view: F) -> F:
        guarded = tenant_endpoint(permission)(view)

        @functools.wraps(view)
        def wrapper(request: HttpRequest, tenant: str, *args: Any, **kwargs: Any) -> HttpResponse:
            started = time.perf_counter()
            if not request.user.is_authenticated:
                return with_server_timing(redirect_to_login(request.get_full_path()), started)
            request.tenant_code = tenant  # type: ignore[attr-defined]
            try:
                response = guarded(request, tenant, *args, **kwargs)
            except IdentityError as exc:
                status = 401 if exc.code == IdentityErrorCode.NOT_AUTHENTICATED else 403
                response = refused(request, exc.message, status)
            except TenancyError as exc:
                response = refused(request, str(exc), 404)
            except DomainError as exc:
                log_blocked(exc)
                response = refused(request, exc.message, exc.status)
            return with_server_timing(response, started)

        wrapper.permission = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
