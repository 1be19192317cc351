"""The one tenant-scoping mechanism.

Every tenant-owned query runs inside ``tenant_scope(code)``. The scope:

1. opens a transaction (``transaction.atomic``),
2. on PostgreSQL sets ``moyai.tenant`` for that transaction only
   (``set_config('moyai.tenant', code, true)``), which the row-level-security policies read,
3. sets a context variable that the scoped manager reads; without it every tenant-owned query
   raises :class:`NoTenantScope` (fail closed, on SQLite too).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from .errors import NoTenantScope, TenancyError, TenancyErrorCode

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("moyai_tenant", default=None)

GUC = "moyai.tenant"


def current_tenant_code() -> str:
    """The active 団体コード; raises :class:`NoTenantScope` when there is none."""
    code = _current.get()
    if code is None:
        raise NoTenantScope()
    return code


def active_tenant_code() -> str | None:
    """The active 団体コード or None (for code that must not raise, e.g. logging)."""
    return _current.get()


def _set_guc(code: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT set_config(%s, %s, true)", [GUC, code])


@contextmanager
def tenant_scope(code: str) -> Iterator[str]:
    """Run the block for one 団体, in one transaction.

    Re-entering the same tenant is allowed (inner blocks become savepoints); entering another
    tenant inside a scope is refused, so one transaction never mixes two tenants' rows.
    """
    outer = _current.get()
    if outer is not None and outer != code:
        raise TenancyError(
            TenancyErrorCode.NESTED_SCOPE,
            f"団体 {outer} の処理中に団体 {code} の処理は開始できません",
        )
    token = _current.set(code)
    try:
        with transaction.atomic():
            _set_guc(code)
            yield code
            if outer is None:
                # Leave nothing behind in an enclosing (e.g. test) transaction. On an exception
                # the rollback (of the transaction or savepoint) undoes set_config by itself.
                _set_guc("")
    finally:
        _current.reset(token)
