"""PersonState ⇄ the item values of the 住民 file; households; the code-list file.

Values are what :mod:`.codecs` reads and writes (``str`` for 数字 and コード, ``datetime.date``,
``JpDate``, ``bool``); this module turns them into the domain's forms and back:

- 数字 fields held as ``int`` (世帯内順位) and ISO date strings (消除日, 在留期間の満了の日,
  外国人住民となった年月日) are converted;
- a コード item with a ``value_map`` (住民種別: japanese ⇄ 1) is mapped; a code item whose stored
  value is a label or an alias of its table (外国人住民区分 「特別永住者」, an old 在留資格 name) is
  written as the code — the meaning is kept, the form becomes the code;
- 住民状態 and 消除事由 carry ``status`` and ``removal_kind``: 住民状態 is the layout's resident
  code, or for a 除票 the code of its 消除事由 (``history.status_by_removal_reason``); 消除事由 is the
  異動事由 of the row that removed the record, read back as the 異動 kind of that reason;
- a date the standard allows to be 不詳 (``part_of``) is three items: 和暦 (as entered in 和暦),
  西暦 (as entered in 西暦) and 不詳区分 (頃, 上旬, 中旬, 下旬, 不詳).  年月日不詳 is written
  ``00000000`` in the 和暦 item with 不詳区分 5.  The JpDate JSON round-trips exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from moyai.platform.codes.tables import CodeTable
from moyai.platform.codes.wareki import JpDate, JpDateError
from moyai.residents.domain.fast_replay import make_state
from moyai.residents.domain.model import ITEM_NAMES, Effect, PersonState, Status, kind_spec, kinds

from .codecs import FieldError, table_of
from .layout import FileSpec, ItemSpec, Layout, load_layout
from .problems import Problem, ProblemKind

__all__ = [
    "CODE_FILE",
    "HISTORY_ITEMS",
    "HOUSEHOLD_FILE",
    "INT_ITEMS",
    "ISO_DATE_ITEMS",
    "RESIDENT_FILE",
    "UNSTORED_ITEMS",
    "check_households",
    "code_list_rows",
    "households_to_rows",
    "join_jp_date",
    "kind_for_reason",
    "person_to_values",
    "split_jp_date",
    "values_to_person",
]

RESIDENT_FILE: Final = "resident"
HOUSEHOLD_FILE: Final = "household"
CODE_FILE: Final = "code"
#: Items of the 住民 file about the row (the 異動), not about the person.
HISTORY_ITEMS: Final = frozenset(
    {
        "tenant_code",
        "history_no",
        "reason_code",
        "effective_date",
        "notified_date",
        "processed_on",
        "staff",
        "cancels_history_no",
        "cancelled",
        "support_measure",
    }
)
#: Items the layout has and Moyai cannot store yet (reported on import when set): none since
#: 支援措置対象フラグ became a 仮支援措置 on import.
UNSTORED_ITEMS: Final = frozenset[str]()
INT_ITEMS: Final = frozenset({"order_in_household", "history_no", "cancels_history_no", "member_count"})
ISO_DATE_ITEMS: Final = frozenset({"removed_on", "stay_expiry", "foreign_resident_since"})
_SPECIAL: Final = frozenset({"atena_no", "status", "removal_kind", "removed_on"})  # set by _status
_FIELDS: Final = frozenset(ITEM_NAMES)
#: PersonState fields whose empty value is "" rather than None (氏, 名, フリガナ).
_EMPTY: Final = {f.name: "" for f in dataclasses.fields(PersonState) if f.default == ""}
#: Every field of a PersonState with its default (a record is built from it and the row's values).
_BLANK: Final = dict(vars(PersonState(atena_no="")))


def _layout(layout: Layout | None) -> Layout:
    return layout or load_layout()


_KIND_FOR_REASON: dict[tuple[int, str], tuple[Layout, str]] = {}


def kind_for_reason(code: str, layout: Layout | None = None) -> str:
    """The 異動 kind of a 異動事由: the kind whose default reason it is, else by its category."""
    lay = _layout(layout)
    cached = _KIND_FOR_REASON.get((id(lay), code))
    if cached is not None and cached[0] is lay:
        return cached[1]
    kind = _kind_for_reason(code, lay)
    _KIND_FOR_REASON[(id(lay), code)] = (lay, kind)
    return kind


def _kind_for_reason(code: str, lay: Layout) -> str:
    for kind, spec in kinds().items():
        if spec.reason == code:
            return kind
    category = lay.code_table("move_reasons").entry(code).get("category")
    return lay.history.kind_by_category[str(category)]


# --- 不詳 dates ----------------------------------------------------------------------------------------

_JSON_KEYS: Final = ("text", "year", "month", "day", "era", "era_year", "qualifier", "calendar_valid")


_QUALIFIER_CODES: dict[int, tuple[CodeTable, dict[str, str], dict[str, str]]] = {}


def _qualifier_codes(table: CodeTable) -> tuple[dict[str, str], dict[str, str]]:
    """(qualifier → code, code → qualifier) of the 日付不詳区分 table (worked out once per table)."""
    cached = _QUALIFIER_CODES.get(id(table))
    if cached is None or cached[0] is not table:
        to_code = {str(e.get("qualifier", e.label)): e.code for e in table.entries.values()}
        cached = (table, to_code, {c: q for q, c in to_code.items()})
        _QUALIFIER_CODES[id(table)] = cached
    return cached[1], cached[2]


@functools.lru_cache(maxsize=65536)
def _split(key: tuple[Any, ...]) -> tuple[JpDate | None, JpDate | None, str | None]:
    """(和暦 part, 西暦 part, qualifier) of a JpDate JSON given as the tuple of its values."""
    jd = JpDate.from_json(dict(zip(_JSON_KEYS, key, strict=True)))
    if jd.year is None:
        return jd, None, jd.qualifier
    bare = JpDate.of(year=jd.year, month=jd.month, day=jd.day, era=jd.era)
    return (bare, None, jd.qualifier) if jd.era is not None else (None, bare, jd.qualifier)


def split_jp_date(
    value: Mapping[str, Any] | None, qualifier_item: ItemSpec
) -> tuple[JpDate | None, JpDate | None, str | None]:
    """(和暦 part, 西暦 part, 不詳区分 code) of a JpDate JSON (JpDateError if it is not one)."""
    if value is None:
        return None, None, None
    if set(value) != set(_JSON_KEYS):
        JpDate.from_json(value)  # raises with the reason
    wareki, seireki, qualifier = _split(tuple(value[k] for k in _JSON_KEYS))
    to_code, _ = _qualifier_codes(table_of(qualifier_item))
    return wareki, seireki, (to_code[qualifier] if qualifier is not None else None)


@functools.lru_cache(maxsize=65536)
def _join(base: JpDate, qualifier: str | None) -> dict[str, Any]:
    """JpDate JSON of a date part and a qualifier (shared, read-only: like the generator's)."""
    if base.year is None:
        if qualifier not in (None, "不詳"):
            raise JpDateError(f"年月日不詳に不詳区分「{qualifier}」は使えません")
        return dict(base.to_json())
    jd = JpDate.of(year=base.year, month=base.month, day=base.day, era=base.era, qualifier=qualifier)
    return dict(jd.to_json())


def join_jp_date(
    wareki: JpDate | None, seireki: JpDate | None, code: str | None, qualifier_item: ItemSpec
) -> dict[str, Any] | None:
    """The JpDate JSON of the three items (FieldError on the 不詳区分 item when they disagree)."""
    if wareki is not None and seireki is not None:
        raise FieldError(qualifier_item, "和暦と西暦の両方に日付があります", ProblemKind.INCONSISTENT)
    base = wareki or seireki
    if base is None:
        if code is not None:
            raise FieldError(qualifier_item, "日付がないのに不詳区分があります", ProblemKind.INCONSISTENT, code)
        return None
    _, to_qualifier = _qualifier_codes(table_of(qualifier_item))
    qualifier = to_qualifier[code] if code is not None else None
    try:
        return _join(base, qualifier)
    except JpDateError as exc:
        reason = f"{base.text}に不詳区分「{qualifier}」は使えません（{exc.message}）"
        raise FieldError(qualifier_item, reason, ProblemKind.DATE, code) from None


# --- the conversion plan of a layout -------------------------------------------------------------------

_Convert = Callable[[ItemSpec, Any], Any]


def _identity_out(item: ItemSpec, value: Any) -> Any:
    return None if value is None or value == "" else value  # the file cannot tell "" from absent


def _identity_in(item: ItemSpec, value: Any) -> Any:
    return _EMPTY.get(item.id) if value is None else value


def _int_out(item: ItemSpec, value: Any) -> Any:
    return None if value is None else str(value)


def _int_in(item: ItemSpec, value: Any) -> Any:
    return None if value is None else int(value)


def _iso_out(item: ItemSpec, value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise FieldError(item, f"日付ではありません: {value}", ProblemKind.DATE, str(value)) from None


def _iso_in(item: ItemSpec, value: Any) -> Any:
    return None if value is None else value.isoformat()


def _code_out(item: ItemSpec, value: Any) -> Any:
    if value is None or value == "":
        return None
    if item.value_map:
        try:
            return item.value_map[str(value)]
        except KeyError:
            raise FieldError(item, f"値 {value} に対応するコードがありません", ProblemKind.CODE, str(value)) from None
    table = table_of(item)
    text = str(value)
    if table.has(text):
        return text
    entry = table.find(text)  # a label or an alias: written as its code
    if entry is None:
        raise FieldError(item, f"「{text}」は{table.title}コード表にありません", ProblemKind.CODE, text)
    return entry.code


def _code_in(item: ItemSpec, value: Any) -> Any:
    if value is None or not item.value_map:
        return value
    for internal, code in item.value_map.items():
        if code == value:
            return internal
    raise FieldError(
        item, f"コード {value} は使えません（{'、'.join(item.value_map.values())}）", ProblemKind.CODE, value
    )


@dataclass(frozen=True)
class _Plan:
    """How each person item of the 住民 file converts, worked out once per layout."""

    spec: FileSpec
    plain: tuple[tuple[ItemSpec, _Convert, _Convert], ...]  # (item, to value, to PersonState)
    # the plain items split for speed: (id, empty value) of those that convert as they are, and the others
    identity: tuple[tuple[str, Any], ...]
    converted: tuple[tuple[ItemSpec, _Convert, _Convert], ...]
    dates: tuple[tuple[str, ItemSpec, ItemSpec, ItemSpec], ...]  # (field, 和暦, 西暦, 不詳区分)
    person_items: tuple[ItemSpec, ...]  # every item about the person, except 宛名番号
    status: ItemSpec
    reason: ItemSpec
    removed_on: ItemSpec
    required: tuple[ItemSpec, ...]  # required on a row with a record


def _converters(item: ItemSpec) -> tuple[_Convert, _Convert]:
    if item.id in INT_ITEMS:
        return _int_out, _int_in
    if item.id in ISO_DATE_ITEMS:
        return _iso_out, _iso_in
    if item.type == "コード":
        return _code_out, _code_in
    return _identity_out, _identity_in


_PLANS: dict[int, tuple[Layout, _Plan]] = {}


def _plan(layout: Layout | None) -> tuple[Layout, _Plan]:
    lay = layout or load_layout()
    cached = _PLANS.get(id(lay))
    if cached is not None and cached[0] is lay:
        return cached
    spec = lay.file(RESIDENT_FILE)
    person = tuple(it for it in spec.items if it.id not in HISTORY_ITEMS and it.id != "atena_no")
    plain = tuple((it, *_converters(it)) for it in person if it.part is None and it.id not in _SPECIAL)
    groups: dict[str, dict[str, ItemSpec]] = {}
    for it in spec.items:
        if it.part_of is not None and it.part is not None:
            groups.setdefault(it.part_of, {})[it.part] = it
    plan = _Plan(
        spec=spec,
        plain=plain,
        identity=tuple((it.id, _EMPTY.get(it.id)) for it, out, _ in plain if out is _identity_out),
        converted=tuple(p for p in plain if p[1] is not _identity_out),
        dates=tuple((f, g["wareki"], g["seireki"], g["qualifier"]) for f, g in groups.items()),
        person_items=person,
        status=spec.item("status"),
        reason=spec.item("removal_kind"),
        removed_on=spec.item("removed_on"),
        required=(spec.item("resident_kind"), spec.item("kana_confirmed")),
    )
    _PLANS[id(lay)] = (lay, plan)
    return lay, plan


# --- PersonState → values --------------------------------------------------------------------------------


def _removal_code(state: PersonState, removal_reason: str | None) -> str | None:
    if state.status != Status.REMOVED:
        return None
    if removal_reason is not None:
        return removal_reason
    return kind_spec(str(state.removal_kind)).reason if state.removal_kind else None


def person_to_values(
    state: PersonState | None,
    *,
    removal_reason: str | None = None,
    layout: Layout | None = None,
    previous: tuple[PersonState | None, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The values of the person items of the 住民 file (all None when there is no record).

    ``removal_reason`` is the 異動事由 of the 異動 that removed a 除票 (default: the default
    reason of its ``removal_kind``).  ``previous``: (a record, its values) — an item whose value is
    the very object the previous record held is not converted again (a person's next history
    row).  Raises :class:`FieldError` for a value that cannot be written.
    """
    lay, plan = _plan(layout)
    if state is None:
        return {it.id: None for it in plan.person_items} | {"atena_no": None}
    fields = vars(state)
    out: dict[str, Any] = {"atena_no": state.atena_no}
    code = _removal_code(state, removal_reason)
    rules = lay.history
    out[plan.status.id] = (
        rules.resident_status if code is None else rules.status_by_removal_reason.get(code, rules.other_removal_status)
    )
    out[plan.reason.id] = code
    out[plan.removed_on.id] = _iso_out(plan.removed_on, state.removed_on)
    before: Mapping[str, Any] | None = None
    done: Mapping[str, Any] = {}
    if previous is not None and previous[0] is not None:
        before, done = vars(previous[0]), previous[1]
    for iid, _ in plan.identity:  # _identity_out inline: "" and None are both absent
        value = fields[iid]
        out[iid] = None if value is None or value == "" else value
    for item, to_value, _ in plan.converted:
        iid = item.id
        value = fields[iid]
        if before is not None and before[iid] is value:
            out[iid] = done[iid]
        else:
            out[iid] = to_value(item, value)
    for field, wareki, seireki, qualifier in plan.dates:
        value = fields[field]
        if before is not None and before[field] is value:
            out[wareki.id], out[seireki.id], out[qualifier.id] = done[wareki.id], done[seireki.id], done[qualifier.id]
            continue
        try:
            out[wareki.id], out[seireki.id], out[qualifier.id] = split_jp_date(value, qualifier)
        except JpDateError as exc:
            raise FieldError(wareki, exc.message, ProblemKind.DATE) from None
    return out


# --- values → PersonState --------------------------------------------------------------------------------


def _status(values: Mapping[str, Any], plan: _Plan, lay: Layout) -> tuple[str, str | None, str | None]:
    """(status, removal_kind, removed_on) after checking 住民状態, 消除事由 and 消除日 agree."""
    status, reason, removed_on = values.get("status"), values.get("removal_kind"), values.get("removed_on")
    rules = lay.history
    if status == rules.resident_status:
        for item, v in ((plan.reason, reason), (plan.removed_on, removed_on)):
            if v is not None:
                text = "住民の記録（除票でない）に消除の項目があります"
                raise FieldError(item, text, ProblemKind.INCONSISTENT, str(v))
        return Status.RESIDENT, None, None
    if reason is None:
        raise FieldError(plan.reason, "除票には消除事由が必要です", ProblemKind.REQUIRED)
    if removed_on is None:
        raise FieldError(plan.removed_on, "除票には消除日が必要です", ProblemKind.REQUIRED)
    kind = kind_for_reason(reason, lay)
    if kind_spec(kind).effect != Effect.REMOVE:
        raise FieldError(plan.reason, f"異動事由 {reason} は消除の事由ではありません", ProblemKind.INCONSISTENT, reason)
    expected = rules.status_by_removal_reason.get(reason, rules.other_removal_status)
    if status != expected:
        text = f"消除事由 {reason} の住民状態は {expected} です"
        raise FieldError(plan.status, text, ProblemKind.INCONSISTENT, str(status))
    return Status.REMOVED, kind, removed_on.isoformat()


def values_to_person(values: Mapping[str, Any], *, layout: Layout | None = None) -> PersonState | None:
    """The PersonState of a row's values (None when 住民状態 is empty: no record at that date).

    Raises :class:`FieldError` when items contradict each other.
    """
    lay, plan = _plan(layout)
    if values.get("status") is None:
        for item in plan.person_items:
            if values.get(item.id) is not None:
                raise FieldError(item, "住民状態が空（記録のない行）なのに値があります", ProblemKind.INCONSISTENT)
        return None
    for item in plan.required:
        if values.get(item.id) is None:
            raise FieldError(item, "記録のある行では必須です", ProblemKind.REQUIRED)
    status, removal_kind, removed_on = _status(values, plan, lay)
    fields: dict[str, Any] = {
        "atena_no": values["atena_no"],
        "status": status,
        "removal_kind": removal_kind,
        "removed_on": removed_on,
    }
    get = values.get
    for iid, empty in plan.identity:  # _identity_in inline
        value = get(iid)
        fields[iid] = empty if value is None else value
    for item, _, to_field in plan.converted:
        fields[item.id] = to_field(item, get(item.id))
    for field, wareki, seireki, qualifier in plan.dates:
        fields[field] = join_jp_date(values.get(wareki.id), values.get(seireki.id), values.get(qualifier.id), qualifier)
    unknown = fields.keys() - _FIELDS
    if unknown:
        raise FieldError(plan.spec.item(sorted(unknown)[0]), "PersonState にない項目です", ProblemKind.TYPE)
    return make_state({**_BLANK, **fields})


# --- households ---------------------------------------------------------------------------------------------


class HouseholdMember(Protocol):
    """What the 世帯 file reads of a record (a :class:`PersonState`, or the stored items of one)."""

    @property
    def atena_no(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def household_no(self) -> str | None: ...
    @property
    def relationship(self) -> str | None: ...
    @property
    def order_in_household(self) -> int | None: ...
    @property
    def postal_code(self) -> str | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def katagaki(self) -> str | None: ...
    @property
    def address_code(self) -> str | None: ...


_M = TypeVar("_M", bound=HouseholdMember)


def _members(states: Iterable[_M]) -> dict[str, list[_M]]:
    out: dict[str, list[_M]] = {}
    for s in states:
        if s.status == Status.RESIDENT and s.household_no:
            out.setdefault(s.household_no, []).append(s)
    for members in out.values():
        members.sort(key=lambda s: (s.order_in_household if s.order_in_household is not None else 10**6, s.atena_no))
    return out


def _head(members: list[_M]) -> _M | None:
    heads = [m for m in members if m.relationship == "世帯主"]
    return heads[0] if len(heads) == 1 else None


def households_to_rows(
    states: Iterable[HouseholdMember], *, tenant_code: str, layout: Layout | None = None
) -> list[dict[str, Any]]:
    """Values of the 世帯 file: one row per household with current residents, by 世帯番号.

    The household's address is its 世帯主's (or its first member's when it has none).
    Raises :class:`FieldError` for a household with two 世帯主 (the registry is inconsistent).
    """
    spec = _layout(layout).file(HOUSEHOLD_FILE)
    rows: list[dict[str, Any]] = []
    for household_no, members in sorted(_members(states).items()):
        if sum(1 for m in members if m.relationship == "世帯主") > 1:
            raise FieldError(
                spec.item("head_atena_no"),
                f"世帯 {household_no} に世帯主が2人以上います",
                ProblemKind.INCONSISTENT,
                household_no,
            )
        head = _head(members)
        where = head or members[0]
        rows.append(
            {
                "tenant_code": tenant_code,
                "household_no": household_no,
                "head_atena_no": head.atena_no if head else None,
                "member_count": str(len(members)),
                "postal_code": where.postal_code,
                "address": where.address,
                "katagaki": where.katagaki,
                "address_code": where.address_code,
            }
        )
    return rows


def check_households(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    persons: Mapping[str, PersonState],
    *,
    file: str | None = None,
    layout: Layout | None = None,
) -> list[Problem]:
    """Problems between the 世帯 file and the current records (``persons``: 宛名番号 → record).

    Each household row must have members, its 世帯員数, its 世帯主 (at most one, the one named)
    and its address must agree with them; each current resident's 世帯 must have a row.
    """
    spec = _layout(layout).file(HOUSEHOLD_FILE)
    name = file or spec.file_name
    members_of = _members(persons.values())
    problems: list[Problem] = []
    seen: set[str] = set()

    def add(row: int | None, item_id: str, value: Any, reason: str, kind: ProblemKind) -> None:
        item = spec.item(item_id)
        problems.append(Problem(name, row, item.name, None if value is None else str(value), reason, kind, item_id))

    for row, v in rows:
        hh = str(v["household_no"])
        if hh in seen:
            add(row, "household_no", hh, f"世帯番号 {hh} の行が2つあります", ProblemKind.DUPLICATE_KEY)
            continue
        seen.add(hh)
        members = members_of.get(hh, [])
        if not members:
            add(row, "household_no", hh, "この世帯に属する住民がいません", ProblemKind.REFERENCE)
            continue
        if int(v["member_count"]) != len(members):
            add(
                row,
                "member_count",
                v["member_count"],
                f"世帯員数が住民の記録（{len(members)}人）と合いません",
                ProblemKind.INCONSISTENT,
            )
        heads = [m.atena_no for m in members if m.relationship == "世帯主"]
        if len(heads) > 1:
            add(
                row,
                "head_atena_no",
                v.get("head_atena_no"),
                f"世帯主が2人以上います（{'、'.join(heads)}）",
                ProblemKind.INCONSISTENT,
            )
        elif v.get("head_atena_no") is not None and v["head_atena_no"] not in persons:
            add(
                row,
                "head_atena_no",
                v["head_atena_no"],
                "世帯主の宛名番号が住民の記録にありません",
                ProblemKind.REFERENCE,
            )
        elif (heads[0] if heads else None) != v.get("head_atena_no"):
            add(
                row,
                "head_atena_no",
                v.get("head_atena_no"),
                "世帯主が住民の記録の続柄と合いません",
                ProblemKind.INCONSISTENT,
            )
        where = _head(members) or members[0]
        for item_id in ("postal_code", "address", "katagaki", "address_code"):
            if v.get(item_id) != getattr(where, item_id):
                add(row, item_id, v.get(item_id), "世帯の住所が世帯員の住所と合いません", ProblemKind.INCONSISTENT)
    for hh in sorted(set(members_of) - seen):
        add(None, "household_no", hh, f"住民の世帯番号 {hh} の行が世帯ファイルにありません", ProblemKind.REFERENCE)
    return problems


# --- code lists -----------------------------------------------------------------------------------------------


def code_list_rows(layout: Layout | None = None) -> list[dict[str, Any]]:
    """Values of the コード一覧 file: every code of every code list of the layout."""
    lay = _layout(layout)
    return [
        {"code_list": cl.id, "code_list_name": cl.name, "code": entry.code, "label": entry.label}
        for cl in lay.code_lists
        for entry in lay.code_table(cl.id).entries.values()
    ]
