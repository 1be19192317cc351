"""Error injection into a valid 中間標準レイアウト file set (test files for the importer).

Each :class:`InjectionKind` is one kind of bad input the importer must refuse; :func:`inject`
(or the function of that kind in :data:`INJECTORS`) edits the files of a valid set in a
directory (as written by :func:`~moyai.portability.fileset.write_fileset`) so that it holds
exactly that error, and returns an :class:`Injected` record saying where: the file, the row (the
line where the record starts, header = 1; ``None`` for the whole file), the standard item name,
and the :class:`~moyai.portability.format.problems.ProblemKind` the importer must report there.

The files keep their encoding (UTF-8, with or without BOM, or cp932) and their CSV form (CRLF,
quotes where RFC 4180 needs them); rows other than the edited ones keep their bytes.  Which row
is edited is chosen by ``seed`` among the rows where the error can be made, deterministically.

Kinds (``moyai export --synthetic --inject KIND``):

================================  ==============================================================
``wrong-encoding``                the 住民 file re-encoded as UTF-16 (→ ``encoding``)
``truncated-last-line``           the last line of the 住民 file cut after half its fields,
                                  without a line break (→ ``truncated``)
``missing-column``                an item's column removed from the 住民 file (→ ``missing_column``)
``overlong-value``                a 文字 item one character longer than allowed (→ ``too_long``)
``bad-code``                      性別 (or another コード item) set to a code not in its table
                                  (→ ``code``)
``bad-check-digit``               the check digit of a 個人番号 changed (→ ``check_digit``)
``impossible-date``               an 異動日 of 2月30日 (→ ``date``)
``duplicated-key``                a row of the 住民 file repeated right after itself: the same
                                  (宛名番号, 履歴番号) twice (→ ``duplicate_key``)
``dangling-reference``            a 世帯主宛名番号 in the 世帯 file naming no resident
                                  (→ ``reference``)
``two-heads``                     a member's 続柄 made 世帯主 in a household that has one: the
                                  世帯 row then has two 世帯主 (→ ``inconsistent``)
``history-gap``                   the last 履歴番号 of a person raised by one (→ ``sequence``)
``gaiji``                         a private-use character (vendor 外字) put in an item that allows
                                  外字, no mapping given (→ ``gaiji``)
``other-tenant``                  every 団体コード replaced by another 団体's (→ ``tenant``)
================================  ==============================================================
"""

from __future__ import annotations

import csv
import io
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from moyai.platform.codes.checkdigits import local_government_code_check_digit, with_mod11

from .format.codecs import encode, table_of
from .format.csvio import detect_encoding
from .format.layout import FileSpec, ItemSpec, Layout, load_layout
from .format.persons import HOUSEHOLD_FILE, RESIDENT_FILE
from .format.problems import ProblemKind

__all__ = [
    "INJECTORS",
    "Injected",
    "InjectionError",
    "InjectionKind",
    "inject",
    "injection_kind",
    "set_support_measure",
    "set_tenant_code",
]


class InjectionKind(StrEnum):
    """The kinds of bad input (values are the names ``--inject`` takes)."""

    WRONG_ENCODING = "wrong-encoding"
    TRUNCATED_LAST_LINE = "truncated-last-line"
    MISSING_COLUMN = "missing-column"
    OVERLONG_VALUE = "overlong-value"
    BAD_CODE = "bad-code"
    BAD_CHECK_DIGIT = "bad-check-digit"
    IMPOSSIBLE_DATE = "impossible-date"
    DUPLICATED_KEY = "duplicated-key"
    DANGLING_REFERENCE = "dangling-reference"
    TWO_HEADS = "two-heads"
    HISTORY_GAP = "history-gap"
    GAIJI = "gaiji"
    OTHER_TENANT = "other-tenant"


@dataclass(frozen=True)
class Injected:
    """Where an error was put, and the problem the importer must report there."""

    kind: InjectionKind
    file: str  # file name (JYUKI_KOJIN.csv …)
    row: int | None  # line where the record starts (header = 1); None: the whole file
    item: str | None  # standard item name, None when not about one item
    expected_problem_kind: ProblemKind
    item_id: str | None = None
    value: str | None = None  # the bad value written (None when not one value)


class InjectionError(ValueError):
    """The file set has no row where this error can be made (e.g. no household with a 世帯主)."""


_GAIJI_FIRST: Final = 0xE000
_GAIJI_COUNT: Final = 0x758  # U+E000–E757: the private use characters cp932 maps to its 外字 area


# --- one CSV file as rows ---------------------------------------------------------------------------


class _Table:
    """A layout file read into memory (header, rows, line numbers), written back in the same form."""

    def __init__(self, directory: Path, spec: FileSpec) -> None:
        self.spec = spec
        self.path = directory / spec.file_name
        self.encoding = detect_encoding(self.path, spec.file_name, spec.header)
        with self.path.open("r", encoding=self.encoding, newline="") as fh:
            reader = csv.reader(fh, dialect="excel", strict=True)
            self.header = next(reader)
            self.rows: list[list[str]] = []
            self.lines: list[int] = []  # line where each row starts
            start = reader.line_num + 1
            for fields in reader:
                self.rows.append(fields)
                self.lines.append(start)
                start = reader.line_num + 1
        self._column = {it.id: self.header.index(it.name) for it in spec.items}

    def col(self, item_id: str) -> int:
        return self._column[item_id]

    def get(self, index: int, item_id: str) -> str:
        return self.rows[index][self.col(item_id)]

    def set(self, index: int, item_id: str, text: str) -> None:
        self.rows[index][self.col(item_id)] = text

    def line_of(self, index: int) -> int:
        """The line row ``index`` starts on once written (rows hold no line breaks)."""
        return index + 2

    def text(self, *, last_line_end: bool = True) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(self.header)
        writer.writerows(self.rows)
        out = buf.getvalue()
        return out if last_line_end else out.removesuffix("\r\n")

    def save(self, *, last_line_end: bool = True, encoding: str | None = None) -> None:
        data = self.text(last_line_end=last_line_end).encode(encoding or self.encoding)
        tmp = self.path.with_name(f".{self.path.name}.inject")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)


def _pick(rng: random.Random, candidates: Sequence[int], kind: InjectionKind, why: str) -> int:
    if not candidates:
        raise InjectionError(f"{kind}: {why}がないため、この誤りを作れません")
    return candidates[rng.randrange(len(candidates))]


def _with_record(t: _Table) -> list[int]:
    """Rows that hold a record (住民状態 not empty)."""
    c = t.col("status")
    return [i for i, r in enumerate(t.rows) if r[c] != ""]


def _injected(
    kind: InjectionKind, t: _Table, index: int | None, item: ItemSpec | None, problem: ProblemKind, value: str | None
) -> Injected:
    return Injected(
        kind=kind,
        file=t.spec.file_name,
        row=None if index is None else t.line_of(index),
        item=None if item is None else item.name,
        expected_problem_kind=problem,
        item_id=None if item is None else item.id,
        value=value,
    )


def _persons(t: _Table) -> dict[str, list[int]]:
    """宛名番号 → indexes of that person's rows."""
    out: dict[str, list[int]] = {}
    c = t.col("atena_no")
    for i, r in enumerate(t.rows):
        out.setdefault(r[c], []).append(i)
    return out


# --- the injectors --------------------------------------------------------------------------------------


def inject_wrong_encoding(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    t = _Table(directory, layout.file(RESIDENT_FILE))
    t.save(encoding="utf-16")  # with BOM: what a spreadsheet's 「Unicode テキスト」 gives
    return _injected(InjectionKind.WRONG_ENCODING, t, None, None, ProblemKind.ENCODING, None)


def inject_truncated_last_line(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    t = _Table(directory, layout.file(RESIDENT_FILE))
    if not t.rows:
        raise InjectionError(f"{InjectionKind.TRUNCATED_LAST_LINE}: データ行がないため、この誤りを作れません")
    last = len(t.rows) - 1
    t.rows[last] = t.rows[last][: len(t.header) // 2]
    t.save(last_line_end=False)
    return _injected(InjectionKind.TRUNCATED_LAST_LINE, t, last, None, ProblemKind.TRUNCATED, None)


def inject_missing_column(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    t = _Table(directory, spec)
    item = spec.items[rng.randrange(len(spec.items))]
    c = t.col(item.id)
    del t.header[c]
    for r in t.rows:
        del r[c]
    t.save()
    return Injected(InjectionKind.MISSING_COLUMN, spec.file_name, 1, item.name, ProblemKind.MISSING_COLUMN, item.id)


def inject_overlong_value(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    t = _Table(directory, spec)
    texts = [it for it in spec.items if it.type == "文字"]
    cells = [(i, it) for i in _with_record(t) for it in texts if t.get(i, it.id) != ""]
    index, item = cells[_pick(rng, range(len(cells)), InjectionKind.OVERLONG_VALUE, "文字の項目に値のある行")]
    value = t.get(index, item.id)
    value = (value * (item.length // len(value) + 2))[: item.length + 1]
    t.set(index, item.id, value)
    t.save()
    return _injected(InjectionKind.OVERLONG_VALUE, t, index, item, ProblemKind.TOO_LONG, value)


def _code_not_in_table(item: ItemSpec) -> str:
    table = table_of(item)
    width = max(len(c) for c in table.entries)
    for n in range(10**width - 1, -1, -1):
        code = f"{n:0{width}d}"
        if not table.has(code):
            return code
    raise InjectionError(f"{item.name}: コード表にないコードを作れません")


def inject_bad_code(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    t = _Table(directory, spec)
    item = spec.item("sex")
    index = _pick(rng, [i for i in _with_record(t) if t.get(i, item.id) != ""], InjectionKind.BAD_CODE, "性別のある行")
    value = _code_not_in_table(item)
    t.set(index, item.id, value)
    t.save()
    return _injected(InjectionKind.BAD_CODE, t, index, item, ProblemKind.CODE, value)


def inject_bad_check_digit(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    t = _Table(directory, spec)
    item = spec.item("individual_number")
    rows = [i for i in _with_record(t) if t.get(i, item.id) != ""]
    index = _pick(rng, rows, InjectionKind.BAD_CHECK_DIGIT, "個人番号のある行")
    number = t.get(index, item.id)
    value = number[:-1] + str((int(number[-1]) + 1 + rng.randrange(9)) % 10)
    t.set(index, item.id, value)
    t.save()
    return _injected(InjectionKind.BAD_CHECK_DIGIT, t, index, item, ProblemKind.CHECK_DIGIT, value)


def inject_impossible_date(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    t = _Table(directory, spec)
    item = spec.item("effective_date")
    index = _pick(rng, range(len(t.rows)), InjectionKind.IMPOSSIBLE_DATE, "データ行")
    value = t.get(index, item.id)[:4] + "0230"
    t.set(index, item.id, value)
    t.save()
    return _injected(InjectionKind.IMPOSSIBLE_DATE, t, index, item, ProblemKind.DATE, value)


def inject_duplicated_key(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    t = _Table(directory, spec)
    index = _pick(rng, range(len(t.rows)), InjectionKind.DUPLICATED_KEY, "データ行")
    t.rows.insert(index + 1, list(t.rows[index]))
    t.save()
    item = spec.item("history_no")
    return _injected(InjectionKind.DUPLICATED_KEY, t, index + 1, item, ProblemKind.DUPLICATE_KEY, t.get(index, item.id))


def inject_dangling_reference(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    residents = _Table(directory, layout.file(RESIDENT_FILE))
    known = {r[residents.col("atena_no")] for r in residents.rows}
    spec = layout.file(HOUSEHOLD_FILE)
    t = _Table(directory, spec)
    index = _pick(rng, range(len(t.rows)), InjectionKind.DANGLING_REFERENCE, "世帯の行")
    body = 10**9 - 1
    while (value := with_mod11(f"{body:09d}")) in known:
        body -= 1
    item = spec.item("head_atena_no")
    t.set(index, item.id, value)
    t.save()
    return _injected(InjectionKind.DANGLING_REFERENCE, t, index, item, ProblemKind.REFERENCE, value)


def _may_change_last_row(residents: _Table, rows: list[int], resident_status: str) -> bool:
    """The person's last row is a current record with every 異動 applied (no 取消し, no back-dating)."""
    last = rows[-1]
    dates = [residents.get(i, "effective_date") for i in rows]
    return (
        residents.get(last, "status") == resident_status
        and all(residents.get(i, "cancels_history_no") == "" and residents.get(i, "cancelled") == "0" for i in rows)
        and dates[-1] == max(dates)
    )


def inject_two_heads(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(HOUSEHOLD_FILE)
    households = _Table(directory, spec)
    residents = _Table(directory, layout.file(RESIDENT_FILE))
    head_code = encode(residents.spec.item("relationship"), "世帯主")
    row_of = {households.get(i, "household_no"): i for i in range(len(households.rows))}
    with_head = {h for h, i in row_of.items() if households.get(i, "head_atena_no") != ""}
    candidates: list[tuple[int, int]] = []  # (length of the history, last row)
    for rows in _persons(residents).values():
        last = rows[-1]
        hh = residents.get(last, "household_no")
        if (
            hh in with_head
            and residents.get(last, "relationship") not in ("", head_code)
            and _may_change_last_row(residents, rows, layout.history.resident_status)
        ):
            candidates.append((len(rows), last))
    if not candidates:
        raise InjectionError(f"{InjectionKind.TWO_HEADS}: 世帯主のいる世帯の世帯員がいないため、この誤りを作れません")
    shortest = min(n for n, _ in candidates)  # a person with the fewest rows: the simplest history
    pool = [last for n, last in candidates if n == shortest]
    last = pool[rng.randrange(len(pool))]
    residents.set(last, "relationship", head_code)
    residents.save()
    index = row_of[residents.get(last, "household_no")]
    item = spec.item("head_atena_no")
    value = households.get(index, item.id)
    return _injected(InjectionKind.TWO_HEADS, households, index, item, ProblemKind.INCONSISTENT, value)


def inject_history_gap(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    t = _Table(directory, spec)
    lasts = [rows[-1] for rows in _persons(t).values() if len(rows) >= 2]
    index = _pick(rng, lasts, InjectionKind.HISTORY_GAP, "履歴が2行以上の住民")
    item = spec.item("history_no")
    value = str(int(t.get(index, item.id)) + 1)
    t.set(index, item.id, value)
    t.save()
    return _injected(InjectionKind.HISTORY_GAP, t, index, item, ProblemKind.SEQUENCE, value)


def inject_gaiji(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    t = _Table(directory, spec)
    items = [it for it in spec.items if it.gaiji and it.type == "文字"]
    cells = [(i, it) for i in _with_record(t) for it in items if t.get(i, it.id) != ""]
    index, item = cells[_pick(rng, range(len(cells)), InjectionKind.GAIJI, "外字を使える項目に値のある行")]
    value = chr(_GAIJI_FIRST + rng.randrange(_GAIJI_COUNT)) + t.get(index, item.id)[1:]
    t.set(index, item.id, value)
    t.save()
    return _injected(InjectionKind.GAIJI, t, index, item, ProblemKind.GAIJI, value)


def _other_tenant(code: str) -> str:
    body = int(code[:5])
    for step in range(1, 100000):
        first5 = f"{(body + step) % 100000:05d}"
        other = first5 + str(local_government_code_check_digit(first5))
        if other != code:
            return other
    raise InjectionError("別の団体コードを作れません")  # pragma: no cover - 10^5 bodies


def set_tenant_code(
    directory: str | os.PathLike[str], tenant_code: str | Callable[[str], str], *, layout: Layout | None = None
) -> None:
    """Rewrite the 団体コード of every row of every file that has one (``tenant_code``: the new
    code, or a function of the old one); nothing else changes.  Used to move a file set to
    another 団体 (a round trip into a second 団体) and by ``other-tenant``."""
    new = tenant_code if callable(tenant_code) else (lambda _old: tenant_code)
    for spec in (layout or load_layout()).files:
        if "tenant_code" not in spec.ids:
            continue
        t = _Table(Path(directory), spec)
        c = t.col("tenant_code")
        for r in t.rows:
            r[c] = new(r[c])
        t.save()


def set_support_measure(
    directory: str | os.PathLike[str],
    rows: Callable[[str, int], str | None],
    *,
    layout: Layout | None = None,
) -> list[int]:
    """Set 支援措置対象フラグ of rows of the 住民 file: ``rows(宛名番号, 履歴番号)`` gives the text
    (``"1"``, ``"0"``, ``""``) or None to leave the row as it is.  Returns the lines changed."""
    spec = (layout or load_layout()).file(RESIDENT_FILE)
    t = _Table(Path(directory), spec)
    changed = []
    for i in range(len(t.rows)):
        text = rows(t.get(i, "atena_no"), int(t.get(i, "history_no")))
        if text is not None:
            t.set(i, "support_measure", text)
            changed.append(t.line_of(i))
    t.save()
    return changed


def inject_other_tenant(directory: Path, rng: random.Random, layout: Layout) -> Injected:
    spec = layout.file(RESIDENT_FILE)
    if not _Table(directory, spec).rows:
        raise InjectionError(f"{InjectionKind.OTHER_TENANT}: 住民の行がないため、この誤りを作れません")
    set_tenant_code(directory, _other_tenant, layout=layout)
    t = _Table(directory, spec)
    item = spec.item("tenant_code")
    return _injected(InjectionKind.OTHER_TENANT, t, 0, item, ProblemKind.TENANT, t.get(0, item.id))


Injector = Callable[[Path, random.Random, Layout], Injected]

#: The function of each kind.
INJECTORS: Final[dict[InjectionKind, Injector]] = {
    InjectionKind.WRONG_ENCODING: inject_wrong_encoding,
    InjectionKind.TRUNCATED_LAST_LINE: inject_truncated_last_line,
    InjectionKind.MISSING_COLUMN: inject_missing_column,
    InjectionKind.OVERLONG_VALUE: inject_overlong_value,
    InjectionKind.BAD_CODE: inject_bad_code,
    InjectionKind.BAD_CHECK_DIGIT: inject_bad_check_digit,
    InjectionKind.IMPOSSIBLE_DATE: inject_impossible_date,
    InjectionKind.DUPLICATED_KEY: inject_duplicated_key,
    InjectionKind.DANGLING_REFERENCE: inject_dangling_reference,
    InjectionKind.TWO_HEADS: inject_two_heads,
    InjectionKind.HISTORY_GAP: inject_history_gap,
    InjectionKind.GAIJI: inject_gaiji,
    InjectionKind.OTHER_TENANT: inject_other_tenant,
}


def injection_kind(name: InjectionKind | str) -> InjectionKind:
    """The kind named ``name`` (ValueError listing the kinds otherwise)."""
    try:
        return InjectionKind(name)
    except ValueError:
        names = "、".join(k.value for k in InjectionKind)
        raise ValueError(f"誤りの種類 {name} はありません（{names}）") from None


def inject(
    directory: str | os.PathLike[str], kind: InjectionKind | str, *, seed: int = 0, layout: Layout | None = None
) -> Injected:
    """Put one error of ``kind`` into the file set in ``directory``; where it is, is returned."""
    k = injection_kind(kind)
    return INJECTORS[k](Path(directory), random.Random(f"{k.value}:{seed}"), layout or load_layout())
