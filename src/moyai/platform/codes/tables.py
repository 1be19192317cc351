"""Code tables (コード表) read from ``data/*.yaml`` and the 続柄 (relationship to the head of
household) validator.

A code table file has ``kind: code_table`` and entries of the form::

    entries:
      title: 性別                 # Japanese title, used in messages (「性別コード 9 は性別コード表にありません」)
      codes:
        - {code: "1", label: 男}  # code is always a quoted string; any further keys are kept
        - {code: "2", label: 女}
      # any further keys of ``entries`` are kept in ``CodeTable.extras``

Codes are strings (never YAML numbers, which would lose leading zeros).  An entry may list
``aliases`` (older or alternative labels) that :meth:`CodeTable.find` also accepts.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from moyai.platform.codes import datafiles

__all__ = [
    "MAX_RELATIONSHIP_LINKS",
    "CodeEntry",
    "CodeTable",
    "CodeTableError",
    "code_table",
    "code_table_from_data",
    "normalize_relationship",
    "validate_relationship",
]

PACKAGE: Final = "moyai.platform.codes"
RELATIONSHIP_TABLE: Final = "relationship_terms"
#: 続柄 chains are at most four links joined by 「の」 (住民記録システム標準仕様書 1.1.11).
MAX_RELATIONSHIP_LINKS: Final = 4


class CodeTableError(ValueError):
    """An unknown code or label; ``message`` is the reason in Japanese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CodeEntry:
    code: str
    label: str
    aliases: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, key: str, default: Any = None) -> Any:
        """An extra field of the entry (e.g. ``category`` of a 異動事由)."""
        return self.extra.get(key, default)


@dataclass(frozen=True)
class CodeTable:
    name: str
    title: str  # Japanese title: 性別, 続柄, 異動事由 …
    version: str
    effective_from: dt.date
    source: str
    entries: Mapping[str, CodeEntry]  # code → entry, in file order
    extras: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def has(self, code: str) -> bool:
        return code in self.entries

    def codes(self) -> list[str]:
        return list(self.entries)

    def entry(self, code: str) -> CodeEntry:
        try:
            return self.entries[code]
        except KeyError:
            raise CodeTableError(f"{self.title}コード {code} は{self.title}コード表にありません") from None

    def label(self, code: str) -> str:
        return self.entry(code).label

    def find(self, label: str) -> CodeEntry | None:
        """The entry whose label or one of whose aliases is ``label`` (None when none)."""
        for entry in self.entries.values():
            if entry.label == label or label in entry.aliases:
                return entry
        return None

    def code_for(self, label: str) -> str:
        """Code of a label or alias (e.g. an old 在留資格 name on import)."""
        entry = self.find(label)
        if entry is None:
            raise CodeTableError(f"「{label}」は{self.title}コード表にありません")
        return entry.code


def code_table_from_data(df: datafiles.DataFile) -> CodeTable:
    """Check and build a :class:`CodeTable` from a loaded data file."""
    where = df.path
    if df.kind != "code_table":
        raise datafiles.DataFileError(f"{where}: kind が code_table ではありません")
    raw = df.entries
    if not isinstance(raw, dict):
        raise datafiles.DataFileError(f"{where}: entries は title と codes のマッピングです")
    title = raw.get("title")
    codes = raw.get("codes")
    if not isinstance(title, str) or not title:
        raise datafiles.DataFileError(f"{where}: entries.title がありません")
    if not isinstance(codes, list) or not codes:
        raise datafiles.DataFileError(f"{where}: entries.codes は空でないリストです")
    entries: dict[str, CodeEntry] = {}
    labels: set[str] = set()
    for i, item in enumerate(codes):
        at = f"{where}: entries.codes[{i}]"
        if not isinstance(item, dict):
            raise datafiles.DataFileError(f"{at} がマッピングではありません")
        code, label = item.get("code"), item.get("label")
        if not isinstance(code, str) or not code:
            raise datafiles.DataFileError(f"{at}: code は引用符で囲んだ文字列です")
        if not isinstance(label, str) or not label:
            raise datafiles.DataFileError(f"{at}: label がありません")
        aliases = item.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise datafiles.DataFileError(f"{at}: aliases は文字列のリストです")
        if code in entries:
            raise datafiles.DataFileError(f"{at}: code {code} が重複しています")
        for name in (label, *aliases):
            if name in labels:
                raise datafiles.DataFileError(f"{at}: 名称 {name} が重複しています")
            labels.add(name)
        extra = {k: v for k, v in item.items() if k not in ("code", "label", "aliases")}
        entries[code] = CodeEntry(code=code, label=label, aliases=tuple(aliases), extra=MappingProxyType(extra))
    extras = {k: v for k, v in raw.items() if k not in ("title", "codes")}
    return CodeTable(
        name=df.name,
        title=title,
        version=df.version,
        effective_from=df.effective_from,
        source=df.source,
        entries=MappingProxyType(entries),
        extras=MappingProxyType(extras),
    )


@functools.cache
def code_table(name: str) -> CodeTable:
    """The code table ``data/<name>.yaml`` of this package (read once)."""
    return code_table_from_data(datafiles.load(PACKAGE, name))


# --- 続柄 (relationship to the head of household) ------------------------------------------------

_PAREN: Final = str.maketrans({"(": "（", ")": "）"})


def normalize_relationship(text: str) -> str:
    """NFKC, no spaces, parentheses in full width: 「妻(未届)」 → 「妻（未届）」."""
    s = unicodedata.normalize("NFKC", text)
    return "".join(s.split()).translate(_PAREN)


@functools.cache
def _relationship_vocabulary() -> tuple[frozenset[str], frozenset[str], Mapping[str, str]]:
    """(chainable terms, standalone terms, unused word → suggested chain)."""
    table = code_table(RELATIONSHIP_TABLE)
    chainable = frozenset(e.label for e in table.entries.values() if e.get("chainable") is True)
    standalone = frozenset(e.label for e in table.entries.values() if e.get("chainable") is False)
    unused_raw = table.extras.get("unused_terms", [])
    unused: dict[str, str] = {}
    for item in unused_raw if isinstance(unused_raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("term"), str):
            unused[item["term"]] = str(item.get("suggest", ""))
    return chainable, standalone, MappingProxyType(unused)


def _unused_message(term: str, suggest: str) -> str:
    if suggest:
        return f'"{term}" は続柄に使えません（例: {suggest}）'
    return f'"{term}" は続柄に使えません'


def validate_relationship(text: str) -> str | None:
    """None when ``text`` is a valid 続柄, else the reason in Japanese.

    Valid: 世帯主, 縁故者 or 同居人 alone; or base terms (夫, 妻, 夫（未届）, 妻（未届）, 子, 父, 母,
    兄, 姉, 弟, 妹, 子の夫, 子の妻) joined by 「の」 into at most four links, the links counted
    mechanically (子の夫の子 is three).  Words such as 祖父, 孫 or 甥 are not used: the message
    suggests the chain (孫 → 子の子).  Half-width parentheses are accepted.
    """
    s = normalize_relationship(text)
    if not s:
        return "続柄が入力されていません"
    chainable, standalone, unused = _relationship_vocabulary()
    if s in standalone or s in chainable:
        return None
    if s in unused:
        return _unused_message(s, unused[s])
    links = s.split("の")
    if len(links) == 1:
        return f'"{s}" は続柄の語ではありません'
    if any(not link for link in links):
        return f'"{s}" は続柄として読めません'
    for link in links:
        if link in standalone:
            return f'"{s}" は続柄に使えません（"{link}" は単独で使います）'
        if link in unused:
            return _unused_message(link, unused[link])
        if link not in chainable:
            return f'"{s}" は続柄に使えません（"{link}" は続柄の語ではありません）'
    if len(links) > MAX_RELATIONSHIP_LINKS:
        return (
            f'"{s}" は続柄に使えません（「の」でつなげるのは{MAX_RELATIONSHIP_LINKS}世代まで、'
            "それを超えるときは縁故者）"
        )
    return None
