"""The exchange log in the database: append before answering, checkpoints, verification.

:class:`LogStore` writes one :class:`~.domain.log.LogEntry` per exchange, **in its own
transaction, committed before the caller may release a response** (``transaction.atomic(durable
=True)``: calling it inside another transaction is an error, because the entry would not be
durable when ``append`` returns). Appends to one log are serialised by a lock held for the
transaction (an advisory lock on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``), and the chain is
continued from the last stored entry, so several processes may append to one log.

Every ``batch_size`` entries the same transaction closes a checkpoint (in a savepoint: a
checkpoint that cannot be made does not cost the entry; the next append closes it).
:meth:`LogStore.checkpoint_now` closes a partial batch (a timer, shutdown).

If the entry cannot be written, :class:`LogUnavailable` is raised and the caller must not
answer (see ``docs/exchange.md``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections, transaction

from .domain.log import (
    DEFAULT_BATCH_SIZE,
    Checkpoint,
    LogEntry,
    LogFormatError,
    LogWriter,
    Problem,
    VerifyResult,
    make_checkpoint,
    parse_time,
    verify,
)
from .domain.signing import SignatureVerifier, Signer
from .models import GatewayCheckpoint, GatewayLogEntry

__all__ = ["LogStore", "LogUnavailable", "StoredLog", "load_log", "verify_log_command", "verify_stored_log"]

log = logging.getLogger(__name__)


class LogUnavailable(RuntimeError):
    """The log entry could not be made durable: the exchange must not be answered (retryable)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"情報連携ログに記録できないため処理できません。しばらくしてから再送してください（{reason}）")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lock_key(log_id: str) -> int:
    """A signed 64-bit advisory-lock key for one log."""
    digest = hashlib.sha256(b"moyai.gateway.log.lock\x00" + log_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _row(entry: LogEntry, log_id: str) -> GatewayLogEntry:
    return GatewayLogEntry(
        log_id=log_id, seq=entry.seq, time=entry.timestamp, requester=entry.requester, provider=entry.provider,
        affair=entry.affair, subject=entry.subject, outcome=entry.outcome,
        disclose_after=dt.date.fromisoformat(entry.disclose_after) if entry.disclose_after else None,
        prev_hash=entry.prev_hash, entry_hash=entry.entry_hash, canonical=entry.canonical().decode("utf-8"))


class LogStore:
    """The durable exchange log of one data centre (``log_id``, e.g. ``dc-a``)."""

    def __init__(self, log_id: str, signer: Signer, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 clock: Callable[[], dt.datetime] = _utcnow, using: str = "default") -> None:
        LogWriter(log_id, signer, batch_size=batch_size)  # validates log_id and batch_size
        self.log_id = log_id
        self.signer = signer
        self.batch_size = batch_size
        self.clock = clock
        self.using = using

    # -- writing ---------------------------------------------------------------------------

    def _lock(self) -> None:
        conn = connections[self.using]
        if conn.vendor == "postgresql":
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(self.log_id)])
        # SQLite: the settings open every transaction with BEGIN IMMEDIATE, which takes the write lock.

    def _writer(self) -> LogWriter:
        writer = LogWriter(self.log_id, self.signer, batch_size=self.batch_size, clock=self.clock)
        last = (GatewayLogEntry.objects.using(self.using).filter(log_id=self.log_id).order_by("-seq")
                .values_list("seq", "entry_hash").first())
        if last is not None:
            writer.next_seq, writer.head = last[0] + 1, last[1]
        return writer

    def append(self, **fields: Any) -> LogEntry:
        """Store the next entry durably (``LogWriter.prepare`` arguments) and return it.

        Raises :class:`LogUnavailable` when it cannot be stored; nothing is stored then.
        """
        try:
            with transaction.atomic(using=self.using, durable=True):
                self._lock()
                entry = self._writer().prepare(**fields)
                _row(entry, self.log_id).save(using=self.using, force_insert=True)
                try:
                    with transaction.atomic(using=self.using):
                        self._close_batches(partial=False)
                except Exception:  # the entry stands; the next append (or checkpoint_now) retries
                    log.exception("チェックポイントを作成できませんでした（ログ %s）", self.log_id)
        except (DatabaseError, LogFormatError) as exc:
            log.error("情報連携ログに記録できません（ログ %s）: %s", self.log_id, exc)
            raise LogUnavailable(type(exc).__name__) from exc
        return entry

    def checkpoint_now(self) -> int:
        """Close every full batch and the partial one; the number of checkpoints written."""
        with transaction.atomic(using=self.using, durable=True):
            self._lock()
            return self._close_batches(partial=True)

    def _close_batches(self, *, partial: bool) -> int:
        last_cp = (GatewayCheckpoint.objects.using(self.using).filter(log_id=self.log_id).order_by("-batch")
                   .values_list("batch", "first_seq", "size").first())
        batch, end = (last_cp[0] + 1, last_cp[1] + last_cp[2]) if last_cp else (0, 0)
        made = 0
        while True:
            rows = list(GatewayLogEntry.objects.using(self.using)
                        .filter(log_id=self.log_id, seq__gte=end, seq__lt=end + self.batch_size)
                        .order_by("seq").values_list("canonical", flat=True))
            if not rows or (len(rows) < self.batch_size and not partial):
                return made
            entries = [LogEntry.from_canonical(r.encode("utf-8")) for r in rows]
            cp = make_checkpoint(self.log_id, batch, entries, self.signer, self.clock())
            GatewayCheckpoint(log_id=self.log_id, batch=cp.batch, first_seq=cp.first_seq, size=cp.size,
                              root=cp.root, head=cp.head, document=json.dumps(cp.to_json(), sort_keys=True)
                              ).save(using=self.using, force_insert=True)
            made += 1
            batch, end = batch + 1, cp.end
            if len(rows) < self.batch_size:
                return made

    # -- reading ---------------------------------------------------------------------------

    def load(self) -> StoredLog:
        return load_log(self.log_id, using=self.using)


@dataclass(frozen=True)
class StoredLog:
    #: per row, in seq-column order: the parsed entry, or a mapping the verifier reports as malformed
    entries: list[LogEntry | Mapping[str, Any]]
    checkpoints: list[Mapping[str, Any]]
    #: the first row whose index columns disagree with its canonical JSON: (position, column)
    column_mismatch: tuple[int, str] | None


_COLUMNS = ("seq", "requester", "provider", "affair", "subject", "outcome", "prev_hash", "entry_hash")


def _mismatch(row: GatewayLogEntry, e: LogEntry) -> str | None:
    for name in _COLUMNS:
        if getattr(row, name) != getattr(e, name):
            return name
    if row.time != parse_time(e.time):
        return "time"
    stored = row.disclose_after.isoformat() if row.disclose_after else None
    if stored != e.disclose_after:
        return "disclose_after"
    return None


def load_log(log_id: str, *, using: str = "default") -> StoredLog:
    """Every entry (ordered by the seq column) and checkpoint (by batch) of a log."""
    entries: list[LogEntry | Mapping[str, Any]] = []
    mismatch: tuple[int, str] | None = None
    for p, row in enumerate(GatewayLogEntry.objects.using(using).filter(log_id=log_id).order_by("seq", "id")):
        try:
            e = LogEntry.from_canonical(row.canonical.encode("utf-8"))
        except LogFormatError as exc:
            entries.append({"unreadable": str(exc)})
            continue
        entries.append(e)
        if mismatch is None:
            column = _mismatch(row, e)
            if column is not None:
                mismatch = (p, column)
    checkpoints: list[Mapping[str, Any]] = []
    for doc in (GatewayCheckpoint.objects.using(using).filter(log_id=log_id).order_by("batch", "id")
                .values_list("document", flat=True)):
        try:
            value = json.loads(doc)
        except ValueError:
            value = {"unreadable": doc[:40]}
        checkpoints.append(value if isinstance(value, dict) else {"unreadable": True})
    return StoredLog(entries, checkpoints, mismatch)


def verify_stored_log(log_id: str, verifier: SignatureVerifier, *, witness: Checkpoint | None = None,
                      using: str = "default") -> VerifyResult:
    """:func:`~.domain.log.verify` over the stored log, plus the index columns against the entries."""
    stored = load_log(log_id, using=using)
    result = verify(stored.entries, stored.checkpoints, log_id=log_id, verifier=verifier, witness=witness)
    if stored.column_mismatch is not None:
        p, column = stored.column_mismatch
        if result.ok or (result.first_bad_seq is not None and p < result.first_bad_seq):
            return VerifyResult(False, p, f"seq {p} の列 {column} が記録内容（正規化JSON）と一致しません（改ざん）",
                                Problem.EDITED, result.entries_checked, result.checkpoints_checked, result.unanchored)
    return result


def verify_log_command(log_id: str, verifier: SignatureVerifier, *, witness: Checkpoint | None = None,
                       using: str = "default") -> tuple[bool, str]:
    """``moyai exchange verify-log``: (ok, message in Japanese naming the first altered entry)."""
    try:
        result = verify_stored_log(log_id, verifier, witness=witness, using=using)
    except DatabaseError as exc:
        return False, f"情報連携ログ {log_id} を読めません: {exc}"
    if result.ok:
        return True, f"情報連携ログ {log_id}: {result.reason_ja}"
    return False, (f"情報連携ログ {log_id} に改ざんがあります: 最初の不正な項目は seq {result.first_bad_seq}"
                   f"（{result.problem}）。{result.reason_ja}")
