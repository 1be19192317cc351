"""The asynchronous PostgreSQL ports: group-commit log, nonces, 符号 — same rows as the synchronous classes.

Each test uses a log id of its own: what the pool commits is outside the test's transaction and
the log tables are append-only, so nothing is cleaned up (the test database is dropped at the end).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from django.db import connection

from moyai.gateway.codestore import DbCodeStore
from moyai.gateway.domain.codes import CodeError, CodeService
from moyai.gateway.domain.keystore import MemoryKeyStore
from moyai.gateway.domain.log import Outcome, body_digest
from moyai.gateway.domain.signing import Ed25519Signer, KeyStoreVerifier
from moyai.gateway.models import GatewayCheckpoint, GatewayLogEntry
from moyai.gateway.store import LogStore, LogUnavailable, verify_stored_log
from tests.fixtures import KUDAMATSU, SHUNAN, World

PG = os.environ.get("MOYAI_DB") == "postgresql"
pytestmark = [pytest.mark.postgresql, pytest.mark.skipif(not PG, reason="psycopg async pool: MOYAI_DB=postgresql"),
              pytest.mark.django_db(transaction=False)]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def fields(i: int) -> dict[str, Any]:
    return {"requester": "kenpo-midori", "provider": "352152", "affair": "HI-01", "items": ["resident_record.name"],
            "outcome": Outcome.REFUSED, "request_digest": body_digest(f"request {i}".encode()),
            "response_digest": body_digest(f"response {i}".encode()), "message_id": f"m{i}"}


@pytest.fixture
def log_keys() -> MemoryKeyStore:
    keys = MemoryKeyStore()
    keys.rotate()
    return keys


async def with_pool(body: Any) -> Any:
    from moyai.gateway.server.pg import make_pool

    pool = make_pool(connection.settings_dict, min_size=1, max_size=8)
    await pool.open(wait=True, timeout=10)
    try:
        return await body(pool)
    finally:
        await pool.close()


def test_concurrent_appends_are_committed_in_groups_and_the_log_verifies(log_keys: MemoryKeyStore) -> None:
    from moyai.gateway.server.pg import GroupCommitLog

    log_id = f"t-{secrets.token_hex(4)}"

    async def body(pool: Any) -> tuple[list[int], int]:
        writer = GroupCommitLog(pool, log_id, Ed25519Signer(log_keys.current()), batch_size=8)
        entries = await asyncio.gather(*(writer.append(**fields(i)) for i in range(50)))
        await writer.checkpoint_now()
        await writer.close()
        return [e.seq for e in entries], writer.groups

    seqs, groups = run(with_pool(body))
    assert sorted(seqs) == list(range(50))
    assert groups < 50  # several entries shared one commit
    assert GatewayLogEntry.objects.filter(log_id=log_id).count() == 50
    assert list(GatewayCheckpoint.objects.filter(log_id=log_id).order_by("batch").values_list("size", flat=True)) \
        == [8, 8, 8, 8, 8, 8, 2]
    result = verify_stored_log(log_id, KeyStoreVerifier(log_keys))
    assert result.ok, result.reason_ja
    assert (result.entries_checked, result.unanchored) == (50, 0)


def test_a_failed_checkpoint_rolls_back_to_its_savepoint_and_the_group_s_entries_stand(
        log_keys: MemoryKeyStore) -> None:
    """The group's transaction is begun by hand (with the lock, one round trip); the checkpoint
    inside it is a savepoint: when it fails, the entries are still committed, and the next group
    makes the checkpoint."""
    from moyai.gateway.server.pg import GroupCommitLog

    log_id = f"t-{secrets.token_hex(4)}"

    class CheckpointFailsOnce(GroupCommitLog):
        """The first checkpoint meets an error of the database (the transaction is aborted)."""

        failed = False

        async def _close_batches(self, conn: Any, **kwargs: Any) -> tuple[int, int]:
            if not self.failed:
                self.failed = True
                await conn.execute("SELECT 1 / 0")
            return await super()._close_batches(conn, **kwargs)

    async def body(pool: Any) -> tuple[list[int], int]:
        writer = CheckpointFailsOnce(pool, log_id, Ed25519Signer(log_keys.current()), batch_size=4)
        first = [await writer.append(**fields(i)) for i in range(4)]  # the 4th closes batch 0: fails
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM gateway_checkpoint WHERE log_id = %s", [log_id])
            stored_before = (await cur.fetchone())[0]
        second = [await writer.append(**fields(i)) for i in range(4, 6)]  # the next group makes it
        await writer.close()
        return [e.seq for e in first + second], stored_before

    seqs, stored_before = run(with_pool(body))
    batches = list(GatewayCheckpoint.objects.filter(log_id=log_id).order_by("batch").values_list("batch", flat=True))
    assert seqs == list(range(6))
    assert stored_before == 0
    assert batches == [0]
    assert GatewayLogEntry.objects.filter(log_id=log_id).count() == 6
    result = verify_stored_log(log_id, KeyStoreVerifier(log_keys))
    assert result.ok, result.reason_ja
    assert (result.entries_checked, result.unanchored) == (6, 2)


def test_the_synchronous_store_and_the_group_commit_writer_continue_one_chain(log_keys: MemoryKeyStore) -> None:
    """``/soap`` (LogStore, ORM) and ``/exchange`` (GroupCommitLog) append to the same log."""
    from moyai.gateway.server.pg import GroupCommitLog

    log_id = f"t-{secrets.token_hex(4)}"
    signer = Ed25519Signer(log_keys.current())
    sync_store = LogStore(log_id, signer, batch_size=4)

    async def body(pool: Any) -> tuple[int, int, int]:
        writer = GroupCommitLog(pool, log_id, signer, batch_size=4)
        for i in range(3):
            await writer.append(**fields(i))
            # the ORM's append commits on its own connection (durable=True needs no outer transaction)
            await asyncio.to_thread(_sync_append, sync_store, 100 + i)
        await writer.close()
        return writer.groups, writer.fast_groups, writer.head_moved

    counts = run(with_pool(body))
    result = verify_stored_log(log_id, KeyStoreVerifier(log_keys))
    assert result.ok, result.reason_ja
    assert result.entries_checked == 6
    # the first group read the head under the lock; the second was tried in one call from the head it
    # wrote, which found the synchronous store's entry after it and wrote nothing: the locked path; the
    # third went straight to the locked path (LOCKED_AFTER_MOVE)
    assert counts == (3, 0, 1)
    assert list(GatewayLogEntry.objects.filter(log_id=log_id).order_by("seq").values_list("seq", flat=True)) == \
        list(range(6))


@pytest.mark.django_db(transaction=True)  # the pool's connections see only committed rows (the 団体)
def test_after_its_first_group_a_writer_appends_a_group_in_one_call(log_keys: MemoryKeyStore, flush_as_owner: None,
                                                                    world: World) -> None:
    """``gateway_append_group`` from the head the writer wrote last: no read of the head, one round trip;
    the access-log entries of the group's reads are stored with it, each 団体's in its scope."""
    from moyai.gateway.server.pg import GroupCommitLog
    from moyai.gateway.server.ports import PendingAccess
    from moyai.platform.audit import services as audit
    from moyai.platform.audit.models import AccessLog
    from moyai.platform.tenancy.scope import tenant_scope

    log_id = f"t-{secrets.token_hex(4)}"
    clerk = type("Gateway", (), {"label": "gateway:test", "kind": "system"})()

    def access(i: int, tenant: str) -> PendingAccess:
        entry, atena = audit.new_entry(clerk, "gateway.provide", [f"{i:010d}"], tenant_code=tenant,
                                       request_id=f"{log_id}-{i}")
        return PendingAccess(tenant_code=tenant, entry=entry, atena=atena)

    async def body(pool: Any) -> tuple[int, int, int]:
        writer = GroupCommitLog(pool, log_id, Ed25519Signer(log_keys.current()), batch_size=1000)
        for i in range(5):
            await writer.append(**fields(i), access=access(i, SHUNAN if i % 2 else KUDAMATSU))
        await writer.close()
        return writer.groups, writer.fast_groups, writer.head_moved

    assert run(with_pool(body)) == (5, 4, 0)
    assert list(GatewayLogEntry.objects.filter(log_id=log_id).order_by("seq").values_list("seq", flat=True)) == \
        list(range(5))
    for tenant, expected in ((SHUNAN, [1, 3]), (KUDAMATSU, [0, 2, 4])):
        with tenant_scope(tenant):
            stored = AccessLog.objects.filter(request_id__startswith=log_id).values_list("request_id", flat=True)
            assert sorted(stored) == [f"{log_id}-{i}" for i in expected]
    result = verify_stored_log(log_id, KeyStoreVerifier(log_keys))
    assert result.ok, result.reason_ja


def test_two_writers_on_one_log_at_once_keep_one_chain(log_keys: MemoryKeyStore) -> None:
    """Two processes' writers (here two instances) append concurrently: each finds the other's entries
    after its remembered head, appends under the lock instead, and the log verifies with every entry."""
    from moyai.gateway.server.pg import GroupCommitLog

    log_id = f"t-{secrets.token_hex(4)}"
    signer = Ed25519Signer(log_keys.current())

    async def body(pool: Any) -> tuple[list[int], int]:
        one = GroupCommitLog(pool, log_id, signer, batch_size=16)
        two = GroupCommitLog(pool, log_id, signer, batch_size=16)

        async def appends(writer: GroupCommitLog, base: int) -> list[int]:
            seqs = []
            for i in range(30):
                seqs.append((await writer.append(**fields(base + i))).seq)
            return seqs

        first, second = await asyncio.gather(appends(one, 0), appends(two, 1000))
        await one.checkpoint_now()
        await one.close()
        await two.close()
        return first + second, one.head_moved + two.head_moved

    seqs, moved = run(with_pool(body))
    assert sorted(seqs) == list(range(60))
    assert moved > 0  # the race happened: a head was found moved at least once
    result = verify_stored_log(log_id, KeyStoreVerifier(log_keys))
    assert result.ok, result.reason_ja
    assert (result.entries_checked, result.unanchored) == (60, 0)


def _sync_append(store: LogStore, i: int) -> None:
    from django.db import connections

    try:
        store.append(**fields(i))
    finally:
        connections.close_all()


def test_when_the_database_cannot_be_reached_every_waiting_append_fails_and_nothing_is_stored(
        log_keys: MemoryKeyStore) -> None:
    from moyai.gateway.server.pg import GroupCommitLog, make_pool

    log_id = f"t-{secrets.token_hex(4)}"

    async def body() -> list[BaseException | Any]:
        settings = {**connection.settings_dict, "PORT": "1"}  # nothing listens there
        pool = make_pool(settings, min_size=0, max_size=1)
        pool.timeout = 1.0
        await pool.open(wait=False)
        writer = GroupCommitLog(pool, log_id, Ed25519Signer(log_keys.current()))
        try:
            return await asyncio.gather(*(writer.append(**fields(i)) for i in range(3)), return_exceptions=True)
        finally:
            await writer.close()
            await pool.close()

    results = run(body())
    assert all(isinstance(r, LogUnavailable) for r in results), results
    assert "再送" in str(results[0])
    assert GatewayLogEntry.objects.filter(log_id=log_id).count() == 0


def test_nonces_and_codes_on_the_pool_are_the_rows_of_the_synchronous_classes() -> None:
    from moyai.gateway.server.pg import PgCodes, PgNonces

    keys = MemoryKeyStore()
    keys.rotate()
    org, person = f"org-{secrets.token_hex(3)}", f"p{secrets.token_hex(5)}"
    now = dt.datetime.now(dt.UTC)

    async def body(pool: Any) -> tuple[bool, bool, str, str, str | None, str | None]:
        nonces, codes = PgNonces(pool, dt.timedelta(minutes=5)), PgCodes(pool, keys)
        nonce = secrets.token_hex(16)
        first, again = await nonces.remember(org, nonce, now), await nonces.remember(org, nonce, now)
        issued = await codes.code_for(org, person)
        return (first, again, issued, await codes.code_for(org, person), await codes.resolve(org, issued),
                await codes.resolve("another-org", issued))

    first, again, issued, same, resolved, elsewhere = run(with_pool(body))
    assert (first, again) == (True, False)
    assert same == issued and resolved == person and elsewhere is None

    async def later(pool: Any) -> tuple[str, str, str]:
        codes = PgCodes(pool, keys)
        keys.rotate()  # a person already known keeps the 符号 issued with the older key
        kept, newcomer = await codes.code_for(org, person), await codes.code_for(org, person + "n")
        # a row that gives a third person's 符号 to somebody else: that 符号 is not issued twice
        taken = codes._derive.compute(keys.current().id, org, person + "t")
        async with pool.connection() as conn:
            await conn.execute("INSERT INTO gateway_code (org_id, code, person_key, issued_at) VALUES (%s, %s, %s, %s)",
                               [org, taken, person + "x", now])
        try:
            await codes.code_for(org, person + "t")
        except CodeError as exc:
            return kept, newcomer, str(exc)
        return kept, newcomer, "issued"

    kept, newcomer, refused = run(with_pool(later))
    assert kept == issued and newcomer != issued and newcomer.split(".")[0] != issued.split(".")[0]
    assert refused == "この符号はすでに別の対応で発行されています"
    # the synchronous code service reads the very row and derives the very code
    assert CodeService(keys, DbCodeStore()).code_for(org, person) == issued



def test_concurrent_issuances_share_a_statement_and_each_gets_its_person_s_one_code() -> None:
    """Twelve first contacts at once, in one batch: new persons, one person asked three times, one
    already known with an older key's 符号, and one whose 符号 is already another person's. Each
    gets what it would have got alone; the statements are fewer than the issuances."""
    from moyai.gateway.server.pg import PgCodes

    keys = MemoryKeyStore()
    keys.rotate()
    org = f"org-{secrets.token_hex(3)}"
    known, taken = f"known-{secrets.token_hex(3)}", f"taken-{secrets.token_hex(3)}"
    fresh = [f"fresh-{i}-{secrets.token_hex(3)}" for i in range(7)]
    now = dt.datetime.now(dt.UTC)

    async def body(pool: Any) -> tuple[list[str | BaseException], str, tuple[int, int]]:
        codes = PgCodes(pool, keys)
        old = await codes.code_for(org, known)
        keys.rotate()
        async with pool.connection() as conn:  # the 符号 `taken` would get, already somebody else's
            await conn.execute("INSERT INTO gateway_code (org_id, code, person_key, issued_at) VALUES (%s, %s, %s, %s)",
                               [org, codes._derive.compute(keys.current().id, org, taken), "somebody", now])
        before = (codes.issuer.statements, codes.issuer.carried)
        asked = [*fresh, fresh[0], known, taken, fresh[0]]
        results = await asyncio.gather(*(codes.code_for(org, p) for p in asked), return_exceptions=True)
        return list(results), old, (codes.issuer.statements - before[0], codes.issuer.carried - before[1])

    results, old, (statements, carried) = run(with_pool(body))
    derive = CodeService(keys, DbCodeStore())
    assert results[:7] == [derive.compute(keys.current().id, org, p) for p in fresh]
    assert results[7] == results[10] == results[0]  # one person asked three times: one code
    assert results[8] == old  # issued with the older key: that one stays
    assert isinstance(results[9], CodeError) and str(results[9]) == "この符号はすでに別の対応で発行されています"
    assert (statements, carried) == (1, 11)  # all were waiting when the first statement went
    stored = dict(code_rows(org))
    assert stored == {**{p: derive.compute(keys.current().id, org, p) for p in fresh}, known: old,
                      "somebody": derive.compute(keys.current().id, org, taken)}


def code_rows(org: str) -> list[tuple[str, str]]:
    from moyai.gateway.models import GatewayCode

    return list(GatewayCode.objects.filter(org_id=org).values_list("person_key", "code"))
