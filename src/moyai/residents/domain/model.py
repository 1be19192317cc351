"""住民記録 (resident registry) domain: items, 異動 (move events) and their replay.

Pure Python. The 異動 store is the source of truth: every change is an appended
:class:`MoveEvent` carrying

- ``effective_date`` — 異動日, the date the change takes effect in the world;
- ``notified_date`` — 届出日;
- ``recorded_at`` — 記録日時, when it was entered (本登録).

A resident's record is rebuilt by :func:`replay` for any pair (as of an effective date, as
recorded at a moment), which makes the history bitemporal: a 職権修正 recorded today for a date
last year changes what we now know about last year, while "as recorded" last month still
shows what the registry said then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from moyai.platform.codes.datafiles import load
from moyai.platform.codes.wareki import format_wareki, parse_jp_date

JST = ZoneInfo("Asia/Tokyo")  # 処理日 is the date in Japan of the recording


class Effect(StrEnum):
    CREATE = "create"  # 記載
    REMOVE = "remove"  # 消除
    RESTORE = "restore"  # 回復
    UPDATE = "update"  # 修正
    CANCEL = "cancel"  # 異動の取消し


class Status(StrEnum):
    RESIDENT = "resident"  # 住民
    REMOVED = "removed"  # 消除 (the 除票 is kept)


@dataclass(frozen=True)
class KindSpec:
    kind: str
    label: str
    effect: Effect
    reason: str
    approval: bool
    future_allowed: bool
    items: frozenset[str]

    def allows(self, item: str) -> bool:
        if item in STATUS_ITEMS:
            return False
        return "*" in self.items or item in self.items


@functools.cache
def kinds() -> dict[str, KindSpec]:
    """The 異動 kinds, from ``residents/data/move_kinds.yaml``."""
    out: dict[str, KindSpec] = {}
    for e in load("moyai.residents", "move_kinds").entries:
        out[e["kind"]] = KindSpec(
            kind=e["kind"],
            label=e["label"],
            effect=Effect(e["effect"]),
            reason=str(e["reason"]),
            approval=bool(e["approval"]),
            future_allowed=bool(e["future_allowed"]),
            items=frozenset(e["items"]),
        )
    return out


def kind_spec(kind: str) -> KindSpec:
    try:
        return kinds()[kind]
    except KeyError:
        raise ValueError(f"異動の種類 {kind} は定義されていません") from None


# Items maintained by replay itself, never set by a payload.
STATUS_ITEMS = frozenset({"atena_no", "status", "removal_kind", "removed_on"})


@dataclass(frozen=True)
class PersonState:
    """All items of one resident's 住民票 at one point of the history (住基法 第7条, 第30条の45).

    Dates a 戸籍 may hold in non-calendar or 不詳 form (生年月日, 住民となった年月日,
    住所を定めた年月日) are kept as ``JpDate`` JSON (see ``moyai.platform.codes.wareki``), the
    和暦 as entered. Other dates are ISO strings.
    """

    atena_no: str  # 宛名番号 (団体内統合宛名番号 as well: every business module keys on it)
    status: str = Status.RESIDENT
    removal_kind: str | None = None  # kind of the 消除 event
    removed_on: str | None = None  # 消除 date (ISO)
    household_no: str | None = None  # 世帯番号
    relationship: str | None = None  # 続柄
    order_in_household: int | None = None
    resident_kind: str = "japanese"  # 住民種別: japanese 日本人住民 / foreign 外国人住民
    family_name: str = ""  # 氏
    given_name: str = ""  # 名
    family_kana: str = ""  # 氏フリガナ
    given_kana: str = ""  # 名フリガナ
    kana_confirmed: bool = False  # フリガナ確認済み
    former_surname: str | None = None  # 旧氏
    former_surname_kana: str | None = None
    name_alpha: str | None = None  # アルファベット氏名 (外国人住民)
    alias: str | None = None  # 通称
    alias_kana: str | None = None
    combined_name: str | None = None  # 併記名
    birth_date: Mapping[str, Any] | None = None  # 生年月日 (JpDate JSON)
    sex: str | None = None  # 性別 code
    honseki: str | None = None  # 本籍
    hittousha: str | None = None  # 筆頭者
    became_resident_on: Mapping[str, Any] | None = None  # 住民となった年月日 (JpDate JSON)
    address: str | None = None  # 住所
    katagaki: str | None = None  # 方書
    postal_code: str | None = None  # 郵便番号
    address_code: str | None = None  # 住所コード
    address_set_on: Mapping[str, Any] | None = None  # 住所を定めた年月日 (JpDate JSON)
    previous_address: str | None = None  # 前住所 (転入前住所, incl. abroad)
    next_address: str | None = None  # 転出先
    next_postal_code: str | None = None
    death_date: Mapping[str, Any] | None = None  # 死亡日 (JpDate JSON)
    individual_number: str | None = None  # 個人番号
    resident_code: str | None = None  # 住民票コード
    nationality: str | None = None  # 国籍・地域
    foreign_category: str | None = None  # 外国人住民の区分 (中長期在留者…)
    residence_status: str | None = None  # 在留資格
    period_of_stay: str | None = None  # 在留期間等
    stay_expiry: str | None = None  # 在留期間の満了の日 (ISO, shown in 西暦)
    residence_card_no: str | None = None  # 在留カード等の番号
    foreign_resident_since: str | None = None  # 外国人住民となった年月日 (ISO)
    memo: str | None = None  # 備考

    @property
    def is_resident(self) -> bool:
        return self.status == Status.RESIDENT

    @property
    def display_name(self) -> str:
        if self.resident_kind == "foreign" and not self.family_name:
            return self.name_alpha or ""
        return f"{self.family_name}　{self.given_name}".strip("　")

    @property
    def display_kana(self) -> str:
        return f"{self.family_kana}　{self.given_kana}".strip("　")

    def as_dict(self) -> dict[str, Any]:
        # Shallow: item values are immutable or JSON mappings that are never mutated.
        return {name: getattr(self, name) for name in _FIELD_NAMES}


ITEM_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PersonState))
_FIELD_NAMES = ITEM_NAMES
_FIELD_SET: frozenset[str] = frozenset(ITEM_NAMES)
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(PersonState)
                             if f.default is not dataclasses.MISSING}


def state_from_dict(fields: Mapping[str, Any]) -> PersonState:
    """``PersonState(**fields)`` (a stored projection's ``state``) without the 45-argument
    ``__init__``: the defaults, then the given items, copied into the instance's dictionary
    (≈ 1.7 µs instead of 7.5). A name that is not an item, or no ``atena_no``, goes through the
    constructor, which raises ``TypeError`` as before."""
    if "atena_no" not in fields or not fields.keys() <= _FIELD_SET:
        return PersonState(**fields)
    out = object.__new__(PersonState)
    d = out.__dict__
    d.update(_DEFAULTS)
    d.update(fields)
    return out
SETTABLE_ITEMS = frozenset(ITEM_NAMES) - STATUS_ITEMS


@dataclass(frozen=True)
class MoveEvent:
    """One appended 異動 record for one resident. Never updated, never deleted."""

    event_id: int
    atena_no: str
    kind: str
    reason_code: str  # 異動事由コード
    effective_date: dt.date  # 異動日
    notified_date: dt.date | None  # 届出日
    recorded_at: dt.datetime  # 記録日時 (本登録)
    staff: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    group_id: int = 0  # events of one 届出 / 職権 decision share a group
    cancels: int | None = None  # for a cancellation: the event it voids

    @property
    def spec(self) -> KindSpec:
        return kind_spec(self.kind)


def apply_event(state: PersonState | None, ev: MoveEvent) -> PersonState | None:
    spec = ev.spec
    changes = {k: v for k, v in ev.changes.items() if k in SETTABLE_ITEMS}
    if spec.effect == Effect.CREATE:
        if state is not None and state.status == Status.RESIDENT:
            # A second 記載 of a living record: keep the newest items (e.g. 再転入 on the same 宛名番号).
            return dataclasses.replace(state, **changes)
        base = state if state is not None else PersonState(atena_no=ev.atena_no)
        return dataclasses.replace(base, status=Status.RESIDENT, removal_kind=None, removed_on=None, **changes)
    if state is None:
        return None  # nothing to change before the record exists
    if spec.effect == Effect.REMOVE:
        return dataclasses.replace(
            state, status=Status.REMOVED, removal_kind=ev.kind, removed_on=ev.effective_date.isoformat(), **changes
        )
    if spec.effect == Effect.RESTORE:
        return dataclasses.replace(state, status=Status.RESIDENT, removal_kind=None, removed_on=None, **changes)
    if spec.effect == Effect.UPDATE:
        if ev.kind == "move_within" and "address" in changes and changes["address"] != state.address:
            changes.setdefault("previous_address", state.address)
            changes.setdefault("address_set_on", jp_date_json(ev.effective_date))
        return dataclasses.replace(state, **changes)
    return state  # cancellations change nothing by themselves


def jp_date_json(d: dt.date) -> dict[str, Any]:
    """JpDate JSON of a calendar date set by the system (shown in 和暦)."""
    return dict(parse_jp_date(format_wareki(d)).to_json())


def effective_events(events: Iterable[MoveEvent], recorded_at: dt.datetime | None = None) -> list[MoveEvent]:
    """The events known at ``recorded_at`` (all if None), minus cancelled ones, in replay order.

    Replay order is (異動日, 記録日時, id): a later-recorded correction for an earlier date
    is applied at its 異動日, before changes that took effect after it.
    """
    known = [e for e in events if recorded_at is None or e.recorded_at <= recorded_at]
    cancelled = {e.cancels for e in known if e.cancels is not None}
    live = [e for e in known if e.event_id not in cancelled and e.kind != "cancellation"]
    live.sort(key=lambda e: (e.effective_date, e.recorded_at, e.event_id))
    return live


def replay(
    events: Iterable[MoveEvent], as_of: dt.date | None = None, recorded_at: dt.datetime | None = None
) -> PersonState | None:
    """One resident's record as of an effective date, as recorded at a moment (both optional)."""
    state: PersonState | None = None
    for ev in effective_events(events, recorded_at):
        if as_of is not None and ev.effective_date > as_of:
            break
        state = apply_event(state, ev)
    return state


@dataclass(frozen=True)
class HistoryRow:
    """A row of the standard's full history: one per (宛名番号, 履歴番号), all items."""

    atena_no: str
    history_no: int  # 履歴番号, from 1
    event_id: int
    kind: str
    reason_code: str  # 異動事由
    effective_date: dt.date  # 異動日
    notified_date: dt.date | None  # 届出日
    processed_on: dt.date  # 処理日
    recorded_at: dt.datetime
    cancelled: bool
    items: PersonState | None


def history_rows(events: Sequence[MoveEvent]) -> list[HistoryRow]:
    """The standard's history rows, in order of recording.

    Row *n* holds every item as the registry stood right after the *n*-th recorded event,
    as of that event's 異動日. A cancelled event keeps its row, marked ``cancelled``.
    """
    ordered = sorted(events, key=lambda e: (e.recorded_at, e.event_id))
    cancelled_ids = {e.cancels for e in ordered if e.cancels is not None}
    rows: list[HistoryRow] = []
    for n, ev in enumerate(ordered, start=1):
        known = ordered[:n]
        items = replay(known, as_of=ev.effective_date if ev.kind != "cancellation" else None)
        rows.append(
            HistoryRow(
                atena_no=ev.atena_no,
                history_no=n,
                event_id=ev.event_id,
                kind=ev.kind,
                reason_code=ev.reason_code,
                effective_date=ev.effective_date,
                notified_date=ev.notified_date,
                processed_on=ev.recorded_at.astimezone(JST).date(),
                recorded_at=ev.recorded_at,
                cancelled=ev.event_id in cancelled_ids,
                items=items,
            )
        )
    return rows


def first_effective_date(events: Iterable[MoveEvent]) -> dt.date | None:
    """異動日 of the first 記載 of the record (the resident 'exists' from then on)."""
    dates = [e.effective_date for e in effective_events(events) if e.spec.effect == Effect.CREATE]
    return min(dates) if dates else None
