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

from ..domain.codes import CodeError, CodeService, MemoryCodeStore, parse_code
from ..domain.keystore import KeyStore
from ..domain.log import DEFAULT_BATCH_SIZE, LogEntry, LogFormatError, LogWriter, make_checkpoint
from ..domain.signing import Signer
from ..store import LogUnavailable, _lock_key

__all__ = ["GroupCommitLog", "PgCodes", "PgNonces", "conninfo", "make_pool"]

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


def make_pool(db: Mapping[str, Any], *, min_size: int = 4, max_size: int = 16) -> AsyncConnectionPool:
    """A pool on the Django database's role and database, to be opened on the server's event loop."""
    pool: AsyncConnectionPool = AsyncConnectionPool("", kwargs=conninfo(db), min_size=min_size, max_size=max_size,
                                                    open=False, name="moyai-gateway")
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
