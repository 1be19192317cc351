"""宛名連携: the outbox filled by every 本登録, the full set, differences since a cursor, pull and push.

**Cursor.** Every 本登録 appends, in its own transaction, one :class:`LinkageChange` per resident
and numbers them from the 団体's :class:`LinkageCounter`, whose row it locks (``SELECT … FOR
UPDATE``) until it commits. A second 本登録 waits for that lock, so numbers become visible in
the order of commits: once a reader sees number *n*, no transaction can later commit a number
below *n*. A consumer's cursor is the last number it has applied; "changes after *n*" therefore
never skips a change that committed late (a cursor on ``recorded_at`` or the event id would: a
transaction that started earlier can commit later with an earlier time). The price is that
本登録 of one 団体 serialise on that row for the few milliseconds between the outbox insert and
the commit; SQLite serialises all writers anyway.

**Content.** A change names the resident and the 異動; the 宛名 items delivered with it are the
resident's current ones, read at delivery through ``moyai.residents.selectors.atena_records``
(one access-log entry per delivery), reduced to the items the consumer may receive. Applying
changes in number order therefore always ends in the current state.

**Exactly once.** Pull: the consumer passes the last number it applied (``after``) and stores the
``upto`` of each answer with the data it applied. Push: a file per interval (or per commit for
``realtime`` consumers) named by its number range, written atomically (temporary file, fsync,
rename), the consumer's cursor advanced in the same transaction as the delivery record; when the
directory cannot be written (consumer outage) nothing advances and the next push carries
everything since. A crash between the rename and the commit can only repeat a range, and every
record carries its number: a consumer applies only numbers above the last it applied.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from moyai.gateway.adapters import csvbatch, fixed
from moyai.gateway.adapters.layouts import layout
from moyai.gateway.domain.log import format_time
from moyai.platform.codes import datafiles
from moyai.platform.errors import DomainError
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.scope import current_tenant_code, tenant_scope
from moyai.residents import selectors
from moyai.residents.signals import RecordedChange

from .models import LinkageChange, LinkageConsumer, LinkageCounter, LinkageDelivery

__all__ = ["Batch", "LinkageError", "changes_since", "full_set", "linkage_actor", "on_recorded", "pull", "push",
           "push_all", "register_consumer", "render"]

log = logging.getLogger(__name__)

COUNTER: Final = "atena"
LAYOUT: Final = "atena_linkage"
FORMATS: Final = {"json": ("application/json", "json"), "csv": ("text/csv", "csv"),
                  "fixed": ("application/octet-stream", "dat")}
MODES: Final = ("realtime", "interval", "pull")
MAX_PULL: Final = 10_000
MAX_PUSH: Final = 100_000


class LinkageError(DomainError):
    pass


def items_data() -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    data = datafiles.load("moyai.linkage", "linkage_items").entries
    return {i["id"]: i for i in data["items"]}, {s["id"]: s["name_ja"] for s in data["systems"]}


def linkage_actor(consumer_id: str) -> Principal:
    """The actor written to the access log for a push to a consumer."""
    return Principal("linkage", consumer_id, current_tenant_code(), frozenset(), frozenset())


# -- consumers ------------------------------------------------------------------------------------------


def register_consumer(consumer_id: str, *, name_ja: str, system: str, items: Sequence[str], basis: str,
                      mode: str = "pull", fmt: str = "json", outbox_dir: str = "", principal: str = "") -> LinkageConsumer:
    """Register (or re-register) a business system of the active 団体 with the items it may receive."""
    known, systems = items_data()
    unknown = [i for i in items if i not in known]
    if unknown:
        raise LinkageError("unknown_item", f"宛名連携の項目 {', '.join(unknown)} はありません", field="items")
    if system not in systems:
        raise LinkageError("unknown_system", f"業務 {system} は {', '.join(systems)} のいずれかです", field="system")
    if not basis.strip():
        raise LinkageError("no_basis", "提供の根拠（法令・条例）を入力してください", field="basis")
    specific = [i for i in items if known[i].get("specific_personal_information")]
    if specific and "番号法" not in basis and "条例" not in basis:
        raise LinkageError("no_number_basis", "個人番号を提供するには根拠に番号法の個人番号利用事務（または条例）を"
                           "示してください", field="basis")
    if mode not in MODES or fmt not in FORMATS:
        raise LinkageError("invalid", f"連携方式は {MODES}、形式は {tuple(FORMATS)} のいずれかです", field="mode")
    if mode != "pull" and not outbox_dir:
        raise LinkageError("no_outbox", "ファイルで送る連携先には出力先ディレクトリが必要です", field="outbox_dir")
    consumer, _ = LinkageConsumer.objects.update_or_create(
        consumer_id=consumer_id, defaults={"name_ja": name_ja, "system": system, "items": sorted(set(items)),
                                           "basis": basis, "mode": mode, "fmt": fmt, "outbox_dir": outbox_dir,
                                           "principal": principal, "active": True})
    return consumer


def _consumer(consumer_id: str, *, lock: bool = False) -> LinkageConsumer:
    qs = LinkageConsumer.objects.filter(consumer_id=consumer_id, active=True)
    consumer = (qs.select_for_update() if lock else qs).first()
    if consumer is None:
        raise LinkageError("unknown_consumer", f"宛名連携の連携先 {consumer_id} は登録されていません", status=404)
    return consumer


# -- the outbox -------------------------------------------------------------------------------------------


def _locked_counter() -> LinkageCounter:
    counter = LinkageCounter.objects.select_for_update().filter(name=COUNTER).first()
    if counter is None:
        try:
            with transaction.atomic():
                LinkageCounter.objects.create(name=COUNTER, last_seq=0)
        except IntegrityError:
            pass  # made by a concurrent first 本登録: lock it below
        counter = LinkageCounter.objects.select_for_update().get(name=COUNTER)
    return counter


def on_recorded(sender: object, tenant_code: str, changes: Sequence[RecordedChange], **kwargs: Any) -> None:
    """Receiver of ``moyai.residents.signals.recorded``: number the changes in the 本登録's transaction."""
    if not changes:
        return
    counter = _locked_counter()
    first = counter.last_seq + 1
    LinkageChange.objects.bulk_create([
        LinkageChange(seq=first + i, atena_no=c.atena_no, kind=c.kind, effective_date=c.effective_date,
                      event_id=c.event_id, recorded_at=c.recorded_at) for i, c in enumerate(changes)])
    LinkageCounter.objects.filter(name=COUNTER).update(last_seq=first + len(changes) - 1)
    if LinkageConsumer.objects.filter(mode="realtime", active=True).exists():
        transaction.on_commit(lambda: push_all(tenant_code, modes=("realtime",)))


# -- reading --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    tenant: str
    consumer_id: str
    kind: str  # full / diff
    after: int
    upto: int
    more: bool
    records: list[dict[str, Any]]


def _purpose(consumer: LinkageConsumer) -> str:
    return f"宛名連携 {consumer.name_ja}（根拠 {consumer.basis}）"


#: items every consumer receives whatever its list: the 支援対象者 flag, so that each business system
#: can protect a person under a 支援措置 (DV, stalking, abuse) as the registry does (7.2.3)
ALWAYS_DELIVERED = frozenset({"support_measure"})


def _shape(consumer: LinkageConsumer, record: dict[str, Any] | None, atena_no: str) -> dict[str, Any]:
    allowed = set(consumer.items) | ALWAYS_DELIVERED
    return {k: (record or {}).get(k) if k in allowed else None for k in selectors.ATENA_ITEMS} | {"atena_no": atena_no}


def changes_since(consumer: LinkageConsumer, actor: Principal, after: int, limit: int) -> Batch:
    """The changes numbered after ``after`` (at most ``limit``), with the consumer's items."""
    if after < 0:
        raise LinkageError("invalid_cursor", "after は0以上の連携番号です", field="after")
    rows = list(LinkageChange.objects.filter(seq__gt=after).order_by("seq")[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return Batch(current_tenant_code(), consumer.consumer_id, "diff", after, after, False, [])
    wanted = sorted({r.atena_no for r in rows})
    current = {r["atena_no"]: r for r in selectors.atena_records(
        actor, wanted, purpose=_purpose(consumer), individual_number="individual_number" in consumer.items)}
    records = [{"seq": r.seq, "change": r.kind, "effective_date": r.effective_date.isoformat(),
                **_shape(consumer, current.get(r.atena_no), r.atena_no)} for r in rows]
    return Batch(current_tenant_code(), consumer.consumer_id, "diff", after, rows[-1].seq, more, records)


def full_set(consumer: LinkageConsumer, actor: Principal) -> Batch:
    """Every resident and 除票 of the 団体 as of outbox number ``upto`` (writers wait meanwhile)."""
    upto = _locked_counter().last_seq
    records = [{"seq": upto, "change": "full", "effective_date": None, **_shape(consumer, r, r["atena_no"])}
               for r in selectors.atena_records(actor, None, purpose=_purpose(consumer),
                                                individual_number="individual_number" in consumer.items)]
    return Batch(current_tenant_code(), consumer.consumer_id, "full", 0, upto, False, records)


def render(batch: Batch, fmt: str, now: dt.datetime | None = None) -> bytes:
    """The batch as JSON, CSV or fixed-length Shift_JIS (layout ``atena_linkage``)."""
    if fmt == "json":
        return json.dumps({"tenant": batch.tenant, "consumer": batch.consumer_id, "kind": batch.kind,
                           "after": batch.after, "upto": batch.upto, "more": batch.more, "records": batch.records},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if fmt not in ("csv", "fixed"):
        raise LinkageError("invalid_format", f"形式 {fmt} は json・csv・fixed のいずれかです", field="format")
    lay = layout(LAYOUT)
    header = {"tenant": batch.tenant, "consumer": batch.consumer_id, "kind": batch.kind, "after_seq": batch.after,
              "upto_seq": batch.upto, "created": format_time(now or dt.datetime.now(dt.UTC))}
    rows = [{**{k: _text(v) for k, v in r.items()}, "seq": r["seq"], "gaiji": 0} for r in batch.records]
    if fmt == "csv":
        return csvbatch.write_csv(lay, header, rows)
    return fixed.write_fixed(lay, header, rows)


def _text(value: Any) -> Any:
    """Registry text for a fixed/CSV field: trailing blanks dropped (they would read back as padding)."""
    if isinstance(value, str):
        value = value.rstrip(" \u3000")
        return value or None
    return value


def _record_delivery(consumer: LinkageConsumer, batch: Batch, channel: str, fmt: str, actor: Principal,
                     file_name: str = "") -> LinkageDelivery:
    return LinkageDelivery.objects.create(
        consumer_id=consumer.consumer_id, kind=batch.kind, channel=channel, fmt=fmt, after_seq=batch.after,
        upto_seq=batch.upto, records=len(batch.records), file_name=file_name, actor=actor.label, at=timezone.now())


def pull(consumer_id: str, actor: Principal, *, after: int | None, full: bool = False, limit: int = 1000,
         fmt: str | None = None) -> tuple[Batch, bytes, str]:
    """A consumer's pull (API): (batch, body, content type). Call inside the 団体's scope."""
    consumer = _consumer(consumer_id)
    if consumer.principal and consumer.principal != actor.label:
        raise LinkageError("not_this_consumer", f"この利用者は連携先 {consumer_id} の宛名連携を取得できません", status=403)
    fmt = fmt or consumer.fmt
    if fmt not in FORMATS:
        raise LinkageError("invalid_format", f"形式 {fmt} は json・csv・fixed のいずれかです", field="format")
    if not 1 <= limit <= MAX_PULL:
        raise LinkageError("invalid_limit", f"limit は1から{MAX_PULL}です", field="limit")
    if full:
        batch = full_set(consumer, actor)
    else:
        if after is None:
            raise LinkageError("no_cursor", "異動分の取得には after（最後に反映した連携番号）が必要です。初回は全件を"
                               "取得してください", field="after")
        batch = changes_since(consumer, actor, after, limit)
    body = render(batch, fmt)
    _record_delivery(consumer, batch, "pull", fmt, actor)
    return batch, body, FORMATS[fmt][0] + ("; charset=utf-8" if fmt == "json" else "")


def _write_atomically(directory: Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=False, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def push(consumer_id: str, *, now: dt.datetime | None = None) -> LinkageDelivery | None:
    """Write the consumer's pending changes as one file to its outbox directory (inside the 団体's scope).

    Nothing pending: None. The directory cannot be written: :class:`LinkageError` and nothing
    advances (the transaction of the caller's scope is rolled back by the raise).
    """
    consumer = _consumer(consumer_id, lock=True)
    if not consumer.outbox_dir:
        raise LinkageError("no_outbox", f"連携先 {consumer_id} に出力先ディレクトリがありません")
    actor = linkage_actor(consumer_id)
    batch = changes_since(consumer, actor, consumer.cursor, MAX_PUSH)
    if not batch.records:
        return None
    tenant = current_tenant_code()
    name = f"{tenant}_{consumer_id}_{batch.after + 1:012d}-{batch.upto:012d}.{FORMATS[consumer.fmt][1]}"
    data = render(batch, consumer.fmt, now)
    try:
        _write_atomically(Path(consumer.outbox_dir), name, data)
    except OSError as exc:
        raise LinkageError("outbox_unavailable", f"連携先 {consumer.name_ja} の出力先に書けません（{type(exc).__name__}）。"
                           "次回の送信で未送信分をまとめて送ります", status=503) from None
    LinkageConsumer.objects.filter(consumer_id=consumer_id).update(cursor=batch.upto)
    return _record_delivery(consumer, batch, "push", consumer.fmt, actor, name)


def push_all(tenant_code: str, *, modes: Sequence[str] = ("realtime", "interval")) -> dict[str, str]:
    """Push every active file consumer of a 団体 (the timer, at most every ten minutes, and after commits).

    Each consumer in its own transaction; one consumer's outage does not stop the others.
    Returns consumer id → outcome (``sent <file>``, ``nothing``, or the Japanese reason).
    """
    with tenant_scope(tenant_code):
        ids = list(LinkageConsumer.objects.filter(active=True, mode__in=list(modes)).order_by("consumer_id")
                   .values_list("consumer_id", flat=True))
    out: dict[str, str] = {}
    for consumer_id in ids:
        try:
            with tenant_scope(tenant_code):
                delivery = push(consumer_id)
            out[consumer_id] = f"sent {delivery.file_name}" if delivery else "nothing"
        except LinkageError as exc:
            log.warning("宛名連携の送信に失敗しました（団体 %s、連携先 %s）: %s", tenant_code, consumer_id, exc.code)
            out[consumer_id] = exc.message
    return out
