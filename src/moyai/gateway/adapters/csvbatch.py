"""CSV batch files in the same layouts as the fixed-length files (``record_layouts.yaml``).

One line per record: the record type (``1`` header, ``2`` data, ``9`` trailer) then the fields
of that record in layout order — numbers without padding, text as is, J fields as JSON text,
a null as an empty field. Encoding is the layout's ``csv_encoding`` (cp932: refuse or substitute
what it cannot carry, J fields with \\u escapes; utf-8: everything). Lines end with CR LF. The
trailer carries the number of data lines (twice, so both layouts agree) and the CRC-32 of the
encoded data lines without their line ends.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from .layouts import Field, Layout, RecordFormatError, json_text, layout, parse_json_text

__all__ = ["assemble", "encode_row", "read_csv", "write_csv"]


def _line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(cells)
    return buf.getvalue()


def _cells(lay: Layout, kind: str, values: Mapping[str, Any], row: int | None) -> list[str]:
    cells = [{"header": "1", "data": "2", "trailer": "9"}[kind]]
    substituted = False
    flag_at: int | None = None
    for f in lay.fields(kind):
        if f.name not in values:
            raise RecordFormatError(f"項目 {f.name} がありません", field=f.name, row=row)
        value = values[f.name]
        if f.type == "J":
            cells.append(json_text(value, lay.csv_encoding))
            continue
        if kind == "data" and f.name == lay.flag_field:
            flag_at = len(cells)
        if value is None:
            if not f.nullable:
                raise RecordFormatError(f"項目 {f.name} は省略できません", field=f.name, row=row)
            cells.append("")
        elif f.type in ("X", "K"):
            if isinstance(value, str) and lay.csv_encoding != "utf-8":
                value, changed = lay.text_for(f, value, row=row)
                substituted = substituted or changed
            lay.encode_field(Field(f.name, f.type, 1 << 20, f.nullable), value, row=row,  # same rules, any length
                             encoding=lay.csv_encoding)
            cells.append(value)
        else:
            digits = lay.encode_field(f, value, row=row).decode("ascii")
            cells.append(digits.lstrip("0") or "0")
    if flag_at is not None and substituted:
        cells[flag_at] = "1"
    return cells


def encode_row(lay: Layout, values: Mapping[str, Any], row: int | None = None) -> bytes:
    """One data line (with CR LF) in the layout's CSV encoding."""
    return _line(_cells(lay, "data", values, row)).encode(lay.csv_encoding)


def assemble(lay: Layout, header: Mapping[str, Any], rows: Iterable[bytes]) -> bytes:
    encoded = list(rows)
    head = _line(_cells(lay, "header", {"layout": lay.id, "layout_version": lay.version, **header}, None))
    checksum = 0
    for line in encoded:
        checksum = zlib.crc32(line[:-2], checksum)
    tail = _line(_cells(lay, "trailer", {"data_count": len(encoded), "record_count": len(encoded),
                                         "checksum": checksum}, None))
    return head.encode(lay.csv_encoding) + b"".join(encoded) + tail.encode(lay.csv_encoding)


def write_csv(lay: Layout, header: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> bytes:
    return assemble(lay, header, [encode_row(lay, values, n) for n, values in enumerate(rows, start=1)])


def _values(lay: Layout, kind: str, cells: list[str], row: int) -> dict[str, Any]:
    fields = lay.fields(kind)
    if len(cells) != len(fields) + 1:
        raise RecordFormatError(f"項目数が {len(cells) - 1} です（{len(fields)} のはず）", row=row)
    out: dict[str, Any] = {}
    for f, cell in zip(fields, cells[1:], strict=True):
        if f.type == "J":
            out[f.name] = parse_json_text(cell, f.name)
        elif f.type == "N":
            if not cell.isdigit() or not cell.isascii():
                raise RecordFormatError(f"項目 {f.name} が数字ではありません（{cell!r}）", field=f.name, row=row)
            out[f.name] = cell
        else:
            out[f.name] = None if cell == "" and f.nullable else cell
    return out


def read_csv(data: bytes, layout_id: str) -> tuple[Layout, dict[str, Any], list[dict[str, Any]]]:
    """(layout, header values, data rows); :class:`RecordFormatError` names the line and field."""
    lay = layout(layout_id)
    try:
        text = data.decode(lay.csv_encoding)
    except UnicodeDecodeError as exc:
        raise RecordFormatError(f"{lay.csv_encoding} として読めません（{exc.start} バイト目）") from None
    raw_lines = text.split("\r\n")
    if raw_lines and raw_lines[-1] == "":
        raw_lines.pop()
    try:
        rows_cells = [next(csv.reader([line])) if line else [""] for line in raw_lines]
    except csv.Error as exc:
        raise RecordFormatError(f"CSV として読めません: {exc}") from None
    if len(rows_cells) < 2 or rows_cells[0][:1] != ["1"] or rows_cells[-1][:1] != ["9"]:
        raise RecordFormatError("1行目がヘッダー（1）、最終行がトレーラー（9）ではありません")
    head_cells = rows_cells[0]
    if len(head_cells) < 3 or head_cells[1] != layout_id or not head_cells[2].isdigit():
        raise RecordFormatError(f"ヘッダーのレイアウトが {layout_id} ではありません", row=1)
    lay = layout(layout_id, int(head_cells[2]))
    header = _values(lay, "header", head_cells, 1)
    trailer = _values(lay, "trailer", rows_cells[-1], len(rows_cells))
    rows = []
    checksum = 0
    for n, (line, cells) in enumerate(zip(raw_lines[1:-1], rows_cells[1:-1], strict=True), start=2):
        if cells[:1] != ["2"]:
            raise RecordFormatError("データ行（2）ではありません", row=n)
        checksum = zlib.crc32(line.encode(lay.csv_encoding), checksum)
        rows.append(_values(lay, "data", cells, n))
    if int(trailer["data_count"]) != len(rows) or int(trailer["record_count"]) != len(rows):
        raise RecordFormatError(f"トレーラーの件数 {int(trailer['data_count'])} が実際の {len(rows)} 件と違います",
                                row=len(rows_cells))
    if int(trailer["checksum"]) != checksum:
        raise RecordFormatError("トレーラーのチェックサムが一致しません（ファイルが壊れているか改変されています）",
                                row=len(rows_cells))
    return lay, header, rows
