"""Record layouts (as data) and the field codec of fixed-length Shift_JIS (cp932) and CSV batch files.

A batch file is a header record (type ``1``), data records (``2``), continuation records
(``3``, carrying the text of the JSON fields of the data record before them) and a trailer
(``9``) with the number of data records, the number of all records and a checksum (CRC-32 of
the bytes of every record between header and trailer, without line ends). Layouts are read from
``gateway/data/record_layouts.yaml`` with the project's one loader; lengths are bytes in cp932.

Field types: ``N`` digits, zero-filled on the left; ``X`` text, space-filled on the right;
``K`` 全角 text (2 bytes a character), filled with the 全角 space; ``J`` a canonical-JSON value
whose byte length is in the record and whose text follows in continuation records. Text that
cp932 cannot carry (or would read back as another character, e.g. U+2212 MINUS SIGN) is refused,
or with ``on_unencodable: substitute`` replaced by the layout's substitute and flagged.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Any, Final

from moyai.platform.codes import datafiles
from moyai.platform.errors import DomainError

from ..domain import canonical

__all__ = ["CP932", "Field", "Layout", "RecordFormatError", "carriable", "json_text", "layout", "layouts",
           "parse_json_text"]

PACKAGE: Final = "moyai.gateway"
CP932: Final = "cp932"
FULL_SPACE: Final = "\u3000"
RECORD_TYPES: Final = {"header": "1", "data": "2", "continuation": "3", "trailer": "9"}
TYPES: Final = frozenset({"N", "X", "K", "J"})


class RecordFormatError(DomainError):
    """A record or batch that cannot be written or read: the message names file/row/field and why."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        where = f"{row}行目: " if row is not None else ""
        super().__init__("record_format", where + message, field=field, status=400)
        self.row = row


def carriable(ch: str, encoding: str = CP932) -> bool:
    """Whether ``ch`` survives a round trip through ``encoding`` unchanged."""
    try:
        return ch.encode(encoding).decode(encoding) == ch
    except UnicodeError:
        return False


@functools.lru_cache(maxsize=4096)
def _carriable_cp932(ch: str) -> bool:
    return carriable(ch, CP932)


def json_text(value: Any, encoding: str) -> str:
    """Canonical JSON of ``value`` with every character ``encoding`` cannot carry as a \\u escape."""
    text = canonical.dumps(value).decode("utf-8")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        return text
    out = []
    for ch in text:
        if ch.isascii() or _carriable_cp932(ch):
            out.append(ch)
        elif ord(ch) > 0xFFFF:
            v = ord(ch) - 0x10000
            out.append(f"\\u{0xD800 + (v >> 10):04x}\\u{0xDC00 + (v & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def parse_json_text(text: str, field: str) -> Any:
    import json

    try:
        value = json.loads(text)
        canonical.dumps(value)  # only canonical-JSON values (no floats)
    except (ValueError, canonical.CanonicalJSONError) as exc:
        raise RecordFormatError(f"項目 {field} がJSONとして読めません（{exc}）", field=field) from None
    return value


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    bytes: int
    nullable: bool = False


@dataclass(frozen=True)
class Layout:
    id: str
    version: int
    name_ja: str
    record_length: int
    encoding: str
    csv_encoding: str
    on_unencodable: str
    substitute: str | None
    flag_field: str | None
    header: tuple[Field, ...]
    data: tuple[Field, ...]
    trailer: tuple[Field, ...]

    def fields(self, kind: str) -> tuple[Field, ...]:
        fields: tuple[Field, ...] = getattr(self, kind)
        return fields

    # -- one field ---------------------------------------------------------------------------

    def text_for(self, f: Field, value: str, *, row: int | None = None) -> tuple[str, bool]:
        """``value`` checked for cp932 (substituted if the layout says so): (text, substituted)."""
        bad = [ch for ch in value if not (ch.isascii() or _carriable_cp932(ch))]
        if not bad:
            return value, False
        if self.on_unencodable == "substitute" and self.substitute:
            return "".join(self.substitute if ch in bad else ch for ch in value), True
        shown = "、".join(f"「{ch}」(U+{ord(ch):04X})" for ch in dict.fromkeys(bad))
        raise RecordFormatError(f"項目 {f.name} に Shift_JIS（cp932）で表せない文字 {shown} があります",
                                field=f.name, row=row)

    def encode_field(self, f: Field, value: Any, *, row: int | None = None, encoding: str = CP932) -> bytes:
        """The ``f.bytes`` bytes of one field (J fields: the byte length of the JSON text)."""
        def fail(why: str) -> RecordFormatError:
            return RecordFormatError(f"項目 {f.name}（{f.type} {f.bytes}バイト）: {why}", field=f.name, row=row)

        if f.type == "N":
            text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
            if not isinstance(text, str) or not text.isdigit() or not text.isascii():
                raise fail(f"数字ではありません（{value!r}）")
            if len(text) > f.bytes:
                raise fail(f"{len(text)}桁で長すぎます")
            return text.rjust(f.bytes, "0").encode("ascii")
        if f.type in ("X", "K"):
            if value is None:
                if not f.nullable:
                    raise fail("省略できません")
                return b" " * f.bytes if f.type == "X" else FULL_SPACE.encode(CP932) * (f.bytes // 2)
            if not isinstance(value, str):
                raise fail(f"文字列ではありません（{type(value).__name__}）")
            pad = " " if f.type == "X" else FULL_SPACE
            if f.nullable and value == "":
                raise fail("空文字は空欄（null）と区別できません")
            if value.endswith(pad):
                raise fail("末尾の空白は埋め草と区別できません")
            if any(ch in "\r\n" for ch in value):
                raise fail("改行を含められません")
            data = value.encode(encoding)
            if f.type == "K" and any(unicodedata.east_asian_width(ch) not in "WF" or
                                     (encoding == CP932 and len(ch.encode(CP932)) != 2) for ch in value):
                raise fail("全角文字だけの項目に半角文字があります")
            if len(data) > f.bytes:
                raise fail(f"{len(data)}バイトで長すぎます")
            if f.type == "X":
                return data + b" " * (f.bytes - len(data))
            return data + FULL_SPACE.encode(CP932) * ((f.bytes - len(data)) // 2)
        raise fail("J 項目はここでは書けません")

    def decode_field(self, f: Field, data: bytes, *, row: int | None = None) -> Any:
        if f.type == "N":
            text = data.decode("ascii", errors="replace")
            if not text.isdigit():
                raise RecordFormatError(f"項目 {f.name} が数字ではありません（{text!r}）", field=f.name, row=row)
            return text
        try:
            text = data.decode(CP932)
        except UnicodeDecodeError:
            raise RecordFormatError(f"項目 {f.name} が Shift_JIS（cp932）として読めません（文字の途中で切れている"
                                    "か、不正なバイト）", field=f.name, row=row) from None
        pad = " " if f.type == "X" else FULL_SPACE
        value = text.rstrip(pad)
        if value == "" and f.nullable:
            return None
        return value


def _fields(raw: object, where: str) -> tuple[Field, ...]:
    if not isinstance(raw, list) or not raw:
        raise datafiles.DataFileError(f"record_layouts: {where} に項目がありません")
    out = []
    for spec in raw:
        f = Field(str(spec["name"]), str(spec["type"]), int(spec["bytes"]), bool(spec.get("nullable", False)))
        if f.type not in TYPES or f.bytes < 1 or (f.type == "K" and f.bytes % 2):
            raise datafiles.DataFileError(f"record_layouts: {where}.{f.name} の型・長さが正しくありません")
        out.append(f)
    if len({f.name for f in out}) != len(out):
        raise datafiles.DataFileError(f"record_layouts: {where} に同じ名前の項目があります")
    return tuple(out)


@functools.cache
def layouts() -> dict[tuple[str, int], Layout]:
    data = datafiles.load(PACKAGE, "record_layouts")
    out: dict[tuple[str, int], Layout] = {}
    for spec in data.entries["layouts"]:
        where = f"{spec['id']} 版 {spec['version']}"
        lay = Layout(
            id=str(spec["id"]), version=int(spec["version"]), name_ja=str(spec["name_ja"]),
            record_length=int(spec["record_length"]), encoding=str(spec["encoding"]),
            csv_encoding=str(spec["csv_encoding"]), on_unencodable=str(spec.get("on_unencodable", "refuse")),
            substitute=spec.get("substitute"), flag_field=spec.get("flag_field"),
            header=_fields(spec["header"], f"{where} header"), data=_fields(spec["data"], f"{where} data"),
            trailer=_fields(spec["trailer"], f"{where} trailer"))
        if lay.encoding != CP932 or lay.csv_encoding not in (CP932, "utf-8"):
            raise datafiles.DataFileError(f"record_layouts: {where} の文字コードは cp932（CSV は cp932 か utf-8）です")
        if lay.on_unencodable not in ("refuse", "substitute") or (
                lay.on_unencodable == "substitute" and (not lay.substitute or not carriable(lay.substitute))):
            raise datafiles.DataFileError(f"record_layouts: {where} の on_unencodable・substitute が正しくありません")
        if lay.flag_field is not None and lay.flag_field not in {f.name for f in lay.data}:
            raise datafiles.DataFileError(f"record_layouts: {where} の flag_field がデータレコードにありません")
        for kind in ("header", "data", "trailer"):
            if 1 + sum(f.bytes for f in lay.fields(kind)) > lay.record_length:
                raise datafiles.DataFileError(f"record_layouts: {where} の {kind} がレコード長を超えます")
        if [f.name for f in lay.trailer] != ["data_count", "record_count", "checksum"] or \
                [f.name for f in lay.header[:2]] != ["layout", "layout_version"]:
            raise datafiles.DataFileError(f"record_layouts: {where} の header・trailer の項目が決まりと違います")
        if (lay.id, lay.version) in out:
            raise datafiles.DataFileError(f"record_layouts: {where} が2回あります")
        out[(lay.id, lay.version)] = lay
    return out


def layout(layout_id: str, version: int | None = None) -> Layout:
    """A layout by id (and version; default: the latest)."""
    found = {v: lay for (i, v), lay in layouts().items() if i == layout_id}
    if not found:
        raise RecordFormatError(f"レコードレイアウト {layout_id} はありません")
    if version is None:
        return found[max(found)]
    if version not in found:
        raise RecordFormatError(f"レコードレイアウト {layout_id} の版 {version} は知りません（{sorted(found)}）")
    return found[version]


