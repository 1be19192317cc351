"""The exchange log in the database: appended durably, checkpointed, and every tampering located."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from moyai.gateway.domain.keystore import MemoryKeyStore
from moyai.gateway.domain.log import Outcome, Problem, body_digest
from moyai.gateway.domain.signing import Ed25519Signer, KeyStoreVerifier
from moyai.gateway.models import GatewayCheckpoint, GatewayLogEntry
from moyai.gateway.store import LogStore, LogUnavailable, verify_log_command, verify_stored_log

LOG = "dc-a"
BATCH = 4
SUBJECT = "k0001." + "a" * 32
PG = connection.vendor == "postgresql"


def ticking() -> Callable[[], dt.datetime]:
    t = [dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)]

    def clock() -> dt.datetime:
        t[0] += dt.timedelta(seconds=1)
        return t[0]

    return clock


@pytest.fixture
def keys() -> MemoryKeyStore:
    ks = MemoryKeyStore()
    ks.rotate()
    return ks


@pytest.fixture
def store(db: None, keys: MemoryKeyStore) -> LogStore:
    return LogStore(LOG, Ed25519Signer(keys.current()), batch_size=BATCH, clock=ticking())


def _append(store: LogStore, n: int) -> None:
    for i in range(n):
        store.append(requester="kenpo-midori", provider="352152", affair="HI-01",
                     items=["resident_record.address"], outcome=Outcome.PROVIDED,
                     request_digest=body_digest(f"req {i}".encode()), response_digest=body_digest(f"res {i}".encode()),
                     basis_id="LB-0001", subject=SUBJECT, message_id=f"m{i}")


def _verify(keys: MemoryKeyStore) -> tuple[bool, str]:
    return verify_log_command(LOG, KeyStoreVerifier(keys))


@pytest.fixture
def tamper() -> Iterator[Callable[[str, list[Any]], None]]:
    """Run raw SQL on the log tables with their append-only triggers dropped (inside the test's transaction)."""
    dropped = False

    def run(sql: str, params: list[Any]) -> None:
        nonlocal dropped
        with connection.cursor() as cur:
            if not dropped:
                if PG:
                    cur.execute(f'SET ROLE "{settings.PG_OWNER_ROLE}"')
                    for t in ("gateway_logentry", "gateway_checkpoint"):
                        cur.execute(f'DROP TRIGGER "{t}_append_only" ON "{t}"')
                else:
                    for t in ("gateway_logentry", "gateway_checkpoint"):
                        cur.execute(f'DROP TRIGGER "{t}_no_update"')
                        cur.execute(f'DROP TRIGGER "{t}_no_delete"')
                dropped = True
            cur.execute(sql, params)

    yield run
    if PG and dropped:
        with connection.cursor() as cur:
            cur.execute(f'SET ROLE "{settings.PG_APP_ROLE}"')


def test_entries_are_stored_in_order_with_a_checkpoint_every_batch(store: LogStore, keys: MemoryKeyStore) -> None:
    _append(store, 10)
    rows = list(GatewayLogEntry.objects.order_by("seq").values_list("seq", "prev_hash", "entry_hash"))
    assert [r[0] for r in rows] == list(range(10))
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, 10))
    assert list(GatewayCheckpoint.objects.order_by("batch").values_list("batch", "first_seq", "size")) == [
        (0, 0, 4), (1, 4, 4)]
    assert _verify(keys) == (True, "情報連携ログ dc-a: ログは改ざんされていません: 10 件、チェックポイント 2 件"
                                   "（うち最後の 2 件は次のチェックポイント待ち）")
    assert store.checkpoint_now() == 1
    assert list(GatewayCheckpoint.objects.order_by("batch").values_list("first_seq", "size"))[-1] == (8, 2)
    _append(store, 3)  # continues after the partial batch
    assert list(GatewayCheckpoint.objects.order_by("batch").values_list("first_seq", "size"))[-1] == (8, 2)
    store.checkpoint_now()
    assert list(GatewayCheckpoint.objects.order_by("batch").values_list("first_seq", "size"))[-1] == (10, 3)
    result = verify_stored_log(LOG, KeyStoreVerifier(keys))
    assert (result.ok, result.entries_checked, result.checkpoints_checked, result.unanchored) == (True, 13, 4, 0)


def test_a_second_store_continues_the_chain_of_the_first(store: LogStore, keys: MemoryKeyStore) -> None:
    _append(store, 3)
    other = LogStore(LOG, Ed25519Signer(keys.current()), batch_size=BATCH, clock=ticking())
    _append(other, 3)
    assert list(GatewayLogEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(range(6))
    assert _verify(keys)[0] is True


def test_append_inside_another_transaction_is_refused(store: LogStore) -> None:
    """The entry must be committed when append returns: it cannot be part of a caller's transaction."""
    with transaction.atomic(), pytest.raises(RuntimeError):
        _append(store, 1)


def test_an_entry_that_cannot_be_written_raises_log_unavailable_and_leaves_nothing(
        store: LogStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _append(store, 2)

    def fail(*args: object, **kwargs: object) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(GatewayLogEntry, "save", fail)
    with pytest.raises(LogUnavailable, match="再送してください"):
        _append(store, 1)
    monkeypatch.undo()
    assert GatewayLogEntry.objects.count() == 2
    _append(store, 1)  # the same seq is used again
    assert list(GatewayLogEntry.objects.order_by("seq").values_list("seq", flat=True)) == [0, 1, 2]


def test_a_failed_checkpoint_does_not_cost_the_entry_and_is_made_later(
        store: LogStore, keys: MemoryKeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _append(store, 3)

    def fail(*args: object, **kwargs: object) -> None:
        raise DatabaseError("checkpoint table locked")

    monkeypatch.setattr(GatewayCheckpoint, "save", fail)
    _append(store, 1)  # fills the batch; the checkpoint fails
    monkeypatch.undo()
    assert (GatewayLogEntry.objects.count(), GatewayCheckpoint.objects.count()) == (4, 0)
    _append(store, 1)
    assert list(GatewayCheckpoint.objects.values_list("first_seq", "size")) == [(0, 4)]
    assert _verify(keys)[0] is True


def test_the_tables_refuse_update_and_delete(store: LogStore) -> None:
    _append(store, 4)
    for action in (lambda: GatewayLogEntry.objects.filter(seq=1).update(outcome="refused"),
                   lambda: GatewayLogEntry.objects.filter(seq=1).delete(),
                   lambda: GatewayCheckpoint.objects.all().delete()):
        with pytest.raises(DatabaseError), transaction.atomic():
            action()
    assert GatewayLogEntry.objects.count() == 4


def _edit_json(seq: int, **changes: object) -> tuple[str, list[Any]]:
    row = GatewayLogEntry.objects.get(seq=seq)
    data = json.loads(row.canonical)
    data.update(changes)
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "UPDATE gateway_logentry SET canonical = %s WHERE seq = %s", [text, seq]


def _recomputed(seq: int, **changes: object) -> tuple[str, list[Any]]:
    """Edit an entry and recompute its entry_hash (what a careful attacker does)."""
    import hashlib

    row = GatewayLogEntry.objects.get(seq=seq)
    data = json.loads(row.canonical)
    data.update(changes)
    body = {k: v for k, v in data.items() if k != "entry_hash"}
    data["entry_hash"] = hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True,
                                                   separators=(",", ":")).encode()).hexdigest()
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "UPDATE gateway_logentry SET canonical = %s, entry_hash = %s WHERE seq = %s", [text, data["entry_hash"], seq]


@pytest.mark.parametrize(("case", "first_bad", "problem"), [
    ("edit_json", 5, Problem.EDITED),
    ("edit_recomputed_in_checkpoint", 2, Problem.EDITED),
    ("edit_column_only", 6, Problem.EDITED),
    ("delete", 3, Problem.DELETED),
    ("reorder", 1, Problem.REORDERED),
    ("truncate", 6, Problem.TRUNCATED),
    ("forged_checkpoint_signature", 4, Problem.FORGED_CHECKPOINT),
    ("forged_checkpoint_root", 0, Problem.FORGED_CHECKPOINT),
    ("deleted_checkpoint", 0, Problem.MISSING_CHECKPOINT),
    ("garbage", 7, Problem.MALFORMED),
])
def test_tampering_is_detected_and_the_first_bad_entry_named(
        store: LogStore, keys: MemoryKeyStore, tamper: Callable[[str, list[Any]], None],
        case: str, first_bad: int, problem: Problem) -> None:
    _append(store, 10)  # checkpoints over 0–3 and 4–7; 8, 9 unanchored
    assert _verify(keys)[0] is True
    if case == "edit_json":
        tamper(*_edit_json(5, requester="pension-01"))
    elif case == "edit_recomputed_in_checkpoint":
        tamper(*_recomputed(2, outcome="refused"))
    elif case == "edit_column_only":
        tamper("UPDATE gateway_logentry SET subject = %s WHERE seq = %s", ["k0001." + "b" * 32, 6])
    elif case == "delete":
        tamper("DELETE FROM gateway_logentry WHERE seq = %s", [3])
    elif case == "reorder":
        a, b = (GatewayLogEntry.objects.get(seq=s).canonical for s in (1, 2))
        tamper("UPDATE gateway_logentry SET canonical = %s WHERE seq = %s", [b, 1])
        tamper("UPDATE gateway_logentry SET canonical = %s WHERE seq = %s", [a, 2])
    elif case == "truncate":
        tamper("DELETE FROM gateway_logentry WHERE seq >= %s", [6])
    elif case == "forged_checkpoint_signature":
        doc = json.loads(GatewayCheckpoint.objects.get(batch=1).document)
        doc["signature"] = "00" * 64
        tamper("UPDATE gateway_checkpoint SET document = %s WHERE batch = %s", [json.dumps(doc), 1])
    elif case == "forged_checkpoint_root":
        doc = json.loads(GatewayCheckpoint.objects.get(batch=0).document)
        doc["root"] = "0" * 64
        tamper("UPDATE gateway_checkpoint SET document = %s WHERE batch = %s", [json.dumps(doc), 0])
    elif case == "deleted_checkpoint":
        tamper("DELETE FROM gateway_checkpoint WHERE batch = %s", [0])
    elif case == "garbage":
        tamper("UPDATE gateway_logentry SET canonical = %s WHERE seq = %s", ['{"v": 1}', 7])
    result = verify_stored_log(LOG, KeyStoreVerifier(keys))
    assert (result.ok, result.first_bad_seq, result.problem) == (False, first_bad, problem), result.reason_ja
    ok, message = _verify(keys)
    assert not ok
    assert f"最初の不正な項目は seq {first_bad}（{problem}）" in message


def test_a_log_signed_with_another_key_does_not_verify(store: LogStore) -> None:
    _append(store, 4)
    stranger = MemoryKeyStore()
    stranger.rotate()
    ok, message = verify_log_command(LOG, KeyStoreVerifier(stranger))
    assert not ok and "seq 0（forged_checkpoint）" in message
