"""The tamper-evident exchange log: tampering is detected and the first bad entry named (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moyai.gateway.domain import canonical
from moyai.gateway.domain.keystore import Key, MemoryKeyStore
from moyai.gateway.domain.log import (
    Checkpoint,
    LogEntry,
    LogFormatError,
    LogStateError,
    LogWriter,
    Outcome,
    Problem,
    VerifyResult,
    body_digest,
    genesis_hash,
    inclusion_proof,
    make_checkpoint,
    verify,
    verify_entry,
    verify_inclusion,
)
from moyai.gateway.domain.signing import HS256, HmacSigner, KeyStoreVerifier

LOG_ID = "dc-a"
BATCH = 4


def clock() -> Iterator[dt.datetime]:
    t = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    while True:
        yield t
        t += dt.timedelta(milliseconds=250)


@pytest.fixture
def keys() -> MemoryKeyStore:
    store = MemoryKeyStore()
    store.rotate()
    return store


def build(keys: MemoryKeyStore, n: int, *, batch: int = BATCH) -> tuple[LogWriter, list[LogEntry], list[Checkpoint]]:
    ticks = clock()
    writer = LogWriter(LOG_ID, HmacSigner(keys.current()), batch_size=batch, clock=lambda: next(ticks))
    entries: list[LogEntry] = []
    checkpoints: list[Checkpoint] = []
    for i in range(n):
        entry, cp = writer.append(
            requester="kenpo-midori", provider="352152", affair="HI-01",
            items=["resident_record.name", "resident_record.address"],
            outcome=Outcome.PROVIDED if i % 3 else Outcome.REFUSED,
            request_digest=body_digest(f"request {i}".encode()), response_digest=body_digest(f"response {i}".encode()),
            basis_id="LB-0001", subject=f"k0001.{'a' * 31}{'bcdefgh'[i % 7]}", message_id=f"msg-{i}")
        entries.append(entry)
        if cp is not None:
            checkpoints.append(cp)
    return writer, entries, checkpoints


def check(entries: Sequence[LogEntry | Mapping[str, Any]], checkpoints: Sequence[Checkpoint | Mapping[str, Any]],
          keys: MemoryKeyStore, witness: Checkpoint | None = None) -> VerifyResult:
    return verify(entries, checkpoints, log_id=LOG_ID, verifier=KeyStoreVerifier(keys), witness=witness)


def rehash(entry: LogEntry, **changes: object) -> LogEntry:
    """An edit by someone who also recomputes the entry's own hash."""
    draft = dataclasses.replace(entry, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(draft, entry_hash=draft.computed_hash())


def rewrite_chain_from(entries: list[LogEntry], i: int, **changes: object) -> list[LogEntry]:
    """An edit by someone who recomputes every hash after it (a consistent, rewritten chain)."""
    out = entries[:i]
    prev = out[-1].entry_hash if out else genesis_hash(LOG_ID)
    for j, e in enumerate(entries[i:], start=i):
        e2 = rehash(e, prev_hash=prev, **(changes if j == i else {}))
        out.append(e2)
        prev = e2.entry_hash
    return out


# --- an untouched log ---------------------------------------------------------------------------------


def test_untouched_log_verifies(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 10)
    assert [e.seq for e in entries] == list(range(10))
    assert [(c.first_seq, c.size) for c in cps] == [(0, 4), (4, 4)]
    result = check(entries, cps, keys)
    assert result.ok and result.first_bad_seq is None and result.problem is None
    assert result.entries_checked == 10 and result.checkpoints_checked == 2 and result.unanchored == 2
    assert "改ざんされていません" in result.reason_ja


def test_empty_log_verifies(keys: MemoryKeyStore) -> None:
    assert check([], [], keys).ok


def test_chain_starts_at_the_log_genesis(keys: MemoryKeyStore) -> None:
    _, entries, _ = build(keys, 2)
    assert entries[0].prev_hash == genesis_hash(LOG_ID) != genesis_hash("dc-b")
    assert entries[1].prev_hash == entries[0].entry_hash
    assert entries[0].time == "2026-04-01T00:00:00.000000Z"  # JST 09:00 recorded in UTC


def test_entries_round_trip_through_json(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 9)
    stored = [e.to_json() for e in entries]
    assert [LogEntry.from_json(s) for s in stored] == entries
    assert [LogEntry.from_canonical(e.canonical()) for e in entries] == entries
    assert [Checkpoint.from_json(c.to_json()) for c in cps] == cps
    assert check(stored, [c.to_json() for c in cps], keys).ok


# --- tampering -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("i", [0, 5, 9])
def test_edit_is_detected_at_the_entry(keys: MemoryKeyStore, i: int) -> None:
    _, entries, cps = build(keys, 10)
    entries[i] = dataclasses.replace(entries[i], outcome="not_found")
    result = check(entries, cps, keys)
    assert not result.ok and result.first_bad_seq == i and result.problem == Problem.EDITED


@pytest.mark.parametrize("i", [1, 6])
def test_edit_with_its_hash_recomputed_is_detected_at_the_entry(keys: MemoryKeyStore, i: int) -> None:
    _, entries, cps = build(keys, 10)
    entries[i] = rehash(entries[i], items=("resident_record.name", "local_tax.tax_amount"))
    result = check(entries, cps, keys)
    assert not result.ok and result.first_bad_seq == i and result.problem == Problem.EDITED


@pytest.mark.parametrize("i", [0, 3, 5])
def test_edit_with_the_whole_chain_rewritten_is_detected_at_the_entry(keys: MemoryKeyStore, i: int) -> None:
    _, entries, cps = build(keys, 10)
    forged = rewrite_chain_from(entries, i, requester="352071")
    result = check(forged, cps, keys)
    assert not result.ok and result.first_bad_seq == i and result.problem == Problem.EDITED


def test_edit_after_the_last_checkpoint_is_named_by_the_chain(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 11)  # 8 anchored, 8..10 on the chain only
    entries[8] = rehash(entries[8], outcome="failed")
    result = check(entries, cps, keys)
    assert not result.ok and result.first_bad_seq == 8 and result.problem == Problem.EDITED


@pytest.mark.parametrize("i", [0, 2, 4, 7, 8])
def test_delete_is_detected(keys: MemoryKeyStore, i: int) -> None:
    _, entries, cps = build(keys, 10)
    del entries[i]
    result = check(entries, cps, keys)
    assert not result.ok and result.first_bad_seq == i and result.problem == Problem.DELETED


def test_deleting_the_unanchored_last_entry_is_caught_at_the_next_checkpoint(keys: MemoryKeyStore) -> None:
    writer, entries, cps = build(keys, 10)
    del entries[9]
    # the newest entries are covered by the chain only: dropping the very last one leaves a valid chain
    assert check(entries, cps, keys).ok
    # the writer still has it, so the next checkpoint exposes the gap
    closing = writer.checkpoint()
    assert closing is not None
    result = check(entries, [*cps, closing], keys)
    assert not result.ok and result.first_bad_seq == 9 and result.problem == Problem.TRUNCATED


def test_delete_with_renumbering_is_detected(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 10)
    kept = entries[:3] + [dataclasses.replace(e, seq=e.seq - 1) for e in entries[4:]]
    prev = kept[2].entry_hash
    renumbered = kept[:3]
    for e in kept[3:]:
        e2 = rehash(e, prev_hash=prev)
        renumbered.append(e2)
        prev = e2.entry_hash
    result = check(renumbered, cps, keys)
    assert not result.ok and result.first_bad_seq == 3 and result.problem == Problem.EDITED


@pytest.mark.parametrize("i", [0, 3, 7])
def test_reorder_is_detected(keys: MemoryKeyStore, i: int) -> None:
    _, entries, cps = build(keys, 10)
    entries[i], entries[i + 1] = entries[i + 1], entries[i]
    result = check(entries, cps, keys)
    assert not result.ok and result.first_bad_seq == i and result.problem == Problem.REORDERED


def test_duplicate_is_detected(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 10)
    entries.insert(5, entries[4])
    result = check(entries, cps, keys)
    assert not result.ok and result.first_bad_seq == 4 and result.problem == Problem.DUPLICATED


@pytest.mark.parametrize("keep", [0, 3, 6])
def test_truncation_is_detected(keys: MemoryKeyStore, keep: int) -> None:
    _, entries, cps = build(keys, 10)
    result = check(entries[:keep], cps, keys)
    assert not result.ok and result.first_bad_seq == keep and result.problem == Problem.TRUNCATED


def test_truncation_of_entries_and_checkpoints_needs_a_witness(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 10)
    # cutting the log back to a checkpoint boundary, with its checkpoints, leaves a consistent log…
    assert check(entries[:4], cps[:1], keys).ok
    # …which a checkpoint kept outside (the other data centre, an auditor) exposes
    result = check(entries[:4], cps[:1], keys, witness=cps[1])
    assert not result.ok and result.first_bad_seq == 4 and result.problem == Problem.TRUNCATED
    assert check(entries, cps, keys, witness=cps[1]).ok


def test_forged_checkpoint_is_detected(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 10)
    # a new root with the old signature
    bad_root = dataclasses.replace(cps[1], root=hashlib.sha256(b"x").hexdigest())
    result = check(entries, [cps[0], bad_root], keys)
    assert not result.ok and result.first_bad_seq == 4 and result.problem == Problem.FORGED_CHECKPOINT
    # signed with the attacker's own key under the log key's id
    attacker = HmacSigner(Key(keys.current().id, b"\x01" * 32))
    forged = make_checkpoint(LOG_ID, 0, entries[:4], attacker, dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    result = check(entries, [forged, cps[1]], keys)
    assert not result.ok and result.first_bad_seq == 0 and result.problem == Problem.FORGED_CHECKPOINT
    assert "署名" in result.reason_ja


def test_rewritten_log_with_forged_checkpoints_is_detected(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 10)
    forged_entries = rewrite_chain_from(entries, 5, outcome="refused")
    attacker = HmacSigner(Key(keys.current().id, b"\x02" * 32))
    when = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    forged_cps = [cps[0], make_checkpoint(LOG_ID, 1, forged_entries[4:8], attacker, when)]
    result = check(forged_entries, forged_cps, keys)
    assert not result.ok and result.first_bad_seq == 4 and result.problem == Problem.FORGED_CHECKPOINT


def test_tampered_leaf_list_is_detected(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 8)
    leaves = list(cps[0].leaf_hashes)
    leaves[2] = hashlib.sha256(b"other").hexdigest()
    result = check(entries, [dataclasses.replace(cps[0], leaf_hashes=tuple(leaves)), cps[1]], keys)
    assert not result.ok and result.first_bad_seq == 0 and result.problem == Problem.FORGED_CHECKPOINT


def test_checkpoint_of_another_log_or_place_is_refused(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 8)
    result = check(entries, [cps[0], dataclasses.replace(cps[1], log_id="dc-b")], keys)
    assert not result.ok and result.problem == Problem.FORGED_CHECKPOINT and result.first_bad_seq == 4
    # deleted checkpoint in the middle
    result = check(entries, [cps[1]], keys)
    assert not result.ok and result.problem == Problem.MISSING_CHECKPOINT and result.first_bad_seq == 0
    # swapped checkpoints
    result = check(entries, [cps[1], cps[0]], keys)
    assert not result.ok and result.first_bad_seq == 0


def test_malformed_stored_entry_is_named(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 6)
    stored = [e.to_json() for e in entries]
    stored[3]["outcome"] = "delivered?"
    result = check(stored, cps, keys)
    assert not result.ok and result.first_bad_seq == 3 and result.problem == Problem.MALFORMED


def test_log_keys_rotate(keys: MemoryKeyStore) -> None:
    ticks = clock()
    writer = LogWriter(LOG_ID, HmacSigner(keys.current()), batch_size=2, clock=lambda: next(ticks))
    entries, cps = [], []
    for i in range(6):
        if i == 3:
            writer.signer = HmacSigner(keys.rotate())
        entry, cp = writer.append(requester="352152", provider="352128", affair="CA-01", items=["resident_record.name"],
                                  outcome="provided", request_digest=body_digest(b"%d" % i))
        entries.append(entry)
        cps += [cp] if cp else []
    assert [c.key_id for c in cps] == ["k0001", "k0002", "k0002"]
    assert check(entries, cps, keys).ok
    assert all(c.algorithm == HS256 for c in cps)


# --- the writer -------------------------------------------------------------------------------------


def test_prepare_does_not_advance_until_commit(keys: MemoryKeyStore) -> None:
    writer, _, _ = build(keys, 3)
    fields = dict(requester="352152", provider="352128", affair="CA-01", items=["resident_record.name"],
                  outcome="provided", request_digest=body_digest(b"r"))
    draft = writer.prepare(**fields)  # type: ignore[arg-type]
    again = writer.prepare(**fields)  # type: ignore[arg-type]
    assert draft.seq == again.seq == 3 and writer.next_seq == 3
    writer.commit(draft)
    with pytest.raises(LogStateError):
        writer.commit(again)  # the same seq twice
    with pytest.raises(LogStateError):
        writer.commit(dataclasses.replace(writer.prepare(**fields), outcome="refused"))  # type: ignore[arg-type]


def test_writer_refuses_identifiers_as_subject(keys: MemoryKeyStore) -> None:
    writer, _, _ = build(keys, 0)
    for subject in ("123456789018", "000000012345"):
        with pytest.raises(LogFormatError, match="符号"):
            writer.prepare(requester="352152", provider="352128", affair="CA-01", items=[], outcome="provided",
                           request_digest=body_digest(b""), subject=subject)


def test_resume_continues_the_chain(keys: MemoryKeyStore) -> None:
    writer, entries, cps = build(keys, 10)
    resumed = LogWriter.resume(LOG_ID, HmacSigner(keys.current()), cps[-1], entries[8:], batch_size=BATCH)
    assert resumed.next_seq == 10 and resumed.head == writer.head and resumed.batch == 2
    more = [resumed.append(requester="352152", provider="352128", affair="CA-01", items=["resident_record.name"],
                           outcome="provided", request_digest=body_digest(b"x"))
            for _ in range(3)]
    cps += [cp for _, cp in more if cp]
    entries += [e for e, _ in more]
    assert check(entries, cps, keys).ok and check(entries, cps, keys).unanchored == 1
    with pytest.raises(LogStateError):
        LogWriter.resume(LOG_ID, HmacSigner(keys.current()), cps[0], entries[5:8], batch_size=BATCH)


def test_partial_batch_can_be_closed(keys: MemoryKeyStore) -> None:
    writer, entries, cps = build(keys, 6)
    cp = writer.checkpoint()
    assert cp is not None and (cp.first_seq, cp.size) == (4, 2)
    assert writer.checkpoint() is None
    result = check(entries, [*cps, cp], keys)
    assert result.ok and result.unanchored == 0


# --- inclusion proofs ---------------------------------------------------------------------------------


def test_an_entry_is_proven_in_its_signed_batch(keys: MemoryKeyStore) -> None:
    _, entries, cps = build(keys, 8)
    verifier = KeyStoreVerifier(keys)
    for e in entries:
        cp = cps[e.seq // BATCH]
        proof = cp.proof(e.seq)
        assert proof == inclusion_proof(entries[cp.first_seq:cp.end], e.seq - cp.first_seq)
        assert verify_inclusion(e, proof, cp.root)
        assert verify_entry(e, cp, proof, verifier)
    other = dataclasses.replace(entries[1], outcome="refused")
    assert not verify_entry(other, cps[0], cps[0].proof(1), verifier)
    assert not verify_entry(entries[2], cps[0], cps[0].proof(1), verifier)
    with pytest.raises(IndexError):
        cps[0].proof(4)


# --- the fast entry encoder is the canonical encoding ----------------------------------------------

any_text = st.text(st.characters(exclude_categories=["Cs"]) | st.sampled_from(['"', "\\", "\x00", "\x1f", "\n", "\x7f",
                                                                              "\u2028", "\U0001f600", "住"]),
                   min_size=1, max_size=10)


@given(requester=any_text, affair=st.none() | any_text, items=st.lists(any_text, max_size=4),
       message_id=st.none() | any_text, seq=st.integers(0, 2**53 - 1))
def test_entry_bytes_are_canonical_json(requester: str, affair: str | None, items: list[str],
                                        message_id: str | None, seq: int) -> None:
    entry = LogEntry(seq=seq, time="2026-04-01T00:00:00.000000Z", requester=requester, provider="352152",
                     affair=affair, items=tuple(items), outcome="provided", request_digest="0" * 64,
                     prev_hash="1" * 64, entry_hash="2" * 64, message_id=message_id)
    def reference(value: dict[str, object]) -> bytes:  # the element-by-element encoder, not orjson
        out: list[str] = []
        canonical._encode(value, out)
        return "".join(out).encode("utf-8")

    assert entry.canonical() == reference(entry.to_json()) == canonical.dumps(entry.to_json())
    assert entry.computed_hash() == hashlib.sha256(reference(entry.body())).hexdigest()
    assert LogEntry.from_canonical(entry.canonical()) == entry
