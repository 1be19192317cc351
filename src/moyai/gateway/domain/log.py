"""The tamper-evident exchange log: a hash chain with signed Merkle checkpoints.

Every exchange becomes one :class:`LogEntry`: who asked whom (organisation ids), for which 事務
and items, under which legal-basis row, about which person (the provider's 符号 — never a
宛名番号 or 個人番号), the SHA-256 digests of the request and response bodies, the outcome and
the time. Entries are numbered from 0 (``seq``) and chained::

    entry_hash = SHA-256(canonical JSON of the entry without entry_hash)      (hex)
    prev_hash  = entry_hash of the previous entry; for seq 0, SHA-256("moyai.gateway.log.v1" 0x00 "genesis" 0x00 log id)

Every ``batch_size`` entries (or sooner, see :meth:`LogWriter.checkpoint`), the writer closes a
batch with a :class:`Checkpoint`: the RFC 6962 Merkle root of the batch's entries (leaf data =
the canonical JSON of the whole entry), the hash of its last entry (``head``), and a signature
over both with the log key. The checkpoint also keeps the batch's leaf hashes: they are not
signed themselves but must hash to the signed root, so they authenticate every entry of the
batch one by one — which lets :func:`verify` name the exact entry that was altered even when
the attacker recomputed the whole chain after it — and let anyone build an inclusion proof for
one entry (:meth:`Checkpoint.proof`) without reading the others.

:func:`verify` reports the first entry that cannot be shown authentic: edited, deleted,
reordered, duplicated, truncated, or covered by a forged checkpoint.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import orjson

from . import canonical
from .codes import is_code
from .merkle import (
    InclusionProof,
    inclusion_proof_from_hashes,
    leaf_hash,
    root_from_hashes,
    verify_inclusion_hash,
)
from .merkle import verify_inclusion as _verify_inclusion
from .signing import SignatureVerifier, Signer

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FORMAT_VERSION",
    "Checkpoint",
    "LogEntry",
    "LogFormatError",
    "LogStateError",
    "LogWriter",
    "Outcome",
    "Problem",
    "VerifyResult",
    "body_digest",
    "format_time",
    "genesis_hash",
    "inclusion_proof",
    "make_checkpoint",
    "parse_time",
    "verify",
    "verify_entry",
    "verify_inclusion",
    "verify_inclusion_hash",
]

FORMAT_VERSION: Final = 1
DEFAULT_BATCH_SIZE: Final = 256
CHECKPOINT_TYPE: Final = "moyai.gateway.log.checkpoint"
HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
TIME_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LOG_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class Outcome(StrEnum):
    PROVIDED = "provided"  # 提供した
    REFUSED = "refused"  # 拒否（根拠なし・認証失敗）
    NOT_FOUND = "not_found"  # 該当者なし
    FAILED = "failed"  # 処理中の誤り
    UNAVAILABLE = "unavailable"  # 提供側に届かなかった（再試行可、何も提供していない）


OUTCOMES: Final = frozenset(o.value for o in Outcome)


class Problem(StrEnum):
    """What :func:`verify` found (``VerifyResult.problem``)."""

    MALFORMED = "malformed"
    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    DUPLICATED = "duplicated"
    BROKEN_LINK = "broken_link"
    TRUNCATED = "truncated"
    FORGED_CHECKPOINT = "forged_checkpoint"
    MISSING_CHECKPOINT = "missing_checkpoint"


class LogFormatError(ValueError):
    """A stored entry or checkpoint is not well-formed."""


class LogStateError(RuntimeError):
    """The writer was handed an entry that does not continue its chain."""


def _encode_entry(value: dict[str, Any]) -> bytes:
    """:func:`.canonical.dumps` for an entry, by orjson without :func:`.canonical.dumps`' walk.

    An entry's keys are ASCII (so the byte-order sort is RFC 8785's UTF-16 order) and its values
    are strings, integers below 2**53 (checked on construction), null and lists of strings, for
    which orjson's sorted-key encoding writes the same bytes as :func:`.canonical.dumps` (a test
    checks it).
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise LogFormatError("文字列に対になっていないサロゲートが含まれています") from exc


def genesis_hash(log_id: str) -> str:
    """``prev_hash`` of entry 0: binds the chain to one log (the log of data centre a, of b …)."""
    return hashlib.sha256(b"moyai.gateway.log.v1\x00genesis\x00" + log_id.encode("utf-8")).hexdigest()


def body_digest(body: bytes) -> str:
    """SHA-256 (hex) of a request or response body, as recorded in the log."""
    return hashlib.sha256(body).hexdigest()


def format_time(t: dt.datetime) -> str:
    """UTC, microseconds, ``Z``: one spelling per instant (the log hashes strings)."""
    if t.tzinfo is None:
        raise ValueError("ログの時刻はタイムゾーン付きで指定してください")
    u = t.astimezone(dt.UTC)
    return (f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}."
            f"{u.microsecond:06d}Z")


_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{1,6}Z")


def parse_time(text: str) -> dt.datetime:
    """The instant of a ``format_time`` spelling (UTC, ``Z``, 1–6 fraction digits); ``ValueError`` otherwise."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise ValueError(f"時刻の形式が正しくありません: {text!r}")
    head, fraction = text[:-1].split(".")
    return dt.datetime.fromisoformat(f"{head}.{fraction.ljust(6, '0')}").replace(tzinfo=dt.UTC)


def _fail(what: str) -> LogFormatError:
    return LogFormatError(what)


def _opt_str(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _fail(f"{name} は文字列か null です")
    return value


def _str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(f"{name} は空でない文字列です")
    return value


def _int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(f"{name} は0以上の整数です")
    return value


def _hex64(value: object, name: str) -> str:
    if not isinstance(value, str) or not HEX64.match(value):
        raise _fail(f"{name} は64桁の16進数（小文字）です")
    return value


ENTRY_FIELDS: Final = (
    "seq", "time", "kind", "requester", "provider", "affair", "items", "basis_id", "subject",
    "message_id", "request_digest", "response_digest", "outcome", "disclose_after", "prev_hash",
)


@dataclass(frozen=True)
class LogEntry:
    seq: int
    time: str
    requester: str
    provider: str
    affair: str | None
    items: tuple[str, ...]
    outcome: str
    request_digest: str
    prev_hash: str
    entry_hash: str
    response_digest: str | None = None
    basis_id: str | None = None
    #: the provider's 符号 for the person (never a 宛名番号 or 個人番号), for 情報提供等記録
    subject: str | None = None
    message_id: str | None = None
    #: date (ISO) from which the resident may see this entry (deferred disclosure), or None
    disclose_after: str | None = None
    kind: str = "exchange"

    def __post_init__(self) -> None:
        if _int(self.seq, "seq") > canonical.MAX_SAFE_INTEGER:
            raise _fail("seq が大きすぎます")
        if not isinstance(self.time, str) or not TIME_RE.match(self.time):
            raise _fail("time は UTC の YYYY-MM-DDTHH:MM:SS.ffffffZ です")
        _str(self.requester, "requester")
        _str(self.provider, "provider")
        _str(self.kind, "kind")
        _opt_str(self.affair, "affair")
        if not isinstance(self.items, tuple) or not all(isinstance(i, str) for i in self.items):
            raise _fail("items は文字列の並びです")
        if self.outcome not in OUTCOMES:
            raise _fail(f"outcome {self.outcome!r} は {', '.join(Outcome)} のいずれかです")
        _hex64(self.request_digest, "request_digest")
        if self.response_digest is not None:
            _hex64(self.response_digest, "response_digest")
        _hex64(self.prev_hash, "prev_hash")
        _hex64(self.entry_hash, "entry_hash")
        _opt_str(self.basis_id, "basis_id")
        _opt_str(self.message_id, "message_id")
        if self.subject is not None and (not isinstance(self.subject, str) or not is_code(self.subject)):
            raise _fail("subject は符号だけを記録します（宛名番号・個人番号は記録できません）")
        if self.disclose_after is not None and (
                not isinstance(self.disclose_after, str) or not DATE_RE.match(self.disclose_after)):
            raise _fail("disclose_after は YYYY-MM-DD の日付です")

    def body(self) -> dict[str, Any]:
        """Every field but ``entry_hash`` (what ``entry_hash`` is computed over)."""
        return {"v": FORMAT_VERSION, "seq": self.seq, "time": self.time, "kind": self.kind,
                "requester": self.requester, "provider": self.provider, "affair": self.affair,
                "items": list(self.items), "basis_id": self.basis_id, "subject": self.subject,
                "message_id": self.message_id, "request_digest": self.request_digest,
                "response_digest": self.response_digest, "outcome": self.outcome,
                "disclose_after": self.disclose_after, "prev_hash": self.prev_hash}

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "entry_hash": self.entry_hash}

    @functools.cached_property
    def _canonical(self) -> bytes:
        return _encode_entry(self.to_json())

    @functools.cached_property
    def _computed_hash(self) -> str:
        return hashlib.sha256(_encode_entry(self.body())).hexdigest()

    def canonical(self) -> bytes:
        """The Merkle leaf data: canonical JSON of the whole entry."""
        return self._canonical

    def computed_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`body` (what ``entry_hash`` must be)."""
        return self._computed_hash

    def leaf_hash(self) -> bytes:
        return leaf_hash(self._canonical)

    @property
    def timestamp(self) -> dt.datetime:
        return parse_time(self.time)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogEntry:
        if not isinstance(data, Mapping):
            raise _fail("ログの項目がオブジェクトではありません")
        if data.get("v") != FORMAT_VERSION:
            raise _fail(f"形式の版 {data.get('v')!r} は読めません（{FORMAT_VERSION} のみ）")
        extra = set(data) - {*ENTRY_FIELDS, "v", "entry_hash"}
        missing = {*ENTRY_FIELDS, "entry_hash"} - set(data)
        if extra or missing:
            raise _fail(f"ログの項目のキーが違います（不足 {sorted(missing)}、余分 {sorted(extra)}）")
        items = data["items"]
        if not isinstance(items, list):
            raise _fail("items は配列です")
        return cls(seq=data["seq"], time=data["time"], kind=data["kind"], requester=data["requester"],
                   provider=data["provider"], affair=data["affair"], items=tuple(items),
                   basis_id=data["basis_id"], subject=data["subject"], message_id=data["message_id"],
                   request_digest=data["request_digest"], response_digest=data["response_digest"],
                   outcome=data["outcome"], disclose_after=data["disclose_after"],
                   prev_hash=data["prev_hash"], entry_hash=data["entry_hash"])

    @classmethod
    def from_canonical(cls, data: bytes) -> LogEntry:
        try:
            value = canonical.loads(data)
        except canonical.CanonicalJSONError as exc:
            raise _fail(str(exc)) from exc
        if not isinstance(value, Mapping):
            raise _fail("ログの項目がオブジェクトではありません")
        return cls.from_json(value)


@dataclass(frozen=True)
class Checkpoint:
    """A signed Merkle root over one batch of entries (``first_seq`` … ``first_seq + size − 1``)."""

    log_id: str
    batch: int
    first_seq: int
    size: int
    root: str
    head: str
    time: str
    key_id: str
    algorithm: str
    signature: str
    #: leaf hashes (hex) of the batch, in order; authenticated by hashing to the signed ``root``
    leaf_hashes: tuple[str, ...] = field(repr=False)

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.size - 1

    @property
    def end(self) -> int:
        """The seq after the batch."""
        return self.first_seq + self.size

    def payload(self) -> bytes:
        """The signed bytes: canonical JSON of every field but the signature and the leaf list."""
        return canonical.dumps({"type": CHECKPOINT_TYPE, "v": FORMAT_VERSION, "log": self.log_id,
                                "batch": self.batch, "first_seq": self.first_seq, "size": self.size,
                                "root": self.root, "head": self.head, "time": self.time,
                                "key_id": self.key_id, "alg": self.algorithm})

    def signature_ok(self, verifier: SignatureVerifier) -> bool:
        try:
            signature = bytes.fromhex(self.signature)
        except ValueError:
            return False
        return verifier.verify(self.key_id, self.algorithm, self.payload(), signature)

    def leaves_ok(self) -> bool:
        """Whether the kept leaf hashes are exactly the batch the signed root stands for."""
        if len(self.leaf_hashes) != self.size or not all(HEX64.match(h) for h in self.leaf_hashes):
            return False
        return root_from_hashes([bytes.fromhex(h) for h in self.leaf_hashes]).hex() == self.root

    def proof(self, seq: int) -> InclusionProof:
        """Inclusion proof of entry ``seq`` in this batch (from the kept leaf hashes)."""
        if not self.first_seq <= seq < self.end:
            raise IndexError(f"seq {seq} はこのチェックポイント（{self.first_seq}〜{self.last_seq}）にありません")
        return inclusion_proof_from_hashes([bytes.fromhex(h) for h in self.leaf_hashes], seq - self.first_seq)

    def to_json(self) -> dict[str, Any]:
        return {"log": self.log_id, "batch": self.batch, "first_seq": self.first_seq, "size": self.size,
                "root": self.root, "head": self.head, "time": self.time, "key_id": self.key_id,
                "alg": self.algorithm, "signature": self.signature, "leaf_hashes": list(self.leaf_hashes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        try:
            leaves = data["leaf_hashes"]
            if not isinstance(leaves, list):
                raise _fail("leaf_hashes は配列です")
            return cls(log_id=_str(data["log"], "log"), batch=_int(data["batch"], "batch"),
                       first_seq=_int(data["first_seq"], "first_seq"), size=_int(data["size"], "size"),
                       root=_hex64(data["root"], "root"), head=_hex64(data["head"], "head"),
                       time=_str(data["time"], "time"), key_id=_str(data["key_id"], "key_id"),
                       algorithm=_str(data["alg"], "alg"), signature=_str(data["signature"], "signature"),
                       leaf_hashes=tuple(_hex64(h, "leaf_hashes") for h in leaves))
        except KeyError as exc:
            raise _fail(f"チェックポイントに {exc.args[0]} がありません") from None


def make_checkpoint(log_id: str, batch: int, entries: Sequence[LogEntry], signer: Signer,
                    time: dt.datetime) -> Checkpoint:
    """Sign the Merkle root of ``entries`` (one batch, consecutive seqs)."""
    if not entries:
        raise ValueError("空のバッチにはチェックポイントを作れません")
    hashes = [e.leaf_hash() for e in entries]
    unsigned = Checkpoint(log_id, batch, entries[0].seq, len(entries), root_from_hashes(hashes).hex(),
                          entries[-1].entry_hash, format_time(time), signer.key_id, signer.algorithm, "",
                          tuple(h.hex() for h in hashes))
    return Checkpoint(**{**unsigned.__dict__, "signature": signer.sign(unsigned.payload()).hex()})


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LogWriter:
    """Builds the chain and the checkpoints; storage is the caller's.

    ``prepare`` makes the next entry without changing the writer; the caller stores it durably
    and only then calls ``commit``, which advances the chain and returns a checkpoint to store
    when a batch is full. If storing fails, nothing is committed and the next ``prepare`` makes
    the same seq again. (After a crash, :meth:`resume` from what was stored.) Appends must be
    serialised: one writer per log.
    """

    def __init__(self, log_id: str, signer: Signer, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 clock: Callable[[], dt.datetime] = _utcnow) -> None:
        if not LOG_ID_RE.match(log_id):
            raise ValueError(f"ログ id {log_id!r} が不正です")
        if batch_size < 1:
            raise ValueError("batch_size は1以上です")
        self.log_id = log_id
        self.signer = signer
        self.batch_size = batch_size
        self.clock = clock
        self.next_seq = 0
        self.head = genesis_hash(log_id)
        self.batch = 0
        self.pending: list[LogEntry] = []

    @classmethod
    def resume(cls, log_id: str, signer: Signer, last_checkpoint: Checkpoint | None, tail: Sequence[LogEntry],
               *, batch_size: int = DEFAULT_BATCH_SIZE, clock: Callable[[], dt.datetime] = _utcnow) -> LogWriter:
        """Continue a stored log from its last checkpoint and the entries after it."""
        writer = cls(log_id, signer, batch_size=batch_size, clock=clock)
        if last_checkpoint is not None:
            if last_checkpoint.log_id != log_id:
                raise LogStateError("別のログのチェックポイントです")
            writer.next_seq, writer.head, writer.batch = last_checkpoint.end, last_checkpoint.head, \
                last_checkpoint.batch + 1
        for entry in tail:
            if entry.seq != writer.next_seq or entry.prev_hash != writer.head or entry.computed_hash() != entry.entry_hash:
                raise LogStateError(f"seq {entry.seq} は直前の項目に続いていません（verify-log で検査してください）")
            writer.pending.append(entry)
            writer.next_seq, writer.head = entry.seq + 1, entry.entry_hash
        return writer

    def prepare(self, *, requester: str, provider: str, affair: str | None, items: Iterable[str],
                outcome: Outcome | str, request_digest: str, response_digest: str | None = None,
                basis_id: str | None = None, subject: str | None = None, message_id: str | None = None,
                disclose_after: dt.date | None = None, kind: str = "exchange",
                time: dt.datetime | None = None) -> LogEntry:
        """The next entry (not yet part of the chain: see :meth:`commit`)."""
        fields: dict[str, Any] = dict(
            seq=self.next_seq, time=format_time(time or self.clock()), kind=kind, requester=requester,
            provider=provider, affair=affair, items=tuple(items), basis_id=basis_id, subject=subject,
            message_id=message_id, request_digest=request_digest, response_digest=response_digest,
            outcome=str(Outcome(outcome)), disclose_after=disclose_after.isoformat() if disclose_after else None,
            prev_hash=self.head)
        entry = LogEntry(**fields, entry_hash="0" * 64)  # validated once, then given its hash
        # (the hash covers every field but itself, and is a 64-digit hex by construction)
        object.__setattr__(entry, "entry_hash", entry.computed_hash())
        return entry

    def commit(self, entry: LogEntry) -> Checkpoint | None:
        """Make a stored entry part of the chain; a checkpoint (to store) when the batch is full."""
        if entry.seq != self.next_seq or entry.prev_hash != self.head or entry.computed_hash() != entry.entry_hash:
            raise LogStateError(f"seq {entry.seq} はこのログの次の項目ではありません（次は {self.next_seq}）")
        self.pending.append(entry)
        self.next_seq, self.head = entry.seq + 1, entry.entry_hash
        if len(self.pending) >= self.batch_size:
            return self.checkpoint()
        return None

    def append(self, **fields: Any) -> tuple[LogEntry, Checkpoint | None]:
        """``prepare`` then ``commit`` (for callers whose storage cannot fail, e.g. tests)."""
        entry = self.prepare(**fields)
        return entry, self.commit(entry)

    def checkpoint(self) -> Checkpoint | None:
        """Close the current batch now (e.g. on a timer, or at shutdown); None if it is empty."""
        if not self.pending:
            return None
        cp = make_checkpoint(self.log_id, self.batch, self.pending, self.signer, self.clock())
        self.pending = []
        self.batch += 1
        return cp


# --- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    #: the first entry that cannot be shown authentic (None when ok)
    first_bad_seq: int | None
    reason_ja: str
    problem: Problem | None = None
    entries_checked: int = 0
    checkpoints_checked: int = 0
    #: entries after the last checkpoint: protected by the chain only, not yet by a signature
    unanchored: int = 0


@dataclass(frozen=True)
class _Finding:
    seq: int
    problem: Problem
    reason: str


def _check_checkpoints(checkpoints: Sequence[Checkpoint | Mapping[str, Any]], log_id: str,
                       verifier: SignatureVerifier) -> tuple[list[Checkpoint], _Finding | None]:
    """The valid prefix of the checkpoints, and the first problem after it."""
    good: list[Checkpoint] = []
    end = 0
    for k, raw in enumerate(checkpoints):
        try:
            cp = raw if isinstance(raw, Checkpoint) else Checkpoint.from_json(raw)
        except LogFormatError as exc:
            return good, _Finding(end, Problem.FORGED_CHECKPOINT, f"チェックポイント #{k} が読めません: {exc}")
        where = f"チェックポイント #{cp.batch}（seq {cp.first_seq}〜{cp.last_seq}）"
        if cp.log_id != log_id:
            return good, _Finding(cp.first_seq, Problem.FORGED_CHECKPOINT, f"{where} は別のログ {cp.log_id!r} のものです")
        if cp.batch != k or cp.first_seq != end or cp.size < 1:
            if cp.batch > k or cp.first_seq > end:
                return good, _Finding(end, Problem.MISSING_CHECKPOINT,
                                      f"seq {end} から始まるチェックポイント #{k} がありません（削除または順序の改ざん）")
            return good, _Finding(min(cp.first_seq, end), Problem.FORGED_CHECKPOINT,
                                  f"{where} は #{k}（seq {end}〜）の位置にあるべきものではありません")
        if not cp.signature_ok(verifier):
            return good, _Finding(cp.first_seq, Problem.FORGED_CHECKPOINT, f"{where} の署名が正しくありません（偽造）")
        if not cp.leaves_ok():
            return good, _Finding(cp.first_seq, Problem.FORGED_CHECKPOINT,
                                  f"{where} の葉ハッシュが署名されたマークル根と一致しません")
        good.append(cp)
        end = cp.end
    return good, None


def verify(entries: Sequence[LogEntry | Mapping[str, Any]], checkpoints: Sequence[Checkpoint | Mapping[str, Any]],
           *, log_id: str, verifier: SignatureVerifier, witness: Checkpoint | None = None) -> VerifyResult:
    """Check a whole log (entries in stored order, checkpoints in batch order).

    Detects an edited entry (its hash, or the signed leaf of its batch, no longer matches), a
    deleted, reordered or duplicated entry (the seqs), a broken chain, a truncated log (a
    checkpoint covers entries that are gone) and a forged, missing or misplaced checkpoint.
    ``witness``: a checkpoint kept outside this log (by the other data centre, an auditor); it
    also catches a log cut back together with its checkpoints. The result names the first entry
    that cannot be shown authentic; entries after the last checkpoint are covered by the chain
    only (``unanchored``): an alteration of the very last ones is caught at the next checkpoint.
    """
    good, cp_finding = _check_checkpoints(checkpoints, log_id, verifier)
    if witness is not None and cp_finding is None:
        if witness.log_id != log_id or not witness.signature_ok(verifier):
            cp_finding = _Finding(witness.first_seq, Problem.FORGED_CHECKPOINT, "外部に保管したチェックポイントの署名が正しくありません")
        elif witness.batch >= len(good):
            cp_finding = _Finding(good[-1].end if good else 0, Problem.TRUNCATED,
                                  f"外部に保管したチェックポイント #{witness.batch}（seq {witness.last_seq} まで）がログにありません（切り詰め）")
        elif good[witness.batch].payload() != witness.payload():
            cp_finding = _Finding(witness.first_seq, Problem.FORGED_CHECKPOINT,
                                  f"チェックポイント #{witness.batch} が外部に保管したものと異なります")
    expected: dict[int, str] = {}
    for cp in good:
        expected.update(zip(range(cp.first_seq, cp.end), cp.leaf_hashes, strict=True))
    anchored_end = good[-1].end if good else 0
    entry_finding: _Finding | None = None
    prev = genesis_hash(log_id)
    parsed: list[LogEntry] = []
    for p, raw in enumerate(entries):
        if cp_finding is not None and p >= cp_finding.seq:
            break
        try:
            e = raw if isinstance(raw, LogEntry) else LogEntry.from_json(raw)
        except (LogFormatError, TypeError) as exc:
            entry_finding = _Finding(p, Problem.MALFORMED, f"seq {p} の項目が読めません: {exc}")
            break
        if e.seq != p:
            entry_finding = _seq_finding(p, e.seq, entries)
            break
        if e.computed_hash() != e.entry_hash:
            entry_finding = _Finding(p, Problem.EDITED, f"seq {p} の内容がハッシュと一致しません（改ざん）")
            break
        want = expected.get(p)
        if want is not None and e.leaf_hash().hex() != want:
            entry_finding = _Finding(p, Problem.EDITED,
                                     f"seq {p} がチェックポイントに署名された内容と異なります（ハッシュを再計算した改ざん）")
            break
        if e.prev_hash != prev:
            if p == 0 or (p - 1) in expected:
                entry_finding = _Finding(p, Problem.BROKEN_LINK, f"seq {p} の prev_hash が前の項目と一致しません")
            else:
                entry_finding = _Finding(p - 1, Problem.EDITED,
                                         f"seq {p} の prev_hash が seq {p - 1} のハッシュと一致しません"
                                         f"（seq {p - 1} が書き換えられハッシュが再計算された可能性。seq {p} の可能性もあります）")
            break
        prev = e.entry_hash
        parsed.append(e)
    if entry_finding is None and cp_finding is None and len(entries) < anchored_end:
        entry_finding = _Finding(len(entries), Problem.TRUNCATED,
                                 f"seq {len(entries)} 以降がありません（チェックポイントは seq {anchored_end - 1} まで。切り詰め）")
    findings = [f for f in (entry_finding, cp_finding) if f is not None]
    if findings:
        first = min(findings, key=lambda f: f.seq)
        return VerifyResult(False, first.seq, first.reason, first.problem, len(parsed), len(good),
                            max(0, len(entries) - anchored_end))
    unanchored = len(entries) - anchored_end
    note = f"（うち最後の {unanchored} 件は次のチェックポイント待ち）" if unanchored else ""
    return VerifyResult(True, None, f"ログは改ざんされていません: {len(entries)} 件、チェックポイント {len(good)} 件{note}",
                        None, len(parsed), len(good), unanchored)


def _seq_finding(p: int, seq: int, entries: Sequence[LogEntry | Mapping[str, Any]]) -> _Finding:
    """Entry at position ``p`` has ``seq`` ≠ p: a duplicate, a reordering or a deletion."""
    def seq_of(x: LogEntry | Mapping[str, Any]) -> object:
        return x.seq if isinstance(x, LogEntry) else x.get("seq")

    if seq < p:
        return _Finding(seq, Problem.DUPLICATED, f"seq {seq} が2回現れます（位置 {p}）")
    if any(seq_of(x) == p for x in entries[p + 1:]):
        return _Finding(p, Problem.REORDERED, f"seq {p} の位置に seq {seq} があります（順序の入れ替え）")
    return _Finding(p, Problem.DELETED, f"seq {p} がありません（削除）")


# --- inclusion proofs over entries ---------------------------------------------------------------


def _leaf_data(entry: LogEntry | bytes) -> bytes:
    return entry.canonical() if isinstance(entry, LogEntry) else entry


def inclusion_proof(entries: Sequence[LogEntry | bytes], index: int) -> InclusionProof:
    """Proof that ``entries[index]`` is in the Merkle tree of ``entries`` (one batch)."""
    return inclusion_proof_from_hashes([leaf_hash(_leaf_data(e)) for e in entries], index)


def verify_inclusion(leaf: LogEntry | bytes, proof: InclusionProof, root: bytes | str) -> bool:
    """Whether ``leaf`` (an entry or its canonical bytes) is at ``proof.index`` under ``root``."""
    root_bytes = bytes.fromhex(root) if isinstance(root, str) else root
    return _verify_inclusion(_leaf_data(leaf), proof, root_bytes)


def verify_entry(entry: LogEntry, checkpoint: Checkpoint, proof: InclusionProof, verifier: SignatureVerifier) -> bool:
    """What a resident's tool checks: the checkpoint is signed, and the entry is in its batch."""
    return (checkpoint.signature_ok(verifier) and proof.index == entry.seq - checkpoint.first_seq
            and proof.tree_size == checkpoint.size and verify_inclusion(entry, proof, checkpoint.root))

