"""Reading and writing the CSV files of a layout: strict on input, deterministic on output.

Reading (:class:`LayoutReader`, :func:`read_values`):

- the encoding is detected over the whole file: UTF-8 with or without BOM, else Shift_JIS
  (cp932); anything else — including a file with NUL bytes (UTF-16) or escape sequences
  (ISO-2022-JP) — is refused with
  「ファイル X の文字コードを判別できません（UTF-8 または Shift_JIS）」;
- the first record is the header: the standard item names, in any order; a missing, unknown or
  repeated name is reported and no data row is read;
- records follow RFC 4180: fields separated by commas, a field containing a comma, a quote or a
  line break is enclosed in double quotes with inner quotes doubled; a quote anywhere else is an
  error.  Lines may end in CRLF (the standard) or LF;
- each record must have as many fields as the header; a last line without a line break that is
  short of fields is reported as a truncated file; an empty line is an error;
- empty required items and overlong values are reported per item.

Rows are numbered by the line where the record starts (the header is line 1), as an editor shows
them.  Every problem is a :class:`~.problems.Problem` naming file, row and item.

Writing (:func:`write_rows`, :func:`write_values`): the header then the rows, columns in layout
order, ``\\r\\n`` line ends, quotes only where RFC 4180 needs them, UTF-8 without BOM (default)
or cp932 on request; the same rows always give the same bytes.  A character that cp932 cannot
encode raises :class:`CsvWriteError` naming file, row and item: nothing is ever replaced.  The
file is written under a temporary name and renamed, so a failed write leaves no partial file.
"""

from __future__ import annotations

import codecs as _codecs
import csv
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from .codecs import FieldError, check_text, decode_row, encode
from .layout import FileSpec, ItemSpec
from .problems import Problem, ProblemKind

__all__ = [
    "CsvWriteError",
    "EncodingError",
    "LayoutReader",
    "Problem",
    "ProblemKind",
    "detect_encoding",
    "read_values",
    "row_encoder",
    "write_rows",
    "write_text_rows",
    "write_values",
]

_CHUNK: Final = 1 << 20
_BOM: Final = b"\xef\xbb\xbf"
_FIELD: Final = r'(?:"(?:[^"]|"")*"|[^",\r\n]*)'
_RECORD: Final = re.compile(rf"{_FIELD}(?:,{_FIELD})*(?:\r\n|\n|\r)?")
_WRITE_ENCODINGS: Final = {"utf-8": "utf-8", "utf8": "utf-8", "cp932": "cp932", "shift_jis": "cp932", "sjis": "cp932"}
_BATCH: Final = 2000


class EncodingError(ValueError):
    """The file is neither UTF-8 nor Shift_JIS."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class CsvWriteError(ValueError):
    """A value that cannot be written (unencodable character or invalid value)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


# --- encoding -------------------------------------------------------------------------------------


def _decodes(path: Path, encoding: str, skip: int = 0) -> bool:
    decoder = _codecs.getincrementaldecoder(encoding)(errors="strict")
    with path.open("rb") as fh:
        fh.seek(skip)
        try:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _has_nul_or_escape(path: Path) -> bool:
    """NUL (UTF-16/32) or ESC (ISO-2022-JP, 「JIS コード」): bytes no UTF-8/Shift_JIS CSV holds."""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if b"\x00" in chunk or b"\x1b" in chunk:
                return True
    return False


def _first_line(path: Path, encoding: str) -> str:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        return fh.readline()


def detect_encoding(path: str | os.PathLike[str], name: str | None = None, header: Iterable[str] = ()) -> str:
    """``utf-8-sig`` (UTF-8 with BOM), ``utf-8`` or ``cp932``; :class:`EncodingError` otherwise.

    Almost any byte string decodes as cp932 (EUC-JP does, as half-width katakana), so when the
    expected ``header`` names are given, a file is only taken as cp932 if its first line then
    contains one of them.
    """
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(len(_BOM))
    if not _has_nul_or_escape(p):
        if head == _BOM and _decodes(p, "utf-8", len(_BOM)):
            return "utf-8-sig"
        if head != _BOM and _decodes(p, "utf-8"):
            return "utf-8"
        names = list(header)
        if head != _BOM and _decodes(p, "cp932"):
            first = _first_line(p, "cp932")
            if not names or any(n in first for n in names):
                return "cp932"
    shown = name or p.name
    raise EncodingError(
        Problem(
            shown,
            None,
            None,
            None,
            f"ファイル {shown} の文字コードを判別できません（UTF-8 または Shift_JIS）",
            ProblemKind.ENCODING,
        )
    )


# --- reading --------------------------------------------------------------------------------------


class LayoutReader:
    """Iterate over ``(row_number, {item_id: raw_text})`` of one layout file.

    Problems are appended to ``problems`` (the list given, or a new one); a row is yielded when its
    structure is right (it may still have empty required or overlong values, reported here).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        spec: FileSpec,
        *,
        encoding: str | None = None,
        name: str | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.path = Path(path)
        self.spec = spec
        self.name = name or self.path.name
        self.encoding = encoding
        self.problems: list[Problem] = problems if problems is not None else []
        self.rows = 0  # data rows yielded

    def _problem(self, row: int | None, reason: str, kind: ProblemKind, item: str | None = None) -> None:
        self.problems.append(Problem(self.name, row, item, None, reason, kind))

    def _columns(self, header: list[str]) -> list[int] | None:
        """Position of each layout item in the header, or None after reporting what is wrong."""
        ok = True
        known = set(self.spec.header)
        seen: set[str] = set()
        for name in header:
            if name in seen:
                self._problem(1, f"項目「{name}」がヘッダに2回あります", ProblemKind.DUPLICATE_COLUMN, name)
                ok = False
            elif name not in known:
                self._problem(
                    1,
                    f"項目「{name}」は {self.spec.file_name} の標準の項目ではありません",
                    ProblemKind.EXTRA_COLUMN,
                    name,
                )
                ok = False
            seen.add(name)
        for name in self.spec.header:
            if name not in seen:
                self._problem(1, f"項目「{name}」の列がありません", ProblemKind.MISSING_COLUMN, name)
                ok = False
        return [header.index(name) for name in self.spec.header] if ok else None

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        try:
            encoding = self.encoding or detect_encoding(self.path, self.name, self.spec.header)
        except EncodingError as exc:
            self.problems.append(exc.problem)
            return
        self.encoding = encoding
        with self.path.open("r", encoding=encoding, errors="strict", newline="") as fh:
            yield from self._records(fh)

    def _records(self, fh: io.TextIOBase) -> Iterator[tuple[int, dict[str, str]]]:
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in fh:
                consumed.append(line)
                yield line

        reader = csv.reader(lines(), dialect="excel", strict=True)
        columns: list[int] | None = None
        width = 0
        end = 0
        while True:
            start = end + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                end = reader.line_num
                raw = "".join(consumed)
                consumed.clear()
                if "end of data" in str(exc) or not raw.endswith(("\n", "\r")):
                    self._problem(
                        start, "ファイルが途中で切れています（引用符が閉じられていません）", ProblemKind.TRUNCATED
                    )
                else:
                    self._problem(start, f"CSV の引用符の使い方が正しくありません（{exc}）", ProblemKind.CSV_SYNTAX)
                continue
            end = reader.line_num
            raw = "".join(consumed)
            consumed.clear()
            if '"' in raw and _RECORD.fullmatch(raw) is None:
                self._problem(
                    start,
                    "CSV の引用符の使い方が正しくありません（引用符は項目全体を囲みます）",
                    ProblemKind.CSV_SYNTAX,
                )
                continue
            if columns is None:
                columns = self._columns(fields)
                if columns is None:
                    return
                width = len(fields)
                continue
            if len(fields) != width:
                self._field_count(start, fields, raw, width)
                continue
            yield start, self._values(start, fields, columns)
        if columns is None and end == 0:
            self._problem(None, "ヘッダ行がありません（空のファイルです）", ProblemKind.HEADER)

    def _field_count(self, start: int, fields: list[str], raw: str, width: int) -> None:
        if not raw.endswith(("\n", "\r")) and len(fields) < width:
            self._problem(
                start,
                f"ファイルが途中で切れています（最終行の項目が{len(fields)}個、ヘッダは{width}個）",
                ProblemKind.TRUNCATED,
            )
        elif not fields or fields == [""]:
            self._problem(start, "空行があります", ProblemKind.FIELD_COUNT)
        else:
            self._problem(start, f"項目の数が{len(fields)}個です（ヘッダは{width}個）", ProblemKind.FIELD_COUNT)

    def _values(self, row: int, fields: list[str], columns: list[int]) -> dict[str, str]:
        values: dict[str, str] = {}
        for item, col in zip(self.spec.items, columns, strict=True):
            text = fields[col]
            values[item.id] = text
            if text == "" and not item.required:
                continue
            try:
                check_text(item, text)
            except FieldError as exc:
                self.problems.append(exc.problem(self.name, row))
        self.rows += 1
        return values


def read_values(
    path: str | os.PathLike[str],
    spec: FileSpec,
    problems: list[Problem],
    *,
    encoding: str | None = None,
    name: str | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Decoded rows ``(row_number, {item_id: value})`` of a file; only rows without problems are
    yielded, every problem (structure, encoding, each item) is appended to ``problems`` once."""
    reader = LayoutReader(path, spec, encoding=encoding, name=name, problems=problems)
    before = len(problems)
    for row, raw in reader:
        known = set(problems[before:])
        values, found = decode_row(spec, raw, file=reader.name, row=row)
        new = [p for p in found if p not in known]
        problems.extend(new)
        clean = not new and not any(p.row == row for p in problems[before:])
        before = len(problems)
        if clean:
            yield row, values


# --- writing --------------------------------------------------------------------------------------


def _write_encoding(encoding: str) -> str:
    try:
        return _WRITE_ENCODINGS[encoding.lower()]
    except KeyError:
        raise ValueError(f"出力の文字コード {encoding} は使えません（utf-8 または cp932）") from None


def _unencodable(spec: FileSpec, name: str, first_row: int, batch: list[list[str]], encoding: str) -> CsvWriteError:
    for offset, fields in enumerate(batch):
        for item, text in zip(spec.items, fields, strict=True):
            for ch in text:
                try:
                    ch.encode(encoding)
                except UnicodeEncodeError:
                    reason = f"文字「{ch}」（U+{ord(ch):04X}）は Shift_JIS（cp932）で表せません"
                    return CsvWriteError(
                        Problem(name, first_row + offset, item.name, text, reason, ProblemKind.UNENCODABLE, item.id)
                    )
    return CsvWriteError(
        Problem(name, first_row, None, None, f"{encoding} で書けない文字があります", ProblemKind.UNENCODABLE)
    )


def write_rows(
    path: str | os.PathLike[str],
    spec: FileSpec,
    rows: Iterable[Mapping[str, str]],
    *,
    encoding: str = "utf-8",
    name: str | None = None,
) -> int:
    """Write the header and ``rows`` (raw texts by item id); returns the number of data rows."""
    ids = spec.ids
    return _write_lists(path, spec, ([row.get(i, "") for i in ids] for row in rows), encoding=encoding, name=name)


def _write_lists(
    path: str | os.PathLike[str],
    spec: FileSpec,
    rows: Iterable[list[str]],
    *,
    encoding: str = "utf-8",
    name: str | None = None,
) -> int:
    """Write the header and ``rows`` (raw texts in column order); returns the number of data rows."""
    enc = _write_encoding(encoding)
    target = Path(path)
    shown = name or target.name
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    count = 0
    try:
        with os.fdopen(fd, "wb") as out:
            buf = io.StringIO()
            writer = csv.writer(buf, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
            batch: list[list[str]] = [list(spec.header)]
            first = 1  # line number of batch[0]
            for row in rows:
                batch.append(row)
                count += 1
                if len(batch) >= _BATCH:
                    _flush(out, buf, writer, batch, spec, shown, first, enc)
                    first += len(batch)
                    batch = []
            _flush(out, buf, writer, batch, spec, shown, first, enc)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _flush(
    out: Any, buf: io.StringIO, writer: Any, batch: list[list[str]], spec: FileSpec, name: str, first: int, enc: str
) -> None:
    if not batch:
        return
    writer.writerows(batch)
    text = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    try:
        out.write(text.encode(enc, errors="strict"))
    except UnicodeEncodeError:
        raise _unencodable(spec, name, first, batch, enc) from None


def write_text_rows(
    path: str | os.PathLike[str],
    spec: FileSpec,
    chunks: Iterable[bytes],
    *,
    encoding: str = "utf-8",
    name: str | None = None,
) -> tuple[int, str]:
    """Write the header and rows already encoded by :func:`row_encoder` and the CSV writer (UTF-8
    bytes, CRLF after each row, as many rows per chunk as wanted); returns (data rows, SHA-256 of
    the file).  The bytes are those :func:`write_values` writes for the same rows; in cp932, a
    character cp932 cannot encode raises :class:`CsvWriteError` naming the same file, row and item.
    """
    enc = _write_encoding(encoding)
    target = Path(path)
    shown = name or target.name
    buf = io.StringIO()
    csv.writer(buf, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerow(spec.header)
    header = buf.getvalue()
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    count = 0
    try:
        with os.fdopen(fd, "wb") as out:
            if enc == "utf-8":
                data = header.encode("utf-8")
                out.write(data)
                digest.update(data)
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    count += chunk.count(b"\n")
            else:
                pending: list[bytes] = [header.encode("utf-8")]
                size = 0
                first = 1  # line number of the first row pending
                for chunk in chunks:
                    pending.append(chunk)
                    size += len(chunk)
                    if size >= _CHUNK:
                        first, n = _write_recoded(out, digest, pending, spec, shown, first, enc)
                        count += n
                        pending, size = [], 0
                first, n = _write_recoded(out, digest, pending, spec, shown, first, enc)
                count += n
                count -= 1  # the header
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count, digest.hexdigest()


def _write_recoded(
    out: Any, digest: Any, pending: list[bytes], spec: FileSpec, name: str, first: int, enc: str
) -> tuple[int, int]:
    """Write UTF-8 rows in ``enc``; returns (line number after them, rows written)."""
    if not pending:
        return first, 0
    text = b"".join(pending).decode("utf-8")
    rows = text.count("\n")
    try:
        data = text.encode(enc, errors="strict")
    except UnicodeEncodeError:
        lines = text.split("\r\n")
        for offset, line in enumerate(lines):  # the first row that cannot be encoded, as _flush finds it
            try:
                line.encode(enc)
            except UnicodeEncodeError:
                fields = next(csv.reader([line], dialect="excel", strict=True))
                raise _unencodable(spec, name, first + offset, [fields], enc) from None
        raise _unencodable(spec, name, first, [], enc) from None
    out.write(data)
    digest.update(data)
    return first + rows, rows


_MEMO_LIMIT: Final = 100_000  # distinct values remembered per item (then forgotten, and again)


def row_encoder(spec: FileSpec) -> Callable[[Mapping[str, Any]], list[str]]:
    """:func:`~.codecs.encode` of every item of a row, in column order, each distinct value of an
    item encoded (and checked) once: a person's items repeat on each of their history rows, codes
    and dates across persons.  Values are remembered with their type (``True`` is not ``1``)."""
    plan: list[tuple[str, ItemSpec, bool, dict[Any, str]]] = [
        (item.id, item, not item.required, {}) for item in spec.items
    ]

    def encode_values(values: Mapping[str, Any]) -> list[str]:
        out: list[str] = []
        for iid, item, optional, memo in plan:
            value = values.get(iid)
            if value is None and optional:
                out.append("")
                continue
            key = (value.__class__, value)
            try:
                text = memo[key]
            except KeyError:
                text = encode(item, value)
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[key] = text
            except TypeError:  # an unhashable value: encode refuses it
                text = encode(item, value)
            out.append(text)
        return out

    return encode_values


def write_values(
    path: str | os.PathLike[str],
    spec: FileSpec,
    rows: Iterable[Mapping[str, Any]],
    *,
    encoding: str = "utf-8",
    name: str | None = None,
) -> int:
    """Encode ``rows`` (values by item id, see :mod:`.codecs`) and write them like :func:`write_rows`."""
    shown = name or Path(path).name
    encode_values = row_encoder(spec)

    def texts() -> Iterator[list[str]]:
        for n, values in enumerate(rows, start=2):
            try:
                yield encode_values(values)
            except FieldError as exc:
                raise CsvWriteError(exc.problem(shown, n)) from None

    return _write_lists(path, spec, texts(), encoding=encoding, name=shown)
