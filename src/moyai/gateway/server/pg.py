"""The gateway's hot path on PostgreSQL: psycopg 3's ``AsyncConnectionPool``, no ORM.

Same tables, same rows and the same log format as the synchronous :mod:`..store`,
:mod:`..nonces` and :mod:`..codestore` (``moyai exchange verify-log`` reads either), with the
domain code (``LogWriter``, ``make_checkpoint``, ``CodeService.compute``/``matches``) doing the
hashing, chaining and signing.

**Group commit.** :class:`GroupCommitLog` has one writer task per log and process. Appends wait
in a queue; the writer takes everything waiting (up to ``max_group``), and in one transaction
takes the log's advisory lock, continues the chain from the last stored entry, inserts the
entries and the access-log entries of the reads they answer, closes any full checkpoint batch
(in a savepoint), and commits. Usually that transaction is one call of the database function
``gateway_append_group``, one round trip: the writer chains the entries on from the head it
wrote last, and the function, holding the lock, writes them only if the stored head is still
that one. When another process or the synchronous store appended meanwhile, nothing is written
and the group takes the locked path: a transaction of its own that reads the head under the lock
first (three round trips), as do the first group, a group that closes a checkpoint batch, a group
after a failure, and the few groups after a moved head (``LOCKED_AFTER_MOVE``). Only after the commit returns is any caller's ``append`` resolved, so
no reply leaves before its entry is durable (``synchronous_commit`` as configured on the
server: ``on`` by default). While one group is committing, the next one gathers: under load one
fsync serves many exchanges; alone, an exchange waits for nothing but its own commit. If the
transaction fails, every append of the group raises :class:`~..store.LogUnavailable` and nothing
of it was stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import orjson
from psycopg import AsyncConnection
from psycopg.errors import Error as PsycopgError
from psycopg.pq import TransactionStatus
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from moyai.platform.audit import services as audit
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.scope import GUC
from moyai.residents import selectors

from ..domain.codes import CodeError, CodeService, MemoryCodeStore, parse_code
from ..domain.keystore import KeyStore
from ..domain.log import DEFAULT_BATCH_SIZE, LogEntry, LogFormatError, LogWriter, make_checkpoint
from ..domain.signing import Signer
from ..registry import RESIDENT_RECORD, values_of
from ..store import LogUnavailable, _lock_key
from .ports import PendingAccess, RegistryPort, RegistryRead

__all__ = ["GroupCommitLog", "PgCodes", "PgNonces", "PgRegistry", "conninfo", "make_pool"]

R = TypeVar("R")

log = logging.getLogger(__name__)

MAX_GROUP: Final = 256
#: seconds an exchange waits for a pool connection before it is answered 503 (psycopg's default, 30 s,
#: outlasted the clients' own timeouts when the database could not be reached; under load a
#: connection is free within milliseconds)
POOL_WAIT: Final = 5.0
TENANT_CODE: Final = re.compile(r"[0-9]{6}")

#: the nonce insert and the 符号 lookup of :meth:`PgCodes.translate` in one statement (one row always)
_REMEMBER_AND_TRANSLATE: Final = (
    "WITH n AS (INSERT INTO gateway_nonce (requester, nonce, seen_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (requester, nonce) DO NOTHING RETURNING 1) "
    "SELECT EXISTS (SELECT 1 FROM n), f.person_key, (SELECT t.code FROM gateway_code t WHERE t.org_id = %s "
    "AND t.person_key = f.person_key) FROM (SELECT 1) AS one LEFT JOIN gateway_code f "
    "ON f.org_id = %s AND f.code = %s")

#: 符号 issuance of one or more (organisation, person) pairs in one statement (:class:`_IssueBatcher`):
#: each new row, or else the code the organisation already has for the person (issued earlier,
#: perhaps with an older key: that one stays). A pair asked twice in the batch is inserted once;
#: every asker gets the one code. NULL for a pair whose row was committed after the statement's
#: snapshot, or whose 符号 is already another person's (:meth:`PgCodes.code_for` then reads again).
#: One array per column (``%b``), so the statement does not depend on the batch's size
_ISSUE_CODES: Final = (
    "WITH q AS (SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[]) "
    "WITH ORDINALITY AS q(org_id, code, person_key, issued_at, i)), "
    "ins AS (INSERT INTO gateway_code (org_id, code, person_key, issued_at) "
    "SELECT DISTINCT ON (org_id, person_key) org_id, code, person_key, issued_at FROM q "
    "ORDER BY org_id, person_key, i ON CONFLICT DO NOTHING RETURNING org_id, person_key, code) "
    "SELECT q.i, coalesce((SELECT ins.code FROM ins WHERE ins.org_id = q.org_id AND ins.person_key = q.person_key), "
    "(SELECT c.code FROM gateway_code c WHERE c.org_id = q.org_id AND c.person_key = q.person_key)) FROM q")

#: the chain head of a log (no row when the log is empty)
_HEAD: Final = "SELECT seq, entry_hash FROM gateway_logentry WHERE log_id = %s ORDER BY seq DESC LIMIT 1"

#: the nonce insert, the 符号 lookup and the registry read of a batch of exchanges of one 団体 (one
#: or more), in one statement on the 団体's bound pool (:class:`_ReadBatcher`; the residents'
#: statement is ``selectors.exchange_record_statement``). One array per column (``%b``, so the
#: statement's text and its prepared plan do not depend on the batch's size). Every row is tagged
#: with its exchange's position in the batch (``q.i``, from 1): the head row ('n': fresh, person
#: key, the provider's 符号, as in :data:`_REMEMBER_AND_TRANSLATE`), then the registry's rows of
#: that exchange alone, read in a ``LATERAL`` subquery whose person is that exchange's 符号 row (so
#: one exchange's rows can never be another's), and only when that exchange's nonce was new. The
#: batch never holds one nonce twice.
_BATCH_REMEMBER_TRANSLATE_READ: Final = (
    "WITH q AS (SELECT * FROM unnest(%b::text[], %b::text[], %b::timestamptz[], %b::text[], %b::text[]) "
    "WITH ORDINALITY AS q(requester, nonce, seen_at, code, to_org, i)), "
    "n AS (INSERT INTO gateway_nonce (requester, nonce, seen_at) SELECT requester, nonce, seen_at FROM q "
    "ON CONFLICT (requester, nonce) DO NOTHING RETURNING requester, nonce), "
    "f AS (SELECT q.i, c.person_key FROM q JOIN gateway_code c ON c.org_id = q.requester AND c.code = q.code) "
    "SELECT q.i, 'n', f.person_key, jsonb_build_array((SELECT count(*) FROM n WHERE n.requester = q.requester "
    "AND n.nonce = q.nonce), (SELECT t.code FROM gateway_code t WHERE t.org_id = q.to_org "
    "AND t.person_key = f.person_key)) FROM q LEFT JOIN f ON f.i = q.i "
    "UNION ALL SELECT q.i, registry.* FROM q CROSS JOIN LATERAL ({registry}) AS registry")
#: the residents' persons in that statement: the person of the exchange's 符号 row, if its nonce was new
_PERSON_OF_QUEUED: Final = ("SELECT atena_no, household_no FROM residents_resident WHERE tenant_code = %s "
                            "AND resident_code = (SELECT f.person_key FROM f WHERE f.i = q.i) "
                            "AND EXISTS (SELECT 1 FROM n WHERE n.requester = q.requester AND n.nonce = q.nonce)")

#: a group of log entries and the access-log entries of the reads they answer, in one call of
#: ``gateway_append_group`` (migration gateway 0002): under the log's lock, and only if the chain still
#: ends at the (seq, hash) given; it returns whether it appended. One statement
#: whatever the group's size (so it is prepared once): one array per column, sent in binary (``%b``):
#: psycopg escapes each element of a text array through a regular expression (≈ 65 µs per entry of
#: these twelve columns, measured), a binary array costs ≈ 4 µs
_APPEND_GROUP: Final = (
    "SELECT gateway_append_group(%s::text, %s::bigint, %s::bigint, %s::text, "
    "%b::bigint[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::date[], "
    "%b::text[], %b::text[], %b::text[], " + audit.RECORD_ENTRIES_ARGS + ")")

#: groups that go straight to the locked path after a one-call append found the head moved (another
#: process writing the same log: under ``--workers 2`` its groups interleave with this one's, and a
#: failed call is a round trip lost); the group after them tries the one call again
LOCKED_AFTER_MOVE: Final = 4


@dataclass
class _Prepared:
    """A group's entries chained on from a head: one result per append (its entry, or why it has none)."""

    results: list[LogEntry | LogUnavailable]
    #: the ``l_*`` columns of ``gateway_append_group``, one tuple per entry
    rows: list[tuple[Any, ...]]
    accesses: list[tuple[audit.PendingEntry, list[str]]]
    #: the chain's end after these entries: (seq, hash), or (None, None) for an empty log
    last: tuple[int | None, str | None]


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
              name: str = "moyai-gateway", tenant: str | None = None,
              generic_plans: bool = False) -> AsyncConnectionPool:
    """A pool on the Django database's role and database, to be opened on the server's event loop.

    ``deferred_commit``: the pool's sessions commit with ``synchronous_commit = off`` — for the
    writes that precede an exchange's log entry (nonce, 符号 issuance, access log). They are
    durable by the time the reply leaves: the log entry's own commit (on the log pool, with the
    server's setting) flushes the write-ahead log up to its commit record, which comes after
    theirs. A reply is never sent before that commit, so nothing a reply depends on can be lost.

    ``tenant``: every session of the pool is bound to this 団体 from its start (``moyai.tenant``
    set by the connection's start-up options, as ``tenant_scope`` sets it per transaction), so
    row-level security confines the pool to that 団体's rows for the connections' whole life. A
    pool without it sees no 団体's rows unless a transaction sets one (fails closed).

    ``generic_plans``: prepared statements always run their generic plan
    (``plan_cache_mode = force_generic_plan``). For the registry's statements, whose generic plans
    are tested to read by index: PostgreSQL's own choice kept planning the batched statement for
    its values, about 1.5–2.4 ms of the server's CPU per statement (measured; 0.7 ms with the
    generic plan for a batch of one).
    """
    kwargs = conninfo(db)
    settings = ["-c synchronous_commit=off"] if deferred_commit else []
    if generic_plans:
        settings.append("-c plan_cache_mode=force_generic_plan")
    if tenant is not None:
        if not TENANT_CODE.fullmatch(tenant):
            raise ValueError(f"団体コードが正しくありません: {tenant!r}")
        settings.append(f"-c {GUC}={tenant}")
    if settings:
        kwargs["options"] = " ".join(filter(None, [kwargs.get("options"), *settings]))
    pool: AsyncConnectionPool = AsyncConnectionPool("", kwargs=kwargs, min_size=min_size, max_size=max_size,
                                                    open=False, name=name, configure=_configure, timeout=POOL_WAIT)
    return pool


async def _configure(conn: AsyncConnection[Any]) -> None:
    """Each pool connection reads ``json``/``jsonb`` with orjson (the registry rows' states: a whole
    世帯's records per exchange; the standard library's parser was 7 % of the gateway process on
    a whole city's data, measured with py-spy). The values are the same objects either way."""
    set_json_loads(orjson.loads, conn)


class PgNonces:
    """The replay cache (``gateway_nonce``): an insert that the unique index lets through once.

    With ``codes``, :meth:`remember_and_translate` also looks the requester's 符号 up in the same
    statement (one round trip instead of two; see :class:`PgCodes`).
    """

    def __init__(self, pool: AsyncConnectionPool, window: dt.timedelta, *, purge_every: int = 1000,
                 codes: PgCodes | None = None) -> None:
        self.pool = pool
        self.window = window
        self.purge_every = purge_every
        self.codes = codes
        self._since_purge = 0

    async def _purge(self, conn: AsyncConnection[Any], now: dt.datetime, seen: int = 1) -> None:
        """Every ``purge_every`` nonces seen, delete those too old to be accepted anyway."""
        self._since_purge += seen
        if self._since_purge >= self.purge_every:
            self._since_purge = 0
            await conn.execute("DELETE FROM gateway_nonce WHERE seen_at < %s", [now - 2 * self.window])

    async def remember(self, requester: str, nonce: str, now: dt.datetime) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO gateway_nonce (requester, nonce, seen_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (requester, nonce) DO NOTHING", [requester, nonce, now])
            fresh = cur.rowcount == 1
            await self._purge(conn, now)
        return fresh

    async def remember_and_translate(self, requester: str, nonce: str, now: dt.datetime, code: str,
                                     to_org: str) -> tuple[bool, Callable[[], tuple[str | None, str | None]]]:
        """(the nonce is new, the requester's 符号 translated as :meth:`PgCodes.translate` would),
        in one statement. The translation is checked (re-derived) only when it is called, so a
        replayed or refused message costs nothing more than the lookup; it raises ``CodeError``
        exactly where ``translate`` would."""
        if self.codes is None:
            raise RuntimeError("remember_and_translate needs the 符号 table (codes)")
        codes = self.codes
        try:
            parse_code(code)
        except CodeError as exc:
            error = exc

            def malformed() -> tuple[str | None, str | None]:
                raise error

            return await self.remember(requester, nonce, now), malformed
        async with self.pool.connection() as conn:
            cur = await conn.execute(_REMEMBER_AND_TRANSLATE, [requester, nonce, now, to_org, requester, code])
            row = await cur.fetchone()
            await self._purge(conn, now)
        assert row is not None  # one row, whatever the lookup finds
        fresh, person_key, existing = bool(row[0]), row[1], row[2]
        return fresh, lambda: codes.checked(requester, code, person_key, existing)


class PgCodes:
    """符号 issuance and resolution over ``gateway_code`` (the derivation is :class:`CodeService`'s)."""

    def __init__(self, pool: AsyncConnectionPool, keys: KeyStore, *, issue_batch: int = 64) -> None:
        self.pool = pool
        self.keys = keys
        self._derive = CodeService(keys, MemoryCodeStore())  # only compute() and matches() are used
        #: the issuances of concurrent exchanges share a statement (``issue_batch`` 1: one each)
        #: (``issue_batch`` 1: as many statements at once as the pool has connections, as the reads do)
        self.issuer = _IssueBatcher(pool, max_batch=issue_batch,
                                    max_inflight=2 if issue_batch > 1 else pool.max_size)

    def summary(self) -> str:
        """The issuances so far, for the server's log at shutdown (counts only)."""
        return f"符号 issuance: {self.issuer.carried} in {self.issuer.statements} statements"

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
        return (None, None) if row is None else self.checked(org_id, code, row[0], row[1])

    def checked(self, org_id: str, code: str, person_key: Any, existing: Any) -> tuple[str | None, str | None]:
        """A looked-up (person key, provider's code): ``CodeError`` if the row does not re-derive."""
        if person_key is None:
            return None, None
        if not self._derive.matches(code, org_id, str(person_key)):
            raise CodeError("符号の対応表が鍵と一致しません（改ざんの可能性）")
        return str(person_key), None if existing is None else str(existing)

    async def code_for(self, org_id: str, person_key: str) -> str:
        """The organisation's 符号 for the person, issued now (with the current key) if it has none:
        one statement either way (:data:`_ISSUE_CODES`), shared with the issuances of other exchanges
        waiting at the same time. An exchange calls this for the provider's 符号 the first time a
        person is asked of it."""
        code = self._derive.compute(self.keys.current().id, org_id, person_key)
        found = await self.issuer.issue(org_id, code, person_key, _utcnow())
        if found is not None:
            return found
        # Issued by another process since this statement's snapshot, or the 符号 is another
        # person's: the stored row, read afresh, or the error
        stored = await self._one("SELECT code FROM gateway_code WHERE org_id = %s AND person_key = %s",
                                 [org_id, person_key])
        if stored is None:
            raise CodeError("この符号はすでに別の対応で発行されています")
        return stored


@dataclass(frozen=True)
class Prefetched:
    """The registry's rows read with the nonce (:meth:`PgRegistry.remember_and_read`) for the person
    the 符号 row named, not yet interpreted: used only once that row has been checked against the
    key and the person key is this one; otherwise dropped unread (no access-log entry, nothing
    released)."""

    person_key: str
    rows: list[tuple[Any, ...]]
    #: what the read was made for (checked against the fast path there): used only for the same
    items: frozenset[str]
    on: dt.date


@dataclass(frozen=True)
class _Waiting(Generic[R]):
    """Something a :class:`_Batcher` is to put in its next statement, and where its result goes."""

    future: asyncio.Future[R] = field(kw_only=True)


W = TypeVar("W", bound=_Waiting[Any])


class _Batcher(Generic[W, R]):
    """Concurrent callers' statements of one kind, run as one statement for all who are waiting.

    Each statement costs the gateway and the server a fixed price (psycopg's send and wait, the
    server's wake-up, bind, executor start and commit) far above its rows, and under load many
    callers wait for the same kind of statement at once. So they queue here, and up to
    ``max_inflight`` drain tasks each take what is waiting (:meth:`_take`: up to ``max_batch``) into
    one statement (:meth:`_run`) and hand every caller its own result. Alone, a caller waits for
    nothing but its own statement. A statement fails as a whole: every caller of it gets the error,
    as it would have got its own statement's.
    """

    def __init__(self, name: str, *, max_batch: int, max_inflight: int) -> None:
        self.name = name
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._queue: list[W] = []
        self._draining = 0
        #: the running drain tasks: the event loop keeps only weak references to tasks
        self._tasks: set[asyncio.Task[None]] = set()
        #: statements run and the callers they carried (for the server's summary and the tests)
        self.statements = 0
        self.carried = 0

    async def _submit(self, waiting: W) -> R:
        self._queue.append(waiting)
        if self._draining < self.max_inflight:
            self._draining += 1
            task = asyncio.get_running_loop().create_task(self._drain(), name=self.name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        result: R = await waiting.future
        return result

    def _take(self) -> list[W]:
        """The next batch: the oldest ``max_batch`` waiting."""
        batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        return batch

    async def _run(self, batch: list[W]) -> list[R]:
        """One statement for the batch: one result per caller, in the batch's order."""
        raise NotImplementedError

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._take()
                try:
                    results = await self._run(batch)
                except Exception as exc:  # each caller fails as its own statement would have
                    for q in batch:
                        if not q.future.done():
                            q.future.set_exception(exc)
                    continue
                except BaseException:  # shutdown: nobody is answered from this batch
                    for q in [*batch, *self._queue]:
                        q.future.cancel()
                    self._queue = []
                    raise
                self.statements += 1
                self.carried += len(batch)
                for q, result in zip(batch, results, strict=True):
                    if not q.future.done():
                        q.future.set_result(result)
        finally:
            self._draining -= 1


@dataclass(frozen=True)
class _Issue(_Waiting[str | None]):
    """One 符号 issuance waiting for :class:`_IssueBatcher`'s next statement."""

    org_id: str
    code: str
    person_key: str
    issued_at: dt.datetime


class _IssueBatcher(_Batcher[_Issue, str | None]):
    """The 符号 issuances of concurrent exchanges (a person's first contact with a provider) in one
    :data:`_ISSUE_CODES`: on a whole city's data one exchange in five was a first contact, each
    with a statement of its own (``docs/performance.md``, ninth round)."""

    def __init__(self, pool: AsyncConnectionPool, *, max_batch: int = 64, max_inflight: int = 2) -> None:
        super().__init__("code-issuance", max_batch=max_batch, max_inflight=max_inflight)
        self.pool = pool

    async def issue(self, org_id: str, code: str, person_key: str, issued_at: dt.datetime) -> str | None:
        """The stored code of (organisation, person): ``code`` if this issued it; None as in :data:`_ISSUE_CODES`."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        return await self._submit(_Issue(org_id, code, person_key, issued_at, future=future))

    async def _run(self, batch: list[_Issue]) -> list[str | None]:
        columns = [[q.org_id for q in batch], [q.code for q in batch], [q.person_key for q in batch],
                   [q.issued_at for q in batch]]
        async with self.pool.connection() as conn:
            cur = await conn.execute(_ISSUE_CODES, columns)
            found = {int(i): code for i, code in await cur.fetchall()}
        return [None if found.get(i) is None else str(found[i]) for i in range(1, len(batch) + 1)]


@dataclass(frozen=True)
class _Queued(_Waiting[list[tuple[Any, ...]]]):
    """One exchange waiting for :class:`_ReadBatcher`'s next statement."""

    requester: str
    nonce: str
    now: dt.datetime
    code: str
    to_org: str
    on: dt.date


class _ReadBatcher(_Batcher[_Queued, list[tuple[Any, ...]]]):
    """The nonce, 符号 lookup and registry read of concurrent exchanges of one 団体, in one statement.

    Each answered exchange needs one round trip before its reply (the nonce, the 符号 row and the
    person's rows), so the exchanges of one 団体 share a :data:`_BATCH_REMEMBER_TRANSLATE_READ`
    (:class:`_Batcher`: up to ``max_batch`` of them, one date, never one (requester, nonce) twice),
    and every exchange gets its own rows. With ``max_batch`` 1 (``--read-batch 1``) every exchange
    has a statement of its own, the same one. The rows are only what each statement returned;
    nothing is used before the caller checks the 符号 row (:meth:`PgRegistry.remember_and_read`).
    """

    def __init__(self, registry: PgRegistry, nonces: PgNonces, tenant_code: str, *, max_batch: int = 64,
                 max_inflight: int = 2) -> None:
        super().__init__(f"registry-reads-{tenant_code}", max_batch=max_batch, max_inflight=max_inflight)
        self.registry = registry
        self.nonces = nonces
        self.tenant_code = tenant_code

    async def read(self, requester: str, nonce: str, now: dt.datetime, code: str, to_org: str,
                   on: dt.date) -> list[tuple[Any, ...]]:
        """This exchange's rows of the statement: (source, 宛名番号 or person key, value), head first."""
        future: asyncio.Future[list[tuple[Any, ...]]] = asyncio.get_running_loop().create_future()
        return await self._submit(_Queued(requester, nonce, now, code, to_org, on, future=future))

    def _take(self) -> list[_Queued]:
        """The next batch: the oldest waiting exchange, then those after it of the same date whose
        nonce is not already in the batch (a second use of one nonce waits for the next statement,
        where the first one's row makes it a replay), up to ``max_batch``."""
        first = self._queue[0]
        batch: list[_Queued] = []
        rest: list[_Queued] = []
        seen: set[tuple[str, str]] = set()
        for q in self._queue:
            key = (q.requester, q.nonce)
            if len(batch) < self.max_batch and q.on == first.on and key not in seen:
                seen.add(key)
                batch.append(q)
            else:
                rest.append(q)
        self._queue = rest
        return batch

    async def _run(self, batch: list[_Queued]) -> list[list[tuple[Any, ...]]]:
        on = batch[0].on
        registry_sql, registry_params = selectors.exchange_record_statement(self.tenant_code, _PERSON_OF_QUEUED,
                                                                            [self.tenant_code], on)
        columns = [[q.requester for q in batch], [q.nonce for q in batch], [q.now for q in batch],
                   [q.code for q in batch], [q.to_org for q in batch]]
        pool = await self.registry._pool(self.tenant_code)
        async with pool.connection() as conn:
            cur = await conn.execute(_BATCH_REMEMBER_TRANSLATE_READ.format(registry=registry_sql),
                                     [*columns, *registry_params])
            fetched = await cur.fetchall()
            await self.nonces._purge(conn, max(q.now for q in batch), seen=len(batch))
        rows: dict[int, list[tuple[Any, ...]]] = {}
        for row in fetched:
            rows.setdefault(int(row[0]), []).append(tuple(row[1:]))
        return [rows.get(i, []) for i in range(1, len(batch) + 1)]


@functools.lru_cache(maxsize=1024)
def _held(items: frozenset[str]) -> frozenset[str]:
    """The 住民記録 items of a request's (expanded) items: the same few sets, asked twice per exchange."""
    return frozenset(i for i in items if i.startswith(RESIDENT_RECORD))


class PgRegistry:
    """The registry read on the pool (``selectors.exchange_record_async``), the full rules in a thread.

    A read the residents' asynchronous selector cannot answer alone (``full_rules``: 支援措置,
    抑止, a stale projection, a past date, 異動履歴) or that asks for no 住民記録 item is
    handed to ``fallback`` (the synchronous read model in a worker thread), which reads and logs
    it as before. Either way one access-log entry per answered read, in the 団体's scope.

    The reads run on one small pool per 団体, opened on its first read, whose sessions are bound
    to that 団体 (``make_pool(tenant=…)``): no ``BEGIN`` / ``set_config`` / ``COMMIT`` per read.
    """

    def __init__(self, db: Mapping[str, Any], fallback: RegistryPort, *, max_size: int = 8,
                 read_batch: int = 64) -> None:
        self.db = db
        self.fallback = fallback
        self.max_size = max_size
        #: the most exchanges :meth:`remember_and_read` puts in one statement (1: a statement each)
        self.read_batch = read_batch
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._batchers: dict[str, _ReadBatcher] = {}
        self._opening = asyncio.Lock()
        #: reads answered on the pool / handed to the fallback (for the benchmark and tests)
        self.fast = 0
        self.slow = 0

    async def _pool(self, tenant_code: str) -> AsyncConnectionPool:
        pool = self._pools.get(tenant_code)
        if pool is None:
            async with self._opening:
                pool = self._pools.get(tenant_code)
                if pool is None:
                    pool = make_pool(self.db, min_size=1, max_size=self.max_size, deferred_commit=True,
                                     tenant=tenant_code, name=f"moyai-gateway-registry-{tenant_code}",
                                     generic_plans=True)
                    await pool.open(wait=True, timeout=10)
                    self._pools[tenant_code] = pool
        return pool

    def summary(self) -> str:
        """The reads so far, for the server's log at shutdown (counts only)."""
        statements = sum(b.statements for b in self._batchers.values())
        exchanges = sum(b.carried for b in self._batchers.values())
        return (f"registry reads: {self.fast} on the pool, {self.slow} by the full rules; "
                f"{exchanges} in {statements} batched statements")

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()

    async def read(self, tenant_code: str, person_key: str, items: frozenset[str], on: dt.date,
                   actor: Principal, purpose: str, request_id: str = "") -> RegistryRead:
        """As :class:`RegistryPort`: the access-log entry is stored before this returns."""
        read, _ = await self._read(tenant_code, person_key, items, on, actor, purpose, request_id, defer_log=False)
        return read

    async def read_deferred(self, tenant_code: str, person_key: str, items: frozenset[str], on: dt.date,
                            actor: Principal, purpose: str, request_id: str = "",
                            prefetched: Prefetched | None = None) -> tuple[RegistryRead, PendingAccess | None]:
        """As :meth:`read`, but an access-log entry of a read on the pool comes back unstored, for
        :class:`GroupCommitLog` to store with the exchange's log entry (``append(access=…)``), in
        the same commit, before the reply. (A read handed to the fallback is logged there.)
        ``prefetched``: the rows :meth:`remember_and_read` read for this person, used instead of
        a round trip of its own."""
        return await self._read(tenant_code, person_key, items, on, actor, purpose, request_id, defer_log=True,
                                prefetched=prefetched)

    @staticmethod
    def _fast_path(items: frozenset[str], on: dt.date) -> bool:
        """Whether :func:`selectors.exchange_record_async` may answer these items as of ``on``."""
        held = _held(items)
        return bool(held) and not selectors.exchange_needs_full_rules(
            on, with_history=RESIDENT_RECORD + "move_history" in held)

    async def remember_and_read(self, nonces: PgNonces, requester: str, nonce: str, now: dt.datetime, code: str,
                                to_org: str, tenant_code: str, items: frozenset[str], on: dt.date,
                                ) -> tuple[bool, Callable[[], tuple[str | None, str | None]], Prefetched | None]:
        """:meth:`PgNonces.remember_and_translate` and, in the same statement, the registry read of
        the person the requester's 符号 names, for an exchange already allowed by the legal basis
        and answered by this data centre: one round trip instead of two. The person is read only
        if the nonce was new; the rows come back uninterpreted (:class:`Prefetched`) and count as
        read only when :meth:`read_deferred` uses them, after the 符号 row has been checked against
        the key. Items the pool cannot answer (history, a past date, none of the 住民記録) or a
        malformed 符号: the nonce and lookup alone, as before."""
        codes = nonces.codes
        if codes is None or not self._fast_path(items, on):
            fresh, translated = await nonces.remember_and_translate(requester, nonce, now, code, to_org)
            return fresh, translated, None
        try:
            parse_code(code)
        except CodeError:
            fresh, translated = await nonces.remember_and_translate(requester, nonce, now, code, to_org)
            return fresh, translated, None
        batcher = self._batchers.get(tenant_code)
        if batcher is None or batcher.nonces is not nonces:
            # read_batch 1: a statement per exchange, as many at once as the pool has connections
            batcher = self._batchers[tenant_code] = _ReadBatcher(
                self, nonces, tenant_code, max_batch=self.read_batch,
                max_inflight=2 if self.read_batch > 1 else self.max_size)
        rows = await batcher.read(requester, nonce, now, code, to_org, on)
        head = [r for r in rows if r[0] == "n"]
        assert len(head) == 1  # one row, whatever the lookup finds
        _, person_key, (inserted, existing) = head[0]
        fresh = int(inserted) == 1
        prefetched = Prefetched(str(person_key), [r for r in rows if r[0] != "n"], items, on) \
            if fresh and person_key is not None else None
        return fresh, lambda: codes.checked(requester, code, person_key, existing), prefetched

    async def _read(self, tenant_code: str, person_key: str, items: frozenset[str], on: dt.date, actor: Principal,
                    purpose: str, request_id: str, *, defer_log: bool,
                    prefetched: Prefetched | None = None) -> tuple[RegistryRead, PendingAccess | None]:
        held = _held(items)
        if held:
            if prefetched is not None and defer_log and prefetched.person_key == person_key \
                    and prefetched.items == items and prefetched.on == on:
                read = selectors.exchange_read_rows(prefetched.rows, tenant_code, person_key, on=on, actor=actor,
                                                    purpose=purpose, request_id=request_id)
            else:
                pool = await self._pool(tenant_code)
                async with pool.connection() as conn:
                    read = await selectors.exchange_record_async(
                        conn, tenant_code, person_key, on=on, actor=actor, purpose=purpose, request_id=request_id,
                        with_history=RESIDENT_RECORD + "move_history" in held, bound=True, defer_log=defer_log)
            if not read.found:
                self.fast += 1
                return (False, {}, sorted(items)), None
            if read.record is not None:
                self.fast += 1
                values, not_held = values_of(read.record, held, sorted(items - held))
                pending = None if read.access_log is None else PendingAccess(tenant_code, *read.access_log)
                return (True, values, not_held), pending
        self.slow += 1
        return await self.fallback.read(tenant_code, person_key, items, on, actor, purpose, request_id), None


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
        self._lock = _lock_key(log_id)
        #: the locked path's first round trip (log_id is checked by LogWriter above: [a-z0-9_.-] only)
        self._begin_lock_head = (f"BEGIN; SELECT pg_advisory_xact_lock({int(self._lock)}); "
                                 + _HEAD.replace("%s", f"'{log_id}'")).encode("ascii")
        self._queue: list[tuple[dict[str, Any], asyncio.Future[LogEntry]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: end of the last full checkpoint batch known to be stored (a lower bound)
        self._checkpointed_end = 0
        #: the entries this writer committed since that end, by seq: a checkpoint of a batch made
        #: only of them needs no read and no parse of the stored entries (which held the event loop
        #: for milliseconds every batch); entries another process wrote are read as before
        self._recent: dict[int, LogEntry] = {}
        #: the chain's end as this writer last wrote or found it: (seq, hash), (None, None) for an empty
        #: log; None when not known (start, after a failure): the next group reads it under the lock
        self._head: tuple[int | None, str | None] | None = None
        #: groups committed, their entries, those appended in one call, and the calls that found the
        #: head moved (for the benchmark's report and the tests)
        self.groups = 0
        self.grouped_entries = 0
        self.fast_groups = 0
        self.head_moved = 0
        self._locked_groups_left = 0

    async def append(self, **fields: Any) -> LogEntry:
        future: asyncio.Future[LogEntry] = asyncio.get_running_loop().create_future()
        self._queue.append((fields, future))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"log-writer-{self.log_id}")
        return await future

    def summary(self) -> str:
        """The groups so far, for the server's log at shutdown (counts only)."""
        return (f"group commit, log {self.log_id}: {self.grouped_entries} entries in {self.groups} groups, "
                f"{self.fast_groups} appended in one call, head found moved {self.head_moved} times")

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
        """Append a group: in one call from the head this writer knows (the common case: one round trip,
        which is the transaction), else in a transaction that reads the head under the lock (the first
        group, after a failure, when another writer moved the head, and when a checkpoint batch
        closes)."""
        if self._head is not None and self._locked_groups_left == 0:
            results = await self._write_fast(group)
            if results is not None:
                return results
        elif self._locked_groups_left > 0:
            self._locked_groups_left -= 1
        return await self._write_locked(group)

    def _prepare(self, group: list[dict[str, Any]], last: tuple[int | None, str | None]) -> _Prepared:
        writer = LogWriter(self.log_id, self.signer, batch_size=self.batch_size, clock=self.clock)
        if last[0] is not None:
            writer.next_seq, writer.head = last[0] + 1, str(last[1])
        prepared = _Prepared([], [], [], last)
        for queued in group:
            fields = dict(queued)
            access: PendingAccess | None = fields.pop("access", None)
            try:
                entry = writer.prepare(**fields)
            except (LogFormatError, ValueError) as exc:
                prepared.results.append(LogUnavailable(type(exc).__name__))
                continue
            writer.next_seq, writer.head = entry.seq + 1, entry.entry_hash
            prepared.results.append(entry)
            prepared.last = (entry.seq, entry.entry_hash)
            if access is not None:
                prepared.accesses.append((access.entry, access.atena))
            prepared.rows.append((entry.seq, entry.timestamp, entry.requester, entry.provider, entry.affair,
                                  entry.subject, entry.outcome,
                                  dt.date.fromisoformat(entry.disclose_after) if entry.disclose_after else None,
                                  entry.prev_hash, entry.entry_hash, entry.canonical().decode("utf-8")))
        return prepared

    def _append_args(self, prepared: _Prepared, last: tuple[int | None, str | None]) -> list[Any]:
        columns = [list(c) for c in zip(*prepared.rows, strict=True)]
        return [self.log_id, self._lock, last[0], last[1], *columns, *audit.entries_arrays(prepared.accesses)]

    def _closes_a_batch(self, last_seq: int | None) -> bool:
        """Whether a full checkpoint batch may be pending once the chain ends at ``last_seq``: only when
        the head is a batch past the end of the last checkpoint this process knows of (never ahead of
        the stored one)."""
        next_seq = 0 if last_seq is None else last_seq + 1
        return next_seq - self._checkpointed_end >= self.batch_size

    async def _write_fast(self, group: list[dict[str, Any]]) -> list[LogEntry | LogUnavailable] | None:
        """The group in one call from the remembered head; None (nothing written) when the stored head
        is elsewhere or a checkpoint batch would close."""
        assert self._head is not None
        last = self._head
        # the chain's end if every append becomes an entry (at most that): checked before the entries
        # are hashed, so that a group for the locked path is prepared once, there
        if self._closes_a_batch((-1 if last[0] is None else last[0]) + len(group)):
            return None
        prepared = self._prepare(group, last)
        if not prepared.rows:
            return prepared.results
        try:
            async with self.pool.connection() as conn:  # autocommit: the call is its own transaction
                cur = await conn.execute(_APPEND_GROUP, self._append_args(prepared, last))
                row = await cur.fetchone()
        except BaseException:
            self._head = None  # not known whether it committed (a lost connection): read it under the lock
            raise
        assert row is not None
        if not row[0]:  # not appended: another writer moved the head
            self.head_moved += 1
            self._head = None
            self._locked_groups_left = LOCKED_AFTER_MOVE
            return None
        self.fast_groups += 1
        self._committed(prepared, None)
        return prepared.results

    async def _write_locked(self, group: list[dict[str, Any]]) -> list[LogEntry | LogUnavailable]:
        checkpointed_end: int | None = None
        async with self.pool.connection() as conn:
            # BEGIN, the lock and the chain head as one simple query (three statements, one round trip;
            # the head's statement takes its snapshot after the lock is held). No pipeline: psycopg's
            # asynchronous wait polls the socket in a loop while a pipeline waits, holding the event
            # loop (docs/performance.md).
            cur = await conn.execute(self._begin_lock_head)
            try:
                if not (cur.nextset() and cur.nextset()):  # BEGIN's result, the lock's, then the head's
                    raise LogUnavailable("no chain head read")
                head = await cur.fetchone()
                last = (None, None) if head is None else (int(head[0]), str(head[1]))
                prepared = self._prepare(group, last)
                if prepared.rows:
                    cur = await conn.execute(_APPEND_GROUP, self._append_args(prepared, last))
                    row = await cur.fetchone()
                    if row is None or not row[0]:  # the lock is held: the head cannot have moved
                        raise LogUnavailable("chain head moved under the lock")
                    if self._closes_a_batch(prepared.last[0]):
                        try:
                            async with conn.transaction():  # a savepoint: the transaction is ours
                                _, checkpointed_end = await self._close_batches(
                                    conn, partial=False, head_seq=0 if prepared.last[0] is None else prepared.last[0] + 1,
                                    fresh={r.seq: r for r in prepared.results if isinstance(r, LogEntry)})
                        except Exception:  # the entries stand; the next group (or checkpoint_now) retries
                            checkpointed_end = None
                            log.exception("チェックポイントを作成できませんでした（ログ %s）", self.log_id)
                done = await conn.execute("COMMIT")
                if done.statusmessage != "COMMIT":  # PostgreSQL ends an aborted transaction with ROLLBACK
                    raise LogUnavailable(f"transaction ended with {done.statusmessage}")
            except BaseException:
                self._head = None
                if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                    await conn.execute("ROLLBACK")
                raise
        self._committed(prepared, checkpointed_end)
        return prepared.results

    def _committed(self, prepared: _Prepared, checkpointed_end: int | None) -> None:
        committed = [r for r in prepared.results if isinstance(r, LogEntry)]
        self._head = prepared.last
        if checkpointed_end is not None:
            self._checkpointed_end = checkpointed_end
        self._recent.update((e.seq, e) for e in committed)
        if self._recent and (len(self._recent) > 4 * self.batch_size or checkpointed_end is not None):
            # keep what a pending checkpoint may need, never more than four batches (a failing
            # checkpoint must not make this grow: such a batch is read back instead)
            floor = max(self._checkpointed_end, max(self._recent) + 1 - 4 * self.batch_size)
            self._recent = {seq: e for seq, e in self._recent.items() if seq >= floor}
        self.groups += 1
        self.grouped_entries += len(committed)

    async def checkpoint_now(self) -> int:
        """Close every full batch and the partial one (a timer, shutdown); checkpoints written."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(self.log_id)])
            made, _ = await self._close_batches(conn, partial=True, head_seq=None)
        return made

    async def _close_batches(self, conn: AsyncConnection[Any], *, partial: bool, head_seq: int | None,
                             fresh: Mapping[int, LogEntry] | None = None) -> tuple[int, int]:
        """(checkpoints made, the end of the last full checkpoint). ``fresh``: the entries being
        committed in this transaction, by seq (with ``_recent``, what need not be read back)."""
        fresh = fresh or {}
        cur = await conn.execute("SELECT batch, first_seq, size FROM gateway_checkpoint WHERE log_id = %s "
                                 "ORDER BY batch DESC LIMIT 1", [self.log_id])
        last_cp = await cur.fetchone()
        batch, end = (int(last_cp[0]) + 1, int(last_cp[1]) + int(last_cp[2])) if last_cp else (0, 0)
        if head_seq is not None and not partial and head_seq - end < self.batch_size:
            return 0, end  # no full batch yet: nothing to read
        made = 0
        while True:
            known = [self._recent.get(seq) or fresh.get(seq) for seq in range(end, end + self.batch_size)]
            entries: list[LogEntry]
            if not partial and all(e is not None for e in known):
                entries = [e for e in known if e is not None]  # all committed by this writer
            else:
                cur = await conn.execute("SELECT canonical FROM gateway_logentry WHERE log_id = %s AND seq >= %s "
                                         "AND seq < %s ORDER BY seq", [self.log_id, end, end + self.batch_size])
                texts = [str(r[0]) for r in await cur.fetchall()]
                entries = [LogEntry.from_canonical(t.encode("utf-8")) for t in texts]
            if not entries or (len(entries) < self.batch_size and not partial):
                return made, end
            cp = make_checkpoint(self.log_id, batch, entries, self.signer, self.clock())
            await conn.execute(
                "INSERT INTO gateway_checkpoint (log_id, batch, first_seq, size, root, head, document) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [self.log_id, cp.batch, cp.first_seq, cp.size, cp.root, cp.head,
                 json.dumps(cp.to_json(), sort_keys=True)])
            made += 1
            if len(entries) < self.batch_size:  # a partial batch (checkpoint_now): not a full one's end
                return made, end
            batch, end = batch + 1, cp.end
