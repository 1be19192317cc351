"""Hypothesis strategies for the 中間標準レイアウト tests: item values, JpDate, histories."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from moyai.platform.codes.checkdigits import (
    individual_number_check_digit,
    local_government_code_check_digit,
    with_mod11,
)
from moyai.platform.codes.tables import validate_relationship
from moyai.platform.codes.wareki import JpDate, JpDateError, eras
from moyai.portability.format.codecs import table_of
from moyai.portability.format.layout import ItemSpec, load_layout
from moyai.residents.domain.model import MoveEvent

LAYOUT = load_layout()
RESIDENT = LAYOUT.file("resident")
UNKNOWN = JpDate("年月日不詳", None, None, None, None, None, "不詳", True)


@functools.cache
def cp932_chars() -> tuple[str, ...]:
    """Every printable character Shift_JIS (cp932) encodes, without the user-defined (外字) area."""
    out: set[str] = set()
    for b in [*range(0x20, 0x7F), *range(0xA1, 0xE0)]:
        out.add(bytes([b]).decode("cp932"))
    for lead in [*range(0x81, 0xA0), *range(0xE0, 0xF0), *range(0xFA, 0xFD)]:
        for trail in [*range(0x40, 0x7F), *range(0x80, 0xFD)]:
            try:
                out.add(bytes([lead, trail]).decode("cp932"))
            except UnicodeDecodeError:
                pass
    return tuple(sorted(c for c in out if c.isprintable() and not 0xE000 <= ord(c) <= 0xF8FF))


@functools.cache
def jis_text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(cp932_chars()), min_size=1, max_size=max_size)


@functools.cache
def any_text(max_size: int) -> st.SearchStrategy[str]:
    """Any text a 外字-allowed item takes: no control characters, no private use area."""
    return st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co")), min_size=1, max_size=max_size)


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from("0123456789"), min_size=n, max_size=n)


def numbers(item: ItemSpec) -> st.SearchStrategy[str]:
    if item.check == "individual_number":
        return _digits(11).map(lambda b: b + str(individual_number_check_digit(b)))
    if item.check == "local_government_code":
        return _digits(5).map(lambda b: b + str(local_government_code_check_digit(b)))
    if item.check == "mod11":
        return _digits(item.length - 1).map(with_mod11)
    if item.fixed:
        return _digits(item.length)
    return st.integers(1, item.length).flatmap(_digits)


@st.composite
def jp_dates(draw: st.DrawFn, *, era: bool | None = None, qualified: bool = True, fuzzy: bool = True) -> JpDate:
    """A JpDate as the registry keeps them (和暦 or 西暦, 不詳 forms, non-calendar days)."""
    if fuzzy and draw(st.integers(0, 19)) == 0:
        return UNKNOWN
    in_era = draw(st.booleans()) if era is None else era
    era_key: str | None = None
    if in_era:
        e = draw(st.sampled_from(eras()))
        era_key = e.key
        year = draw(st.integers(e.start.year, e.end.year if e.end else e.start.year + 80))
    else:
        year = draw(st.integers(1, 9999))
    shape = draw(st.sampled_from(["ymd", "ym", "y"])) if fuzzy else "ymd"
    month = draw(st.integers(1, 12)) if shape != "y" else None
    day = None
    if shape == "ymd":
        last = 31 if fuzzy else calendar.monthrange(year, month or 1)[1]
        day = draw(st.integers(1, last))
    choices: list[str | None] = [None]
    if qualified:
        choices += {"y": ["頃", "不詳"], "ym": ["頃", "上旬", "中旬", "下旬", "不詳"], "ymd": ["頃"]}[shape]
    qualifier = draw(st.sampled_from(choices))
    try:
        return JpDate.of(year=year, month=month, day=day, era=era_key, qualifier=qualifier)
    except JpDateError:
        assume(False)
        raise


@functools.cache
def relationships() -> tuple[str, ...]:
    table = LAYOUT.code_table("relationship_terms")
    chain = [e.label for e in table.entries.values() if e.get("chainable")]
    alone = [e.label for e in table.entries.values() if not e.get("chainable")]
    out = set(alone) | set(chain)
    for a in chain:
        for b in chain:
            out.add(f"{a}の{b}")
            out.add(f"子の{a}の{b}")
            out.add(f"{a}の{b}の母の子")
    return tuple(sorted(r for r in out if validate_relationship(r) is None))


_STRATEGIES: dict[tuple[str, str, str, int], st.SearchStrategy[Any]] = {}


def item_values(item: ItemSpec) -> st.SearchStrategy[Any]:
    """Values (never None) that ``item`` can hold (strategies are built once per item)."""
    key = (item.id, item.name, item.type, item.length)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = _item_values(item)
    return _STRATEGIES[key]


def _item_values(item: ItemSpec) -> st.SearchStrategy[Any]:
    t = item.type
    if t == "文字":
        size = min(item.length, 30)
        return any_text(size) if item.gaiji else jis_text(size)
    if t == "数字":
        return numbers(item)
    if t == "日付":
        if item.fuzzy:
            return jp_dates(era=False, qualified=False)
        return st.dates(min_value=dt.date(1, 1, 1))
    if t == "和暦日付":
        return jp_dates(era=True, qualified=False, fuzzy=item.fuzzy)
    if t == "フラグ":
        return st.booleans()
    if t == "コード":
        return st.sampled_from(table_of(item).codes())
    if t == "続柄":
        return st.sampled_from(relationships())
    raise AssertionError(t)


# --- histories -----------------------------------------------------------------------------------

BASE = dt.datetime(2020, 1, 1, 0, 30, tzinfo=dt.UTC)
_JSON = st.builds(lambda d: dict(d.to_json()), jp_dates())


@functools.cache
def _changes(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    hh = numbers(RESIDENT.item("household_no"))
    pool: dict[str, st.SearchStrategy[Any]] = {
        "family_name": any_text(8),
        "given_name": any_text(8),
        "family_kana": jis_text(8),
        "address": any_text(20),
        "katagaki": st.none() | any_text(10),
        "postal_code": numbers(RESIDENT.item("postal_code")),
        "household_no": hh,
        "relationship": st.sampled_from(relationships()),
        "order_in_household": st.integers(1, 9),
        "birth_date": _JSON,
        "became_resident_on": _JSON,
        "address_set_on": _JSON,
        "death_date": _JSON,
        "sex": st.sampled_from(["1", "2"]),
        "kana_confirmed": st.booleans(),
        "resident_kind": st.sampled_from(["japanese", "foreign"]),
        "name_alpha": jis_text(20),
        "nationality": st.sampled_from(["ベトナム", "中国", "ブラジル"]),
        "foreign_category": st.sampled_from(["1", "2", "中長期在留者"]),
        "residence_status": st.sampled_from(["19", "13", "永住者"]),
        "stay_expiry": st.dates(dt.date(2000, 1, 1), dt.date(2040, 1, 1)).map(dt.date.isoformat),
        "foreign_resident_since": st.dates(dt.date(2012, 7, 9), dt.date(2030, 1, 1)).map(dt.date.isoformat),
        "individual_number": numbers(RESIDENT.item("individual_number")),
        "memo": st.none() | any_text(30),
        "next_address": any_text(20),
    }
    if kind in ("move_in", "birth", "ex_officio_entry"):
        return st.fixed_dictionaries(
            {
                "family_name": pool["family_name"],
                "address": pool["address"],
                "household_no": hh,
                "relationship": pool["relationship"],
            },
            optional={
                k: v for k, v in pool.items() if k not in ("family_name", "address", "household_no", "relationship")
            },
        )
    if kind == "cancellation":
        return st.just({})
    return st.fixed_dictionaries({}, optional=pool)


_KINDS = [
    "move_in",
    "birth",
    "ex_officio_entry",
    "move_within",
    "ex_officio_correction",
    "minor_correction",
    "head_change",
    "move_out_planned",
    "move_out",
    "death",
    "ex_officio_removal",
    "restoration",
    "cancellation",
]
# Reasons other than a kind's default: Moyai records them only on the kind an import derives
# for them (the 記載 / 消除 / 修正 category's kind), so only those kinds get them here.
_OTHER_REASONS = {
    "create": ["102", "105", "110"],
    "remove": ["202", "204", "206", "210"],
    "update": ["304", "308", "312"],
}
_FALLBACK_KINDS = frozenset(LAYOUT.history.kind_by_category.values())


@st.composite
def histories(draw: st.DrawFn, atena_no: str = "0000000019") -> list[MoveEvent]:
    """One person's 異動: a 記載, then random 異動 with random 異動日 (back-dated ones too, but
    none before the first 記載, which the rules refuse), cancellations, removals and re-entries,
    and now and then a reason other than the kind's default."""
    from moyai.residents.domain.model import kind_spec

    n = draw(st.integers(0, 8))
    start = dt.date(1990, 1, 1) + dt.timedelta(days=draw(st.integers(0, 9000)))
    first = draw(st.sampled_from(["move_in", "birth", "ex_officio_entry"]))
    events = [
        MoveEvent(1, atena_no, first, kind_spec(first).reason, start, start, BASE, "clerk1", draw(_changes(first)), 1)
    ]
    for i in range(n):
        kind = draw(st.sampled_from(_KINDS))
        eff = start + dt.timedelta(days=draw(st.integers(0, 9000)))  # nothing before the first 記載
        rec = BASE + dt.timedelta(days=draw(st.integers(0, 2)), hours=i + 1)
        rec = max(rec, events[-1].recorded_at)
        spec = kind_spec(kind)
        reason = spec.reason
        if kind in _FALLBACK_KINDS and draw(st.booleans()):
            reason = draw(st.sampled_from(_OTHER_REASONS[spec.effect.value]))
        notified = draw(st.none() | st.just(eff))
        cancels = draw(st.sampled_from(events)).event_id if kind == "cancellation" else None
        staff = draw(st.sampled_from(["clerk1", "clerk2", "demo"]))
        events.append(
            MoveEvent(i + 2, atena_no, kind, reason, eff, notified, rec, staff, draw(_changes(kind)), i + 2, cancels)
        )
    return events
