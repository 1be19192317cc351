"""What the asynchronous exchange service needs from storage, and the thread-backed implementation.

The service (:mod:`.exchange`) awaits four ports: the replay cache, the 符号 table, the
registry read and the durable log. :mod:`.pg` implements the first, second and fourth on
psycopg's ``AsyncConnectionPool`` (PostgreSQL). :class:`ThreadPorts` runs the existing
synchronous objects (``NonceCache``, ``CodeService`` over ``DbCodeStore``, ``LogStore``) in a
worker thread: the embedded SQLite set-up, where one writer at a time is all the database
allows anyway.

On PostgreSQL the registry read runs on the pool too (:class:`.pg.PgRegistry`: the residents'
``selectors.exchange_record_async``, one transaction with its access-log entry). A person under
a 支援措置 or 抑止, a stale projection, a past date or 異動履歴 take the synchronous
:class:`~moyai.gateway.registry.ResidentsReadModel` in a worker thread (:class:`ThreadRegistry`),
which applies the full rules; on SQLite every read does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, Protocol, TypeVar

from django.db import connections

from moyai.platform.audit.context import request_id_var
from moyai.platform.audit.services import PendingEntry
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.scope import tenant_scope

from ..domain.codes import CodeService
from ..domain.log import LogEntry
from ..nonces import NonceCache
from ..registry import RegistryReadModel
from ..store import LogStore

__all__ = ["CodePort", "LogPort", "NoncePort", "PendingAccess", "RegistryPort", "RegistryRead", "ThreadPorts", "ThreadRegistry"]

T = TypeVar("T")


class NoncePort(Protocol):
    async def remember(self, requester: str, nonce: str, now: dt.datetime) -> bool: ...


class CodePort(Protocol):
    async def resolve(self, org_id: str, code: str) -> str | None: ...

    async def code_for(self, org_id: str, person_key: str) -> str: ...


#: (the person is in the registry, values by item, items not held)
RegistryRead = tuple[bool, dict[str, Any], list[str]]


class PendingAccess(NamedTuple):
    """An access-log entry to store with the exchange's log entry (:meth:`PgRegistry.read_deferred`)."""

    tenant_code: str
    entry: PendingEntry
    atena: list[str]


class RegistryPort(Protocol):
    async def read(self, tenant_code: str, person_key: str, items: frozenset[str], on: dt.date,
                   actor: Principal, purpose: str, request_id: str = "") -> RegistryRead:
        """``request_id`` goes into the access-log entry (the exchange's message id)."""
        ...


class LogPort(Protocol):
    async def append(self, **fields: Any) -> LogEntry:
        """Store the next entry durably (``LogWriter.prepare`` arguments); ``LogUnavailable`` if not."""
        ...

    async def checkpoint_now(self) -> int: ...


def _in_thread(fn: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        # A worker thread keeps its Django connection between calls (no request cycle closes it:
        # reconnecting per call would cost more than the call). One that failed and no longer
        # answers is replaced before the next call.
        conn = connections["default"]
        if conn.connection is not None and conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()
        return fn()
    return run


class _Executor:
    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, _in_thread(fn))


class ThreadRegistry(_Executor):
    """:class:`RegistryPort` over the synchronous read model (in ``tenant_scope``, access-logged)."""

    def __init__(self, read_model: RegistryReadModel, executor: ThreadPoolExecutor) -> None:
        super().__init__(executor)
        self.read_model = read_model

    async def read(self, tenant_code: str, person_key: str, items: frozenset[str], on: dt.date,
                   actor: Principal, purpose: str, request_id: str = "") -> RegistryRead:
        def work() -> RegistryRead:
            if request_id:
                request_id_var.set(request_id[:64])  # this worker thread's context, for this call's entries
            with tenant_scope(tenant_code):
                atena_no = self.read_model.atena_no_for(person_key)
                if atena_no is None:
                    return False, {}, sorted(items)
                values, not_held = self.read_model.fetch(atena_no, items, on, actor, purpose)
                return True, values, not_held
        return await self.run(work)


class ThreadPorts(_Executor):
    """Nonce, 符号 and log ports over the synchronous objects, one worker thread (SQLite)."""

    def __init__(self, nonces: NonceCache, codes: CodeService, log: LogStore, executor: ThreadPoolExecutor) -> None:
        super().__init__(executor)
        self.nonces = nonces
        self.codes = codes
        self.log = log

    async def remember(self, requester: str, nonce: str, now: dt.datetime) -> bool:
        return await self.run(lambda: self.nonces.remember(requester, nonce, now))

    async def resolve(self, org_id: str, code: str) -> str | None:
        return await self.run(lambda: self.codes.resolve(org_id, code))

    async def code_for(self, org_id: str, person_key: str) -> str:
        return await self.run(lambda: self.codes.code_for(org_id, person_key))

    async def append(self, **fields: Any) -> LogEntry:
        return await self.run(lambda: self.log.append(**fields))

    async def checkpoint_now(self) -> int:
        return await self.run(self.log.checkpoint_now)
