"""One codec per item type: the text of a CSV field ⇄ a Python value.

``decode(item, text)`` checks everything about one value (required, length, characters, type,
code, check digit, date) and raises :class:`FieldError` with a Japanese reason and a
:class:`~.problems.ProblemKind`; ``encode(item, value)`` is its inverse and refuses any value
it could not read back (so an export never writes what an import would refuse).  The empty text
is the absent value ``None`` (refused when the item is required).

Types and their values:

============  ==============================================================  =================
type          text                                                             value
============  ==============================================================  =================
文字          any text; see *characters* and *length* below                    ``str``
数字          ASCII digits only; ``fixed``: exactly ``length`` digits, else     ``str`` (leading
              1..``length``; check digit per ``check``                          zeros kept)
日付          西暦 ``YYYYMMDD``, a calendar date                                ``datetime.date``
日付 fuzzy    西暦 ``YYYYMMDD`` with ``00`` for an unknown month/day, ``0000``  ``JpDate`` (era
              year only in ``00000000`` (年月日不詳); non-calendar days kept      None)
和暦日付      ``EEYYMMDD``: 2-digit 年号 code (``eras.yaml`` layout_code), era  ``JpDate`` (era
              year, month, day; fuzzy: ``00`` for an unknown month/day,          as entered)
              ``00000000`` for 年月日不詳, non-calendar days kept
フラグ        ``0`` / ``1``                                                    ``bool``
コード        a code of the item's code table                                  ``str`` (code)
続柄          2-digit 続柄 codes of the links joined by 「の」, at most four:  ``str`` (the
              子 06, 子の子 0606; a whole base term is its own code (子の妻 08)  続柄 text)
============  ==============================================================  =================

The 頃/上旬/中旬/下旬/不詳 qualifier of a 不詳日 is not part of the date text: it is the
separate 不詳区分 item (code table ``date_qualifier``) that :mod:`.persons` combines with the
date, so a date item's value carries no qualifier (except 年月日不詳, whose qualifier is 不詳).

*Length* (``length_unit`` of the layout): ``文字`` counts characters — one Unicode code point
is one character whatever its width (全角 and 半角 alike count 1), except that a variation
selector (U+FE00–FE0F, U+E0100–E01EF, the IVS of 文字情報基盤 glyphs) belongs to the character
before it and counts 0.  ``バイト`` counts bytes in Shift_JIS (cp932): 1 for ASCII and 半角カナ,
2 otherwise (also for a character cp932 cannot encode), 0 for a variation selector.

*Characters* (文字): control characters (C0, DEL, C1: line breaks and tabs included) are
refused.  A character of a private use area (U+E000–F8FF, planes 15–16) is a vendor 外字: it is
reported as ``gaiji`` (to be resolved by a mapping file) in an item where 外字 may appear, and
as ``charset`` elsewhere.  An item where 外字 may not appear accepts only characters that
Shift_JIS (cp932) can encode.  No value is ever normalised or changed.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from moyai.platform.codes.checkdigits import (
    check_individual_number,
    check_local_government_code,
    check_mod11,
)
from moyai.platform.codes.tables import CodeTable, validate_relationship
from moyai.platform.codes.wareki import JpDate, JpDateError, era_by_key, era_by_layout_code, parse_jp_date

from .layout import FileSpec, ItemSpec, Layout, load_layout
from .problems import Problem, ProblemKind

__all__ = [
    "CODECS",
    "Codec",
    "FieldError",
    "check_text",
    "decode",
    "decode_row",
    "encode",
    "encode_row",
    "table_of",
    "text_length",
]

_VARIATION_SELECTORS: Final = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
_PRIVATE_USE: Final = re.compile("[\ue000-\uf8ff\U000f0000-\U0010ffff]")
_UNKNOWN_DATE: Final = "00000000"


class FieldError(ValueError):
    """A value that does not fit its item; ``reason`` is in Japanese, ``kind`` a ProblemKind."""

    def __init__(self, item: ItemSpec, reason: str, kind: ProblemKind = ProblemKind.TYPE, value: str | None = None):
        super().__init__(f"{item.name}: {reason}")
        self.item = item
        self.reason = reason
        self.kind = kind
        self.value = value

    def problem(self, file: str, row: int | None) -> Problem:
        return Problem(file, row, self.item.name, self.value, self.reason, self.kind, self.item.id)


# --- length and characters ------------------------------------------------------------------------


def _cp932_bytes(text: str) -> int:
    try:
        return len(text.encode("cp932"))
    except UnicodeEncodeError:
        return sum(_cp932_bytes(ch) if _encodable(ch) else 2 for ch in text)


def _encodable(ch: str) -> bool:
    try:
        ch.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def text_length(text: str, unit: str = "文字") -> int:
    """Length of ``text`` as the layout counts it (see the module docstring)."""
    selectors = len(_VARIATION_SELECTORS.findall(text)) if not text.isascii() else 0
    if unit == "バイト":
        return _cp932_bytes(_VARIATION_SELECTORS.sub("", text)) if selectors else _cp932_bytes(text)
    return len(text) - selectors


def check_text(item: ItemSpec, text: str) -> None:
    """The checks that need no type: required and maximum length (used by the CSV reader too)."""
    if text == "":
        if item.required:
            raise FieldError(item, "必須項目が空です", ProblemKind.REQUIRED, text)
        return
    if item.unit == "文字" and len(text) <= item.length:
        return  # code points never undercount characters
    n = text_length(text, item.unit)
    if n > item.length:
        unit = "桁" if item.type != "文字" else ("バイト" if item.unit == "バイト" else "文字")
        raise FieldError(item, f"長すぎます（{n}{unit}、最大{item.length}{unit}）", ProblemKind.TOO_LONG, text)


def _check_characters(item: ItemSpec, text: str) -> None:
    if text.isascii() and text.isprintable():
        return
    bad = _CONTROL.search(text)
    if bad is not None:
        raise FieldError(
            item, f"制御文字 U+{ord(bad.group()):04X}（改行・タブなど）は使えません", ProblemKind.CHARSET, text
        )
    pua = _PRIVATE_USE.search(text)
    if pua is not None:
        code = f"U+{ord(pua.group()):04X}"
        if item.gaiji:
            raise FieldError(
                item, f"外字（私用領域の文字 {code}）です。外字対応表で置き換えてください", ProblemKind.GAIJI, text
            )
        raise FieldError(item, f"外字（私用領域の文字 {code}）はこの項目に使えません", ProblemKind.CHARSET, text)
    if not item.gaiji:
        for ch in text:
            if not _encodable(ch):
                raise FieldError(
                    item,
                    f"文字「{ch}」（U+{ord(ch):04X}）はこの項目に使えません（JIS の文字だけ）",
                    ProblemKind.CHARSET,
                    text,
                )


# --- per type ----------------------------------------------------------------------------------------


def _digits(item: ItemSpec, text: str) -> None:
    if not (text.isascii() and text.isdigit()):
        raise FieldError(item, "半角数字だけで書きます", ProblemKind.TYPE, text)


def _decode_string(item: ItemSpec, text: str) -> str:
    _check_characters(item, text)
    return text


def _encode_string(item: ItemSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(item, f"文字列ではありません: {value!r}", ProblemKind.TYPE)
    _check_characters(item, value)
    return value


_CHECKS: Final[dict[str, Callable[[ItemSpec, str], str | None]]] = {
    "individual_number": lambda item, s: check_individual_number(s),
    "local_government_code": lambda item, s: check_local_government_code(s),
    "mod11": lambda item, s: check_mod11(s, item.name, item.length if item.fixed else None),
}


def _decode_number(item: ItemSpec, text: str) -> str:
    _digits(item, text)
    if item.fixed and len(text) != item.length:
        raise FieldError(item, f"{item.length}桁の数字です（{len(text)}桁）", ProblemKind.LENGTH, text)
    if item.check is not None:
        reason = _CHECKS[item.check](item, text)
        if reason is not None:
            raise FieldError(item, reason, ProblemKind.CHECK_DIGIT, text)
    return text


def _encode_number(item: ItemSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(item, f"数字の文字列ではありません: {value!r}", ProblemKind.TYPE)
    check_text(item, value)
    return _decode_number(item, value)


def _ymd(item: ItemSpec, text: str) -> tuple[int, int, int]:
    _digits(item, text)
    if len(text) != 8:
        raise FieldError(item, "日付は8桁の数字です", ProblemKind.LENGTH, text)
    return int(text[:4]), int(text[4:6]), int(text[6:])


def _jp_date(item: ItemSpec, text: str, year: int, month: int, day: int, era: str | None) -> JpDate:
    """A JpDate from parts where 0 means unknown; refuses what the item does not allow."""
    if month == 0 and day != 0:
        raise FieldError(item, "月が不詳（00）なのに日があります", ProblemKind.DATE, text)
    if not item.fuzzy and (month == 0 or day == 0):
        raise FieldError(item, "この項目に不詳日（00）は使えません", ProblemKind.DATE, text)
    if not 0 <= month <= 12:
        raise FieldError(item, f"{month}月は存在しません", ProblemKind.DATE, text)
    if not 0 <= day <= 31:
        raise FieldError(item, f"{day}日は存在しません", ProblemKind.DATE, text)
    try:
        jd = _cached_jp_date(year, month, day, era)
    except JpDateError as exc:
        raise FieldError(item, _date_reason(year, month, day, era, exc), ProblemKind.DATE, text) from None
    if not jd.calendar_valid and not item.fuzzy:
        raise FieldError(item, f"{month}月{day}日は暦にない日付です", ProblemKind.DATE, text)
    return jd


@functools.lru_cache(maxsize=65536)
def _cached_jp_date(year: int, month: int, day: int, era: str | None) -> JpDate:
    """JpDate of parts (0 = unknown); cached because a person's dates repeat on every history row."""
    return JpDate.of(year=year, month=month or None, day=day or None, era=era)


def _date_reason(year: int, month: int, day: int, era: str | None, exc: JpDateError) -> str:
    """The parser's own wording of why a date cannot be (「令和元年4月30日は存在しません（…）」)."""
    head = f"{era_by_key(era).kanji}{year - era_by_key(era).start.year + 1}年" if era else f"{year}年"
    text = head + (f"{month}月" if month else "") + (f"{day}日" if day else "")
    try:
        parse_jp_date(text, allow_fuzzy=True, allow_non_calendar=True)
    except JpDateError as clean:
        return clean.message
    return exc.message


def _fully_unknown(item: ItemSpec, text: str) -> JpDate:
    if not item.fuzzy:
        raise FieldError(item, "この項目に年月日不詳は使えません", ProblemKind.DATE, text)
    return JpDate("年月日不詳", None, None, None, None, None, "不詳", True)


def _decode_date(item: ItemSpec, text: str) -> dt.date | JpDate:
    year, month, day = _ymd(item, text)
    if item.fuzzy:
        if text == _UNKNOWN_DATE:
            return _fully_unknown(item, text)
        if year == 0:
            raise FieldError(item, "年が0000です（年月日不詳は00000000）", ProblemKind.DATE, text)
        return _jp_date(item, text, year, month, day, None)
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise FieldError(item, f"{year}年{month}月{day}日は暦にない日付です", ProblemKind.DATE, text) from None


def _date_parts(jd: JpDate) -> str:
    return f"{jd.month or 0:02d}{jd.day or 0:02d}"


def _check_unqualified(item: ItemSpec, value: JpDate) -> None:
    if value.qualifier is not None and value.year is not None:
        raise FieldError(item, f"不詳区分（{value.qualifier}）は不詳区分の項目に書きます", ProblemKind.TYPE, value.text)


def _encode_date(item: ItemSpec, value: Any) -> str:
    if not item.fuzzy:
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise FieldError(item, f"日付ではありません: {value!r}", ProblemKind.TYPE)
        if value.year < 1:
            raise FieldError(item, "年が範囲外です", ProblemKind.DATE)
        return f"{value.year:04d}{value.month:02d}{value.day:02d}"
    if not isinstance(value, JpDate):
        raise FieldError(item, f"JpDate ではありません: {value!r}", ProblemKind.TYPE)
    if value.year is None:
        _fully_unknown(item, _UNKNOWN_DATE)  # refuses unless the item allows 不詳
        return _UNKNOWN_DATE
    if value.era is not None:
        raise FieldError(item, "和暦で入力された日付は和暦の項目に書きます", ProblemKind.TYPE, value.text)
    _check_unqualified(item, value)
    return f"{value.year:04d}{_date_parts(value)}"


def _decode_wareki(item: ItemSpec, text: str) -> JpDate:
    _digits(item, text)
    if len(text) != 8:
        raise FieldError(item, "和暦日付は8桁の数字です（年号2桁+年月日6桁）", ProblemKind.LENGTH, text)
    if text == _UNKNOWN_DATE:
        return _fully_unknown(item, text)
    try:
        era = era_by_layout_code(text[:2])
    except JpDateError:
        raise FieldError(item, f"年号コード {text[:2]} は年号コード表にありません", ProblemKind.CODE, text) from None
    era_year = int(text[2:4])
    if era_year == 0:
        raise FieldError(item, f"{era.kanji}00年は存在しません", ProblemKind.DATE, text)
    return _jp_date(item, text, era.gregorian_year(era_year), int(text[4:6]), int(text[6:]), era.key)


def _encode_wareki(item: ItemSpec, value: Any) -> str:
    if not isinstance(value, JpDate):
        raise FieldError(item, f"JpDate ではありません: {value!r}", ProblemKind.TYPE)
    if value.year is None:
        _fully_unknown(item, _UNKNOWN_DATE)  # refuses unless the item allows 不詳
        return _UNKNOWN_DATE
    if value.era is None or value.era_year is None:
        raise FieldError(item, "西暦で入力された日付は（西暦）の項目に書きます", ProblemKind.TYPE, value.text)
    _check_unqualified(item, value)
    if not 1 <= value.era_year <= 99:
        raise FieldError(item, f"{value.text}: 元号の年は2桁までです", ProblemKind.DATE, value.text)
    if not item.fuzzy and not value.is_exact():
        raise FieldError(item, f"{value.text}: この項目に不詳日は使えません", ProblemKind.DATE, value.text)
    return f"{era_by_key(value.era).layout_code}{value.era_year:02d}{_date_parts(value)}"


def _decode_flag(item: ItemSpec, text: str) -> bool:
    if text not in ("0", "1"):
        raise FieldError(item, "フラグは 0 か 1 です", ProblemKind.TYPE, text)
    return text == "1"


def _encode_flag(item: ItemSpec, value: Any) -> str:
    if not isinstance(value, bool):
        raise FieldError(item, f"フラグ（真偽値）ではありません: {value!r}", ProblemKind.TYPE)
    return "1" if value else "0"


def table_of(item: ItemSpec, layout: Layout | None = None) -> CodeTable:
    """The code table of a コード / 続柄 item."""
    if item.code_table is None:
        raise FieldError(item, "コード表が指定されていません", ProblemKind.CODE)
    return (layout or load_layout()).code_table(item.code_table)


def _decode_code(item: ItemSpec, text: str) -> str:
    table = table_of(item)
    if not table.has(text):
        raise FieldError(
            item, f"{table.title}コード {text} は{table.title}コード表にありません", ProblemKind.CODE, text
        )
    return text


def _encode_code(item: ItemSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(item, f"コードの文字列ではありません: {value!r}", ProblemKind.TYPE)
    return _decode_code(item, value)


def _code_width(item: ItemSpec, table: CodeTable) -> int:
    widths = {len(c) for c in table.codes()}
    if len(widths) != 1:
        raise FieldError(item, f"{table.title}コードの桁数がそろっていません", ProblemKind.CODE)
    return widths.pop()


def _decode_relationship(item: ItemSpec, text: str) -> str:
    _digits(item, text)
    table = table_of(item)
    width = _code_width(item, table)
    if len(text) % width:
        raise FieldError(item, f"続柄は{width}桁のコードを並べて書きます", ProblemKind.LENGTH, text)
    codes = [text[i : i + width] for i in range(0, len(text), width)]
    unknown = [c for c in codes if not table.has(c)]
    if unknown:
        raise FieldError(item, f"続柄コード {unknown[0]} は続柄コード表にありません", ProblemKind.CODE, text)
    label = "の".join(table.label(c) for c in codes)
    reason = validate_relationship(label)
    if reason is not None:
        raise FieldError(item, reason, ProblemKind.CODE, text)
    return label


def _encode_relationship(item: ItemSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(item, f"続柄の文字列ではありません: {value!r}", ProblemKind.TYPE)
    reason = validate_relationship(value)
    if reason is not None:
        raise FieldError(item, reason, ProblemKind.CODE, value)
    table = table_of(item)
    whole = table.find(value)
    if whole is not None:
        return whole.code
    codes = []
    for link in value.split("の"):
        entry = table.find(link)
        if entry is None:
            raise FieldError(item, f"「{link}」は続柄コード表にありません", ProblemKind.CODE, value)
        codes.append(entry.code)
    return "".join(codes)


@dataclass(frozen=True)
class Codec:
    decode: Callable[[ItemSpec, str], Any]
    encode: Callable[[ItemSpec, Any], str]


CODECS: Final[Mapping[str, Codec]] = {
    "文字": Codec(_decode_string, _encode_string),
    "数字": Codec(_decode_number, _encode_number),
    "日付": Codec(_decode_date, _encode_date),
    "和暦日付": Codec(_decode_wareki, _encode_wareki),
    "フラグ": Codec(_decode_flag, _encode_flag),
    "コード": Codec(_decode_code, _encode_code),
    "続柄": Codec(_decode_relationship, _encode_relationship),
}


# --- public ------------------------------------------------------------------------------------------


def decode(item: ItemSpec, text: str) -> Any:
    """The value of ``text`` for ``item`` (None for the empty text); :class:`FieldError` if invalid."""
    check_text(item, text)
    if text == "":
        return None
    return CODECS[item.type].decode(item, text)


def encode(item: ItemSpec, value: Any) -> str:
    """The text of ``value`` for ``item`` ("" for None); :class:`FieldError` if it cannot be written."""
    if value is None:
        if item.required:
            raise FieldError(item, "必須項目が空です", ProblemKind.REQUIRED)
        return ""
    text = CODECS[item.type].encode(item, value)
    check_text(item, text)
    return text


def decode_row(
    spec: FileSpec, raw: Mapping[str, str], *, file: str | None = None, row: int | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """Decode every item of a row: (values of the valid items, problems of the others)."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    name = file or spec.file_name
    for item in spec.items:
        try:
            values[item.id] = decode(item, raw.get(item.id, ""))
        except FieldError as exc:
            problems.append(exc.problem(name, row))
    return values, problems


def encode_row(spec: FileSpec, values: Mapping[str, Any]) -> dict[str, str]:
    """The text of every item of a row, in column order (absent items are empty)."""
    return {item.id: encode(item, values.get(item.id)) for item in spec.items}
