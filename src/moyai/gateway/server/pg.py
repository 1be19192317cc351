"""The gateway's hot path on PostgreSQL: psycopg 3's ``AsyncConnectionPool``, no ORM.

Same tables, same rows and the same log format as the synchronous :mod:`..store`,
:mod:`..nonces` and :mod:`..codestore` (``moyai exchange verify-log`` reads either), with the
domain code (``LogWriter``, ``make_checkpoint``, ``CodeService.compute``/``matches``) doing the
hashing, chaining and signing.

**Group commit.** :class:`GroupCommitLog` has one writer task per log and process. Appends wait
in a queue; the writer takes everything waiting (up to ``max_group``), and in one transaction
takes the log's advisory lock, continues the chain from the last stored entry, inserts the
entries, closes any full checkpoint batch (in a savepoint), and commits. Only after the commit
returns is any caller's ``append`` resolved, so no reply leaves before its entry is durable
(``synchronous_commit`` as configured on the server: ``on`` by default). While one group is
committing, the next one gathers: under load one fsync serves many exchanges; alone, an
exchange waits for nothing but its own commit. If the transaction fails, every append of the
group raises :class:`~..store.LogUnavailable` and nothing of it was stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.errors import Error as PsycopgError
from psycopg_pool import AsyncConnectionPool

from moyai.platform.identity.services import Principal
from moyai.residents import selectors

from ..domain.codes import CodeError, CodeService, MemoryCodeStore, parse_code
from ..domain.keystore import KeyStore
from ..domain.log import DEFAULT_BATCH_SIZE, LogEntry, LogFormatError, LogWriter, make_checkpoint
from ..domain.signing import Signer
from ..registry import RESIDENT_RECORD, values_of
from ..store import LogUnavailable, _lock_key
from .ports import RegistryPort, RegistryRead

__all__ = ["GroupCommitLog", "PgCodes", "PgNonces", "PgRegistry", "conninfo", "make_pool"]

log = logging.getLogger(__name__)

MAX_GROUP: Final = 256

_INSERT_ENTRY: Final = (
    "INSERT INTO gateway_logentry (log_id, seq, time, requester, provider, affair, subject, outcome, "
    "disclose_after, prev_hash, entry_hash, canonical) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def conninfo(db: Mapping[str, Any]) -> dict[str, Any]:
    """psycopg connection arguments from a Django ``DATABASES`` entry (same role, same database)."""
    args: dict[str, Any] = {"host": db.get("HOST") or "127.0.0.1", "port": str(db.get("PORT") or "5432"),
                            "dbname": db["NAME"], "user": db.get("USER") or None,
                            "password": db.get("PASSWORD") or None, "autocommit": True}
    options = (db.get("OPTIONS") or {}).get("options")
    if options:
        args["options"] = options
    return {k: v for k, v in args.items() if v is not None}


def make_pool(db: Mapping[str, Any], *, min_size: int = 4, max_size: int = 16, deferred_commit: bool = False,
              name: str = "moyai-gateway") -> AsyncConnectionPool:
    """A pool on the Django database's role and database, to be opened on the server's event loop.

    ``deferred_commit``: the pool's sessions commit with ``synchronous_commit = off`` — for the
    writes that precede an exchange's log entry (nonce, 符号 issuance, access log). They are
    durable by the time the reply leaves: the log entry's own commit (on the log pool, with the
    server's setting) flushes the write-ahead log up to its commit record, which comes after
    theirs. A reply is never sent before that commit, so nothing a reply depends on can be lost.
    """
    kwargs = conninfo(db)
    if deferred_commit:
        kwargs["options"] = " ".join(filter(None, [kwargs.get("options"), "-c synchronous_commit=off"]))
    pool: AsyncConnectionPool = AsyncConnectionPool("", kwargs=kwargs, min_size=min_size, max_size=max_size,
                                                    open=False, name=name)
    return pool


class PgNonces:
    """The replay cache (``gateway_nonce``): an insert that the unique index lets through once."""

    def __init__(self, pool: AsyncConnectionPool, window: dt.timedelta, *, purge_every: int = 1000) -> None:
        self.pool = pool
        self.window = window
        self.purge_every = purge_every
        self._since_purge = 0

    async def remember(self, requester: str, nonce: str, now: dt.datetime) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO gateway_nonce (requester, nonce, seen_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (requester, nonce) DO NOTHING", [requester, nonce, now])
            fresh = cur.rowcount == 1
            self._since_purge += 1
            if self._since_purge >= self.purge_every:
                self._since_purge = 0
                await conn.execute("DELETE FROM gateway_nonce WHERE seen_at < %s", [now - 2 * self.window])
        return fresh


class PgCodes:
    """符号 issuance and resolution over ``gateway_code`` (the derivation is :class:`CodeService`'s)."""

    def __init__(self, pool: AsyncConnectionPool, keys: KeyStore) -> None:
        self.pool = pool
        self.keys = keys
        self._derive = CodeService(keys, MemoryCodeStore())  # only compute() and matches() are used

    async def _one(self, sql: str, params: list[Any]) -> str | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, params)
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def resolve(self, org_id: str, code: str) -> str | None:
        """As ``CodeService.resolve``: None if not issued; ``CodeError`` if the row does not re-derive."""
        parse_code(code)
        person_key = await self._one("SELECT person_key FROM gateway_code WHERE org_id = %s AND code = %s",
                                     [org_id, code])
        if person_key is None:
            return None
        if not self._derive.matches(code, org_id, person_key):
            raise CodeError("符号の対応表が鍵と一致しません（改ざんの可能性）")
        return person_key

    async def translate(self, org_id: str, code: str, to_org: str) -> tuple[str | None, str | None]:
        """``resolve(org_id, code)`` and, if found, the code already issued to ``to_org`` for the
        person (None if none yet: then ``code_for``) — in one round trip."""
        parse_code(code)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT f.person_key, (SELECT t.code FROM gateway_code t WHERE t.org_id = %s "
                "AND t.person_key = f.person_key) FROM gateway_code f WHERE f.org_id = %s AND f.code = %s",
                [to_org, org_id, code])
            row = await cur.fetchone()
        if row is None:
            return None, None
        person_key = str(row[0])
        if not self._derive.matches(code, org_id, person_key):
            raise CodeError("符号の対応表が鍵と一致しません（改ざんの可能性）")
        return person_key, None if row[1] is None else str(row[1])

    async def code_for(self, org_id: str, person_key: str) -> str:
        existing = await self._one("SELECT code FROM gateway_code WHERE org_id = %s AND person_key = %s",
                                   [org_id, person_key])
        if existing is not None:
            return existing
        code = self._derive.compute(self.keys.current().id, org_id, person_key)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO gateway_code (org_id, code, person_key, issued_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING", [org_id, code, person_key, _utcnow()])
            inserted = cur.rowcount == 1
        if not inserted:  # issued by another process at the same moment: it must be this very code
            stored = await self._one("SELECT code FROM gateway_code WHERE org_id = %s AND person_key = %s",
                                     [org_id, person_key])
            if stored is None:
                raise CodeError("この符号はすでに別の対応で発行されています")
            return stored
        return code


class PgRegistry:
    """The registry read on the pool (``selectors.exchange_record_async``), the full rules in a thread.

    A read the residents' asynchronous selector cannot answer alone (``full_rules``: 支援措置,
    抑止, a stale projection, a past date, 異動履歴) or that asks for no 住民記録 item is
    handed to ``fallback`` (the synchronous read model in a worker thread), which reads and logs
    it as before. Either way one access-log entry per answered read, in the 団体's scope.
    """

    def __init__(self, pool: AsyncConnectionPool, fallback: RegistryPort) -> None:
        self.pool = pool
        self.fallback = fallback
        #: reads answered on the pool / handed to the fallback (for the benchmark and tests)
        self.fast = 0
        self.slow = 0

    async def read(self, tenant_code: str, person_key: str, items: frozenset[str], on: dt.date,
                   actor: Principal, purpose: str, request_id: str = "") -> RegistryRead:
        held = {i for i in items if i.startswith(RESIDENT_RECORD)}
        if held:
            async with self.pool.connection() as conn:
                read = await selectors.exchange_record_async(
                    conn, tenant_code, person_key, on=on, actor=actor, purpose=purpose, request_id=request_id,
                    with_history=RESIDENT_RECORD + "move_history" in held)
            if not read.found:
                self.fast += 1
                return False, {}, sorted(items)
            if read.record is not None:
                self.fast += 1
                values, not_held = values_of(read.record, held, sorted(items - held))
                return True, values, not_held
        self.slow += 1
        return await self.fallback.read(tenant_code, person_key, items, on, actor, purpose, request_id)


class GroupCommitLog:
    """The durable exchange log of one data centre, written in group commits (see the module doc)."""

    def __init__(self, pool: AsyncConnectionPool, log_id: str, signer: Signer, *,
                 batch_size: int = DEFAULT_BATCH_SIZE, clock: Callable[[], dt.datetime] = _utcnow,
                 max_group: int = MAX_GROUP) -> None:
        LogWriter(log_id, signer, batch_size=batch_size)  # validates log_id and batch_size
        self.pool = pool
        self.log_id = log_id
        self.signer = signer
        self.batch_size = batch_size
        self.clock = clock
        self.max_group = max_group
        self._queue: list[tuple[dict[str, Any], asyncio.Future[LogEntry]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: sizes of the groups committed (for the benchmark's report)
        self.groups = 0
        self.grouped_entries = 0

    async def append(self, **fields: Any) -> LogEntry:
        future: asyncio.Future[LogEntry] = asyncio.get_running_loop().create_future()
        self._queue.append((fields, future))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"log-writer-{self.log_id}")
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for _, future in self._queue:
            if not future.done():
                future.set_exception(LogUnavailable("shutdown"))
        self._queue = []

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
                try:
                    results = await self._write([fields for fields, _ in group])
                except asyncio.CancelledError:  # shutdown mid-commit: the transaction was rolled back
                    for _, future in group:
                        if not future.done():
                            future.set_exception(LogUnavailable("shutdown"))
                    raise
                except Exception as exc:
                    if isinstance(exc, PsycopgError | OSError | TimeoutError):
                        log.error("情報連携ログに記録できません（ログ %s）: %s", self.log_id, type(exc).__name__)
                    else:
                        log.exception("情報連携ログに記録できません（ログ %s）", self.log_id)
                    results = [LogUnavailable(type(exc).__name__)] * len(group)
                for (_, future), result in zip(group, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, LogEntry):
                        future.set_result(result)
                    else:
                        future.set_exception(result)

    async def _write(self, group: list[dict[str, Any]]) -> list[LogEntry | LogUnavailable]:
        results: list[LogEntry | LogUnavailable] = []
        async with self.pool.connection() as conn, conn.transaction():
            # BEGIN, the lock and the chain head in one round trip (pipelined)
            async with conn.pipeline():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(self.log_id)])
                cur = await conn.execute("SELECT seq, entry_hash FROM gateway_logentry WHERE log_id = %s "
                                         "ORDER BY seq DESC LIMIT 1", [self.log_id])
                last = await cur.fetchone()
            writer = LogWriter(self.log_id, self.signer, batch_size=self.batch_size, clock=self.clock)
            if last is not None:
                writer.next_seq, writer.head = int(last[0]) + 1, str(last[1])
            rows = []
            for fields in group:
                try:
                    entry = writer.prepare(**fields)
                except (LogFormatError, ValueError) as exc:
                    results.append(LogUnavailable(type(exc).__name__))
                    continue
                writer.next_seq, writer.head = entry.seq + 1, entry.entry_hash
                results.append(entry)
                rows.append((self.log_id, entry.seq, entry.timestamp, entry.requester, entry.provider, entry.affair,
                             entry.subject, entry.outcome,
                             dt.date.fromisoformat(entry.disclose_after) if entry.disclose_after else None,
                             entry.prev_hash, entry.entry_hash, entry.canonical().decode("utf-8")))
            if rows:
                async with conn.cursor() as c:
                    await c.executemany(_INSERT_ENTRY, rows)
                try:
                    async with conn.transaction():
                        await self._close_batches(conn, partial=False, head_seq=writer.next_seq)
                except Exception:  # the entries stand; the next group (or checkpoint_now) retries
                    log.exception("チェックポイントを作成できませんでした（ログ %s）", self.log_id)
        self.groups += 1
        self.grouped_entries += len(rows)
        return results

    async def checkpoint_now(self) -> int:
        """Close every full batch and the partial one (a timer, shutdown); checkpoints written."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(self.log_id)])
            return await self._close_batches(conn, partial=True, head_seq=None)

    async def _close_batches(self, conn: AsyncConnection[Any], *, partial: bool, head_seq: int | None) -> int:
        cur = await conn.execute("SELECT batch, first_seq, size FROM gateway_checkpoint WHERE log_id = %s "
                                 "ORDER BY batch DESC LIMIT 1", [self.log_id])
        last_cp = await cur.fetchone()
        batch, end = (int(last_cp[0]) + 1, int(last_cp[1]) + int(last_cp[2])) if last_cp else (0, 0)
        if head_seq is not None and not partial and head_seq - end < self.batch_size:
            return 0  # no full batch yet: nothing to read
        made = 0
        while True:
            cur = await conn.execute("SELECT canonical FROM gateway_logentry WHERE log_id = %s AND seq >= %s "
                                     "AND seq < %s ORDER BY seq", [self.log_id, end, end + self.batch_size])
            texts = [str(r[0]) for r in await cur.fetchall()]
            if not texts or (len(texts) < self.batch_size and not partial):
                return made
            entries = [LogEntry.from_canonical(t.encode("utf-8")) for t in texts]
            cp = make_checkpoint(self.log_id, batch, entries, self.signer, self.clock())
            await conn.execute(
                "INSERT INTO gateway_checkpoint (log_id, batch, first_seq, size, root, head, document) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [self.log_id, cp.batch, cp.first_seq, cp.size, cp.root, cp.head,
                 json.dumps(cp.to_json(), sort_keys=True)])
            made += 1
            batch, end = batch + 1, cp.end
            if len(texts) < self.batch_size:
                return made
