"""The 中間標準レイアウト files as data: ``moyai/portability/data/jyuki_layout.yaml``.

The YAML has the shape of the published tables (file-composition table, data-item list per file,
code lists); :func:`load_layout` reads it with the one data-file loader and validates it (unique
item ids and names, consecutive item numbers, known types, known code tables and check-digit
methods, keys that name items, consistent multi-item fields).  Any defect raises
:class:`~moyai.platform.codes.datafiles.DataFileError` with a Japanese message naming the file,
the layout file and the item.  Replacing the YAML by the official tables is a data change.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from moyai.platform.codes import datafiles
from moyai.platform.codes.datafiles import DataFileError
from moyai.platform.codes.tables import CodeEntry, CodeTable, code_table_from_data
from moyai.platform.codes.wareki import eras
from moyai.residents.domain.model import kinds

__all__ = [
    "CHECKS",
    "LENGTH_UNITS",
    "PARTS",
    "TYPES",
    "CodeListSpec",
    "FileSpec",
    "HistoryRules",
    "ItemSpec",
    "Layout",
    "load_layout",
    "parse_layout",
]

PACKAGE: Final = "moyai.portability"
LAYOUT_NAME: Final = "jyuki_layout"

#: Item types (the codecs of :mod:`moyai.portability.format.codecs`).
TYPES: Final = ("文字", "数字", "日付", "和暦日付", "フラグ", "コード", "続柄")
#: Check-digit methods of 数字 items.
CHECKS: Final = ("individual_number", "mod11", "local_government_code")
#: How lengths are counted: 文字 (one character = 1, full or half width) or バイト (cp932 bytes).
LENGTH_UNITS: Final = ("文字", "バイト")
#: Parts of a field written as several items (a date that may be 不詳).
PARTS: Final = ("wareki", "seireki", "qualifier")
_CODED_TYPES: Final = ("コード", "続柄")
_ERA_TABLE: Final = "eras"


@dataclass(frozen=True)
class ItemSpec:
    """One row of a data-item list (データ項目一覧表)."""

    no: int
    name: str  # standard item name: the CSV header
    id: str  # PersonState field or history/household field
    type: str
    length: int
    required: bool
    gaiji: bool  # 外字 may appear
    source: str
    ref: str = ""
    fixed: bool = False
    code_table: str | None = None  # code list id
    check: str | None = None
    fuzzy: bool = False
    part_of: str | None = None
    part: str | None = None
    value_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""
    unit: str = "文字"  # the layout's length unit, copied for the codecs


@dataclass(frozen=True)
class FileSpec:
    """One row of the file-composition table (移行ファイル構成表) with its items."""

    id: str
    name: str
    file_name: str
    keys: tuple[str, ...]
    description: str
    items: tuple[ItemSpec, ...]

    def item(self, item_id: str) -> ItemSpec:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(f"{self.file_name} に項目 {item_id} はありません")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(it.id for it in self.items)

    @property
    def header(self) -> tuple[str, ...]:
        """The standard item names, in column order."""
        return tuple(it.name for it in self.items)


@dataclass(frozen=True)
class CodeListSpec:
    """A code list (コード一覧) of the layout, backed by an existing code table."""

    id: str
    name: str
    table: str
    package: str


@dataclass(frozen=True)
class HistoryRules:
    """How history rows become 異動 (see :mod:`.mapping`)."""

    resident_status: str
    other_removal_status: str
    status_by_removal_reason: Mapping[str, str]
    kind_by_category: Mapping[str, str]


@dataclass(frozen=True)
class Layout:
    title: str
    version: str
    effective_from: dt.date
    source: str
    length_unit: str
    sources: tuple[str, ...]
    code_lists: tuple[CodeListSpec, ...]
    files: tuple[FileSpec, ...]
    history: HistoryRules
    tables: Mapping[str, CodeTable]  # code list id → table

    def file(self, file_id: str) -> FileSpec:
        for f in self.files:
            if f.id == file_id:
                return f
        raise KeyError(f"レイアウトにファイル {file_id} はありません")

    def code_table(self, code_list_id: str) -> CodeTable:
        return self.tables[code_list_id]


# --- validation helpers -------------------------------------------------------------------------


def _need(raw: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    value = raw.get(key)
    if isinstance(value, bool) and typ is not bool and not (isinstance(typ, tuple) and bool in typ):
        raise DataFileError(f"{where}: {key} の型が正しくありません")
    if not isinstance(value, typ):
        raise DataFileError(f"{where}: {key} がないか型が正しくありません")
    return value


def _opt(raw: Mapping[str, Any], key: str, typ: type, where: str, default: Any = None) -> Any:
    if raw.get(key) is None:
        return default
    return _need(raw, key, typ, where)


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise DataFileError(f"{where} がマッピングではありません")
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list) or not raw:
        raise DataFileError(f"{where} は空でないリストです")
    return raw


def _era_table() -> CodeTable:
    """The 年号 code list: 2-digit layout codes of ``eras.yaml``."""
    df = datafiles.load("moyai.platform.codes", _ERA_TABLE)
    entries = {
        e.layout_code: CodeEntry(code=e.layout_code, label=e.kanji, extra=MappingProxyType({"key": e.key}))
        for e in eras()
    }
    return CodeTable(
        name=_ERA_TABLE,
        title="年号",
        version=df.version,
        effective_from=df.effective_from,
        source=df.source,
        entries=MappingProxyType(entries),
    )


def _load_table(spec: CodeListSpec, where: str) -> CodeTable:
    if spec.table == _ERA_TABLE and spec.package == "moyai.platform.codes":
        return _era_table()
    try:
        return code_table_from_data(datafiles.load(spec.package, spec.table))
    except DataFileError as exc:
        raise DataFileError(f"{where}: コード表 {spec.package}/{spec.table} を読めません（{exc}）") from exc


def _code_lists(raw: Any, path: str) -> tuple[tuple[CodeListSpec, ...], dict[str, CodeTable]]:
    specs: list[CodeListSpec] = []
    tables: dict[str, CodeTable] = {}
    for i, entry in enumerate(_list(raw, f"{path}: code_lists")):
        where = f"{path}: code_lists[{i}]"
        entry = _mapping(entry, where)
        spec = CodeListSpec(
            id=_need(entry, "id", str, where),
            name=_need(entry, "name", str, where),
            table=_need(entry, "table", str, where),
            package=_need(entry, "package", str, where),
        )
        if spec.id in tables:
            raise DataFileError(f"{where}: コード表ID {spec.id} が重複しています")
        tables[spec.id] = _load_table(spec, where)
        specs.append(spec)
    return tuple(specs), tables


def _item(raw: Any, where: str, unit: str, sources: tuple[str, ...], tables: Mapping[str, CodeTable]) -> ItemSpec:
    raw = _mapping(raw, where)
    value_map = _opt(raw, "value_map", dict, where, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value_map.items()):
        raise DataFileError(f"{where}: value_map は文字列から文字列へのマッピングです")
    item = ItemSpec(
        no=_need(raw, "item_no", int, where),
        name=_need(raw, "name", str, where),
        id=_need(raw, "id", str, where),
        type=_need(raw, "type", str, where),
        length=_need(raw, "length", int, where),
        required=_need(raw, "required", bool, where),
        gaiji=_need(raw, "gaiji", bool, where),
        source=_need(raw, "source", str, where),
        ref=str(_opt(raw, "ref", str, where, "")),
        fixed=bool(_opt(raw, "fixed", bool, where, False)),
        code_table=_opt(raw, "code_table", str, where),
        check=_opt(raw, "check", str, where),
        fuzzy=bool(_opt(raw, "fuzzy", bool, where, False)),
        part_of=_opt(raw, "part_of", str, where),
        part=_opt(raw, "part", str, where),
        value_map=MappingProxyType(dict(value_map)),
        note=str(_opt(raw, "note", str, where, "")),
        unit=unit,
    )
    at = f"{where}（{item.name}）"
    if item.type not in TYPES:
        raise DataFileError(f"{at}: 型 {item.type} は使えません（{'、'.join(TYPES)}）")
    if item.length < 1:
        raise DataFileError(f"{at}: 桁数は1以上です")
    if item.source not in sources:
        raise DataFileError(f"{at}: 出典 {item.source} は sources にありません")
    if item.type in _CODED_TYPES:
        if item.code_table is None:
            raise DataFileError(f"{at}: 型 {item.type} にはコード表が必要です")
        if item.code_table not in tables:
            raise DataFileError(f"{at}: コード表 {item.code_table} は code_lists にありません")
    elif item.code_table is not None:
        raise DataFileError(f"{at}: 型 {item.type} の項目にコード表は指定できません")
    if item.check is not None and (item.check not in CHECKS or item.type != "数字"):
        raise DataFileError(f"{at}: 検査用数字 {item.check} は使えません（数字の項目に {'、'.join(CHECKS)}）")
    if item.fuzzy and item.type not in ("日付", "和暦日付"):
        raise DataFileError(f"{at}: fuzzy は日付の項目だけです")
    if item.type == "和暦日付" and item.length != 8:
        raise DataFileError(f"{at}: 和暦日付は8桁です（年号2桁+年月日6桁）")
    if item.type == "日付" and item.length != 8:
        raise DataFileError(f"{at}: 日付は8桁です（YYYYMMDD）")
    if (item.part_of is None) != (item.part is None) or (item.part is not None and item.part not in PARTS):
        raise DataFileError(f"{at}: part_of と part（{'、'.join(PARTS)}）は両方指定します")
    if item.value_map:
        if item.type != "コード" or item.code_table is None:
            raise DataFileError(f"{at}: value_map はコードの項目だけです")
        missing = [c for c in item.value_map.values() if not tables[item.code_table].has(c)]
        if missing:
            raise DataFileError(f"{at}: value_map のコード {'、'.join(missing)} がコード表にありません")
    return item


def _check_parts(items: tuple[ItemSpec, ...], where: str) -> None:
    """A field written in parts has exactly one item per part, the 和暦/西暦 parts are fuzzy dates."""
    groups: dict[str, dict[str, ItemSpec]] = {}
    for it in items:
        if it.part_of is not None and it.part is not None:
            parts = groups.setdefault(it.part_of, {})
            if it.part in parts:
                raise DataFileError(f"{where}: {it.part_of} の {it.part} が重複しています")
            parts[it.part] = it
    expected = {"wareki": "和暦日付", "seireki": "日付", "qualifier": "コード"}
    for name, parts in groups.items():
        if set(parts) != set(PARTS):
            raise DataFileError(f"{where}: {name} には {'、'.join(PARTS)} の3項目が必要です")
        for part, it in parts.items():
            if it.type != expected[part]:
                raise DataFileError(f"{where}: {it.name} の型は {expected[part]} です")
        if not (parts["wareki"].fuzzy and parts["seireki"].fuzzy):
            raise DataFileError(f"{where}: {name} の日付の項目は fuzzy: true です")
        if parts["qualifier"].code_table != "date_qualifier":
            raise DataFileError(f"{where}: {parts['qualifier'].name} のコード表は date_qualifier です")


def _file(raw: Any, where: str, unit: str, sources: tuple[str, ...], tables: Mapping[str, CodeTable]) -> FileSpec:
    raw = _mapping(raw, where)
    fid = _need(raw, "id", str, where)
    at = f"{where}（{fid}）"
    items = tuple(
        _item(r, f"{at}: items[{i}]", unit, sources, tables)
        for i, r in enumerate(_list(raw.get("items"), f"{at}: items"))
    )
    for attr, label in (("id", "項目ID"), ("name", "項目名")):
        seen: set[str] = set()
        for it in items:
            value = getattr(it, attr)
            if value in seen:
                raise DataFileError(f"{at}: {label} {value} が重複しています")
            seen.add(value)
    if [it.no for it in items] != list(range(1, len(items) + 1)):
        raise DataFileError(f"{at}: 項目番号は1から順に連続していなければなりません")
    keys = tuple(_need(raw, "keys", list, at))
    ids = {it.id for it in items}
    if not keys or any(not isinstance(k, str) or k not in ids for k in keys):
        raise DataFileError(f"{at}: keys は項目IDのリストです")
    _check_parts(items, at)
    return FileSpec(
        id=fid,
        name=_need(raw, "name", str, at),
        file_name=_need(raw, "file_name", str, at),
        keys=keys,
        description=str(_opt(raw, "description", str, at, "")).strip(),
        items=items,
    )


def _history(raw: Any, path: str, tables: Mapping[str, CodeTable]) -> HistoryRules:
    where = f"{path}: history"
    raw = _mapping(raw, where)
    status_table = tables.get("resident_status")
    reasons = tables.get("move_reasons")
    if status_table is None or reasons is None:
        raise DataFileError(f"{where}: code_lists に resident_status と move_reasons が必要です")
    rules = HistoryRules(
        resident_status=_need(raw, "resident_status", str, where),
        other_removal_status=_need(raw, "other_removal_status", str, where),
        status_by_removal_reason=MappingProxyType(dict(_mapping(raw.get("status_by_removal_reason"), where))),
        kind_by_category=MappingProxyType(dict(_mapping(raw.get("kind_by_category"), where))),
    )
    for reason, status in rules.status_by_removal_reason.items():
        if not reasons.has(str(reason)) or not status_table.has(str(status)):
            raise DataFileError(f"{where}: status_by_removal_reason {reason}: {status} のコードがコード表にありません")
    for code in (rules.resident_status, rules.other_removal_status):
        if not status_table.has(code):
            raise DataFileError(f"{where}: 住民状態 {code} がコード表にありません")
    known_kinds = kinds()
    bad = [k for k in rules.kind_by_category.values() if k not in known_kinds]
    if bad:
        raise DataFileError(
            f"{where}: kind_by_category の異動の種類 {'、'.join(map(str, bad))} は move_kinds にありません"
        )
    categories = {e.get("category") for e in reasons.entries.values()}
    if set(rules.kind_by_category) != categories:
        raise DataFileError(
            f"{where}: kind_by_category は異動事由の区分 {'、'.join(sorted(map(str, categories)))} ごとに必要です"
        )
    return rules


def parse_layout(df: datafiles.DataFile) -> Layout:
    """Validate and build a :class:`Layout` from a loaded data file."""
    path = df.path
    if df.kind != "layout":
        raise DataFileError(f"{path}: kind が layout ではありません")
    entries = _mapping(df.entries, f"{path}: entries")
    unit = _need(entries, "length_unit", str, path)
    if unit not in LENGTH_UNITS:
        raise DataFileError(f"{path}: length_unit は {'、'.join(LENGTH_UNITS)} のどれかです")
    sources = tuple(_list(entries.get("sources"), f"{path}: sources"))
    code_lists, tables = _code_lists(entries.get("code_lists"), path)
    files = tuple(
        _file(r, f"{path}: files[{i}]", unit, sources, tables)
        for i, r in enumerate(_list(entries.get("files"), f"{path}: files"))
    )
    for attr in ("id", "file_name"):
        values = [getattr(f, attr) for f in files]
        if len(set(values)) != len(values):
            raise DataFileError(f"{path}: ファイルの {attr} が重複しています")
    return Layout(
        title=_need(entries, "title", str, path),
        version=df.version,
        effective_from=df.effective_from,
        source=df.source,
        length_unit=unit,
        sources=sources,
        code_lists=code_lists,
        files=files,
        history=_history(entries.get("history"), path, tables),
        tables=MappingProxyType(tables),
    )


@functools.cache
def load_layout() -> Layout:
    """The 住民基本台帳 layout (``moyai.portability/data/jyuki_layout.yaml``), validated, read once."""
    return parse_layout(datafiles.load(PACKAGE, LAYOUT_NAME))
