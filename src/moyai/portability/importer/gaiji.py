"""The 外字対応表 (gaiji mapping file) a migration's staff supply to resolve vendor 外字.

A 外字 here is a character of a Unicode private use area (U+E000–F8FF, planes 15–16): a glyph a
vendor defined for itself, which no other system can read.  The import never changes one by
itself; each is reported (file, row, item) until the staff say which standard characters it
stands for, in a CSV file of this form (UTF-8 with or without BOM; a header line, then one
row per 外字)::

    外字コード,置換文字,備考
    U+E001,髙,はしご高
    U+E002,𠮷,つちよし
    U+E003,葛󠄀,IVS 付きの葛

- ``外字コード``: ``U+`` and 4 to 6 hexadecimal digits, a private-use code point; each at most once;
- ``置換文字``: the replacement, one or more characters (an ideographic variation sequence is
  allowed), none of them private-use or a control character;
- ``備考``: optional, free text (not used).

:func:`parse_gaiji_map` reads the text and raises :class:`GaijiMapError` listing every problem
(row, item, value, Japanese reason); :func:`load_gaiji_map` reads a file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from moyai.portability.format import Problem, ProblemKind

__all__ = [
    "GAIJI_MAP_HEADER",
    "GaijiMap",
    "GaijiMapError",
    "format_gaiji_map",
    "is_private_use",
    "load_gaiji_map",
    "parse_gaiji_map",
]

GAIJI_MAP_HEADER: Final = ("外字コード", "置換文字")
_OPTIONAL: Final = ("備考",)
_CODE: Final = re.compile(r"U\+([0-9A-Fa-f]{4,6})")
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
PRIVATE_USE: Final = re.compile("[\ue000-\uf8ff\U000f0000-\U0010ffff]")


def is_private_use(ch: str) -> bool:
    return PRIVATE_USE.fullmatch(ch) is not None


class GaijiMapError(ValueError):
    """The mapping file cannot be used; ``problems`` names every defect."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems[:3])))
        self.problems = problems


@dataclass(frozen=True)
class GaijiMap:
    """外字 (one private-use character) → its replacement text."""

    entries: Mapping[str, str] = field(default_factory=dict)
    file: str = ""

    def __len__(self) -> int:
        return len(self.entries)

    def table(self) -> dict[int, str]:
        """For ``str.translate``."""
        return {ord(k): v for k, v in self.entries.items()}


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GaijiMapError(
            [Problem(name, None, None, None, f"外字対応表 {name} は UTF-8 で保存してください", ProblemKind.ENCODING)]
        ) from None


def parse_gaiji_map(text: str, name: str = "外字対応表") -> GaijiMap:
    """Read the text of a mapping file (see the module docstring)."""
    problems: list[Problem] = []

    def add(row: int | None, item: str | None, value: str | None, reason: str, kind: ProblemKind) -> None:
        problems.append(Problem(name, row, item, value, reason, kind))

    reader = csv.reader(io.StringIO(text, newline=""), dialect="excel", strict=True)
    entries: dict[str, str] = {}
    first_row: dict[str, int] = {}
    try:
        header = next(reader, None)
        if header is None:
            add(None, None, None, "外字対応表が空です（ヘッダ行「外字コード,置換文字」が必要です）", ProblemKind.HEADER)
            raise GaijiMapError(problems)
        for col in GAIJI_MAP_HEADER:
            if col not in header:
                add(1, col, None, f"項目「{col}」の列がありません", ProblemKind.MISSING_COLUMN)
        for col in header:
            if col not in GAIJI_MAP_HEADER + _OPTIONAL:
                add(1, col, None, f"項目「{col}」は外字対応表の項目ではありません", ProblemKind.EXTRA_COLUMN)
        if len(set(header)) != len(header):
            add(1, None, None, "同じ項目がヘッダに2回あります", ProblemKind.DUPLICATE_COLUMN)
        if problems:
            raise GaijiMapError(problems)
        ci, ri = header.index(GAIJI_MAP_HEADER[0]), header.index(GAIJI_MAP_HEADER[1])
        start = reader.line_num + 1
        for fields in reader:
            row, start = start, reader.line_num + 1
            if len(fields) != len(header):
                add(row, None, None, f"項目の数が{len(fields)}個です（ヘッダは{len(header)}個）", ProblemKind.FIELD_COUNT)
                continue
            code, repl = fields[ci], fields[ri]
            m = _CODE.fullmatch(code)
            if m is None:
                add(row, "外字コード", code, "外字コードは U+ と16進数4〜6桁で書きます（例 U+E001）", ProblemKind.TYPE)
                continue
            cp = int(m.group(1), 16)
            if cp > 0x10FFFF or not is_private_use(chr(cp)):
                add(row, "外字コード", code, "外字コードが私用領域（U+E000〜F8FF、U+F0000〜）の文字ではありません",
                    ProblemKind.GAIJI)
                continue
            ch = chr(cp)
            if repl == "":
                add(row, "置換文字", repl, "置換文字が空です", ProblemKind.REQUIRED)
            elif _CONTROL.search(repl) is not None:
                add(row, "置換文字", repl, "置換文字に制御文字（改行・タブなど）は使えません", ProblemKind.CHARSET)
            elif PRIVATE_USE.search(repl) is not None:
                add(row, "置換文字", repl, "置換文字に外字（私用領域の文字）は使えません", ProblemKind.GAIJI)
            elif ch in entries:
                add(row, "外字コード", code, f"外字コード {code} が2回あります（{first_row[ch]}行目）",
                    ProblemKind.DUPLICATE_KEY)
            else:
                entries[ch] = repl
                first_row[ch] = row
    except csv.Error as exc:
        add(reader.line_num, None, None, f"CSV の引用符の使い方が正しくありません（{exc}）", ProblemKind.CSV_SYNTAX)
    if problems:
        raise GaijiMapError(problems)
    return GaijiMap(entries, name)


def load_gaiji_map(path: str | Path) -> GaijiMap:
    p = Path(path)
    return parse_gaiji_map(_decode(p.read_bytes(), p.name), p.name)


def format_gaiji_map(entries: Mapping[str, str]) -> str:
    """The text of a mapping file for ``entries`` (used by tests and to hand a template to staff)."""
    buf = io.StringIO()
    w = csv.writer(buf, dialect="excel", lineterminator="\r\n")
    w.writerow(GAIJI_MAP_HEADER)
    for ch in sorted(entries):
        w.writerow((f"U+{ord(ch):04X}", entries[ch]))
    return buf.getvalue()
