"""Formatting for the counter screens: 和暦 dates, code labels, what each 異動 changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moyai.platform.codes.tables import code_table
from moyai.platform.codes.wareki import JpDate, format_wareki
from moyai.residents.domain.model import HistoryRow, PersonState, kind_spec
from moyai.residents.domain.rules import label

#: items a clerk reads on the detail screen, in the order of the 住民票.
DETAIL_ITEMS = (
    "family_name", "given_name", "family_kana", "given_kana", "birth_date", "sex", "relationship", "address",
    "katagaki", "postal_code", "became_resident_on", "address_set_on", "previous_address", "next_address",
    "death_date", "honseki", "hittousha", "nationality", "residence_status", "stay_expiry",
)
#: items never shown on a screen without a purpose (個人番号 is only shown masked).
HIDDEN_ITEMS = frozenset({"individual_number", "resident_code", "residence_card_no", "memo"})


def date_text(value: Any, resident_kind: str = "japanese") -> str:
    """A JpDate JSON, ISO text or date as shown: 和暦 (西暦 for 外国人住民, 標準仕様書 1.1.9)."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.date):
        return value.isoformat().replace("-", "/") if resident_kind == "foreign" else format_wareki(value)
    if isinstance(value, Mapping):
        d = JpDate.from_json(value)
        return d.seireki_text() if resident_kind == "foreign" else d.wareki_text()
    try:
        return date_text(dt.date.fromisoformat(str(value)), resident_kind)
    except ValueError:
        return str(value)


def sex_label(code: str | None) -> str:
    if not code:
        return ""
    table = code_table("sex")
    return table.label(code) if table.has(code) else code


def status_label(status: str) -> str:
    return {"resident": "住民", "removed": "消除（除票）"}.get(status, status)


def item_value(state: PersonState, item: str) -> str:
    value = getattr(state, item, None)
    if item in ("birth_date", "became_resident_on", "address_set_on", "death_date", "stay_expiry"):
        return date_text(value, state.resident_kind)
    if item == "sex":
        return sex_label(value)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Item:
    label: str
    value: str


def detail_items(state: PersonState) -> list[Item]:
    return [Item(label(i), v) for i in DETAIL_ITEMS if (v := item_value(state, i))]


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class TimelineEntry:
    history_no: int
    kind_label: str
    effective: str
    notified: str
    recorded_at: dt.datetime
    cancelled: bool
    current: bool  # the entry in force on the date asked about
    changes: list[Change]
    effective_date: dt.date


def timeline(rows: Sequence[HistoryRow], as_of: dt.date | None) -> list[TimelineEntry]:
    """History rows, newest first, with what each changed compared with the row before it."""
    on = as_of or dt.date.max
    live = [r for r in rows if not r.cancelled]
    in_force = max((r.history_no for r in live if r.effective_date <= on), default=None)
    out: list[TimelineEntry] = []
    previous: PersonState | None = None
    for r in sorted(rows, key=lambda r: r.history_no):
        changes: list[Change] = []
        if r.items is not None:
            for item in DETAIL_ITEMS:
                after = item_value(r.items, item)
                before = item_value(previous, item) if previous is not None else ""
                if after != before:
                    changes.append(Change(label(item), before, after))
            if not r.cancelled:
                previous = r.items
        kind = kind_spec(r.kind).label
        out.append(TimelineEntry(r.history_no, kind, date_text(r.effective_date), date_text(r.notified_date),
                                 r.recorded_at, r.cancelled, r.history_no == in_force, changes, r.effective_date))
    out.reverse()
    return out
