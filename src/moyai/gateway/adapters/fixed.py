"""Fixed-length Shift_JIS (cp932) record files: write and read a batch in a layout of ``record_layouts.yaml``.

Every record is ``record_length`` bytes followed by CR LF: one header (``1``), per row a data
record (``2``) and the continuation records (``3``) that carry the text of its J fields (their
byte lengths are in the data record), and a trailer (``9``) with the number of data records,
of data + continuation records, and the CRC-32 of those records' bytes. Reading checks all of
it and names the row and field of the first problem; nothing is returned from a bad file.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any, Final

from .layouts import CP932, Field, Layout, RecordFormatError, json_text, layout, parse_json_text

__all__ = ["NEWLINE", "assemble", "encode_row", "read_fixed", "write_fixed"]

NEWLINE: Final = b"\r\n"


def _prepared(lay: Layout, kind: str, values: Mapping[str, Any], row: int | None) -> dict[str, Any]:
    """Field values checked for cp932 (substituted, and the flag set, where the layout says so)."""
    out: dict[str, Any] = {}
    substituted = False
    for f in lay.fields(kind):
        if f.name not in values:
            raise RecordFormatError(f"項目 {f.name} がありません", field=f.name, row=row)
        value = values[f.name]
        if f.type in ("X", "K") and isinstance(value, str):
            value, changed = lay.text_for(f, value, row=row)
            substituted = substituted or changed
        out[f.name] = value
    if kind == "data" and lay.flag_field is not None and substituted:
        out[lay.flag_field] = 1
    return out


def _record(lay: Layout, kind: str, values: Mapping[str, Any], row: int | None) -> tuple[bytes, bytes]:
    """One record and the J texts that continue it."""
    parts = [{"header": b"1", "data": b"2", "trailer": b"9"}[kind]]
    texts: list[bytes] = []
    for f in lay.fields(kind):
        value = values[f.name]
        if f.type == "J":
            text = json_text(value, CP932).encode(CP932)
            texts.append(text)
            parts.append(lay.encode_field(Field(f.name, "N", f.bytes), len(text), row=row))
        else:
            parts.append(lay.encode_field(f, value, row=row))
    record = b"".join(parts)
    return record + b" " * (lay.record_length - len(record)), b"".join(texts)


def encode_row(lay: Layout, values: Mapping[str, Any], row: int | None = None) -> bytes:
    """The data record and continuation records of one row, each followed by CR LF."""
    record, stream = _record(lay, "data", _prepared(lay, "data", values, row), row)
    out = [record]
    chunk = lay.record_length - 1
    for i in range(0, len(stream), chunk):
        part = b"3" + stream[i:i + chunk]
        out.append(part + b" " * (lay.record_length - len(part)))
    return b"".join(r + NEWLINE for r in out)


def assemble(lay: Layout, header: Mapping[str, Any], rows: Iterable[bytes]) -> bytes:
    """A batch file from encoded rows (:func:`encode_row`): header, rows, trailer with counts and checksum."""
    values = _prepared(lay, "header", {"layout": lay.id, "layout_version": lay.version, **header}, None)
    head, _ = _record(lay, "header", values, None)
    body = b"".join(rows)
    records = [r for r in body.split(NEWLINE) if r]
    checksum = 0
    for record in records:
        checksum = zlib.crc32(record, checksum)
    data_count = sum(1 for r in records if r[:1] == b"2")
    trailer, _ = _record(lay, "trailer", {"data_count": data_count, "record_count": len(records),
                                          "checksum": checksum}, None)
    return head + NEWLINE + body + trailer + NEWLINE


def write_fixed(lay: Layout, header: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A whole batch file. Raises :class:`RecordFormatError` (row = 1-based data row) and writes nothing."""
    return assemble(lay, header, [encode_row(lay, values, n) for n, values in enumerate(rows, start=1)])


def _split(lay: Layout, kind: str, record: bytes, row: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    pos = 1
    for f in lay.fields(kind):
        data = record[pos:pos + f.bytes]
        pos += f.bytes
        values[f.name] = lay.decode_field(Field(f.name, "N", f.bytes) if f.type == "J" else f, data, row=row)
        if f.type == "J":
            values[f.name] = int(values[f.name])
    if record[pos:].strip(b" "):
        raise RecordFormatError("レコードの末尾（埋め草）に空白以外があります", row=row)
    return values


def read_fixed(data: bytes, layout_id: str) -> tuple[Layout, dict[str, Any], list[dict[str, Any]]]:
    """(layout, header values, data rows) of a batch file; :class:`RecordFormatError` names the line."""
    lines = data.split(NEWLINE)
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) < 2:
        raise RecordFormatError("ヘッダーレコードとトレーラーレコードがありません")
    first = lines[0]
    if first[:1] != b"1":
        raise RecordFormatError("1行目がヘッダーレコード（1）ではありません", row=1)
    lay = layout(layout_id)
    head_id = first[1:25].decode("ascii", errors="replace").rstrip(" ")
    version_text = first[25:29].decode("ascii", errors="replace")
    if head_id != layout_id or not version_text.isdigit():
        raise RecordFormatError(f"ヘッダーのレイアウト {head_id!r} が {layout_id} ではありません", row=1)
    lay = layout(layout_id, int(version_text))
    for n, line in enumerate(lines, start=1):
        if len(line) != lay.record_length:
            raise RecordFormatError(f"レコード長が {len(line)} バイトです（{lay.record_length} バイトのはず）", row=n)
    header = _split(lay, "header", first, 1)
    trailer_line = lines[-1]
    if trailer_line[:1] != b"9":
        raise RecordFormatError("最終行がトレーラーレコード（9）ではありません", row=len(lines))
    trailer = _split(lay, "trailer", trailer_line, len(lines))
    rows: list[dict[str, Any]] = []
    checksum = 0
    n = 1
    body = lines[1:-1]
    i = 0
    while i < len(body):
        n = i + 2
        record = body[i]
        checksum = zlib.crc32(record, checksum)
        if record[:1] != b"2":
            raise RecordFormatError(f"データレコード（2）のはずが {record[:1]!r} です", row=n)
        values = _split(lay, "data", record, n)
        j_fields = [f for f in lay.data if f.type == "J"]
        total = sum(values[f.name] for f in j_fields)
        needed = -(-total // (lay.record_length - 1))
        stream = b""
        for k in range(needed):
            i += 1
            if i >= len(body) or body[i][:1] != b"3":
                raise RecordFormatError(f"継続レコード（3）が {needed} 件必要ですが {k} 件しかありません", row=n)
            checksum = zlib.crc32(body[i], checksum)
            stream += body[i][1:]
        if stream[total:].strip(b" "):
            raise RecordFormatError("継続レコードの末尾に余分なデータがあります", row=n)
        pos = 0
        for f in j_fields:
            part = stream[pos:pos + values[f.name]]
            pos += values[f.name]
            try:
                text = part.decode(CP932)
            except UnicodeDecodeError:
                raise RecordFormatError(f"項目 {f.name} が Shift_JIS（cp932）として読めません", field=f.name,
                                        row=n) from None
            values[f.name] = parse_json_text(text, f.name)
        rows.append(values)
        i += 1
    if int(trailer["data_count"]) != len(rows) or int(trailer["record_count"]) != len(body):
        raise RecordFormatError(f"トレーラーの件数（データ {int(trailer['data_count'])} 件、レコード "
                                f"{int(trailer['record_count'])} 件）が実際（{len(rows)} 件、{len(body)} 件）と違います",
                                row=len(lines))
    if int(trailer["checksum"]) != checksum:
        raise RecordFormatError("トレーラーのチェックサムが一致しません（ファイルが壊れているか改変されています）",
                                row=len(lines))
    return lay, header, rows
