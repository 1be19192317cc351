"""Reading one file of the layout for an import: structure, 外字 mapping, every item, 団体コード.

Built on the format layer (:class:`~moyai.portability.format.LayoutReader` for the structure and
the required/length checks, the item codecs for the values).  What this adds:

- the 外字 mapping: private-use characters of a value are replaced by the user's mapping before
  the value is decoded, and each replacement is counted (file, item, 外字コード) for the report;
  an unmapped one stays and the codec reports it (``gaiji``);
- each item's decoded value (or its problem) is memoised per distinct text: a person's items
  appear on every history row, a household's address on every member's;
- 団体コード is compared with the 団体 being imported; a file of another 団体 is reported once
  per file and code (first row, number of rows), not on each of its rows;
- the rows of a record that has any problem are remembered (``tainted``: its key values), so the
  cross-file checks can leave them out instead of reporting consequences of the same defect.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from moyai.portability.format import FieldError, FileSpec, ItemSpec, LayoutReader, Problem, ProblemKind, decode
from moyai.portability.format.codecs import check_text

__all__ = ["FileRead", "count_lines", "read_file"]

_PRIVATE_USE: Final = re.compile("[\ue000-\uf8ff\U000f0000-\U0010ffff]")


@dataclass
class FileRead:
    """What reading one file gave."""

    name: str
    encoding: str | None = None
    rows_read: int = 0  # data rows with the right structure
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # rows without problems (empty items absent)
    tainted: dict[str, set[str]] = field(default_factory=dict)  # item id → values of rows with problems
    gaiji: Counter[tuple[str, str]] = field(default_factory=Counter)  # (item name, 外字コード) → replaced


def count_lines(path: Path) -> int:
    """Lines of a file (for the progress bar), counted on bytes."""
    n = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            n += chunk.count(b"\n")
    return n


class _RawReader(LayoutReader):
    """The format layer's reader for the structure; the items are checked by :func:`read_file`
    (with :func:`~moyai.portability.format.decode`, memoised), not once more here."""

    def _values(self, row: int, fields: list[str], columns: list[int]) -> dict[str, str]:
        self.rows += 1
        return {item.id: fields[col] for item, col in zip(self.spec.items, columns, strict=True)}


_MISSING: Final = object()


def read_file(
    path: Path,
    spec: FileSpec,
    problems: list[Problem],
    *,
    tenant_code: str,
    gaiji: dict[int, str] | None = None,
    keys: tuple[str, ...] = (),
    advance: Callable[[int], None] | None = None,
) -> FileRead:
    """Read ``path`` as ``spec``; problems are appended to ``problems``.

    Each item's text is decoded by the format layer's :func:`~moyai.portability.format.decode`
    (required, length, characters, type, code, date, check digit) once per distinct text: the
    result (value or :class:`FieldError`) is memoised per item, since values repeat across a
    person's history rows and a household's members.
    """
    out = FileRead(spec.file_name)
    reader = _RawReader(path, spec, name=spec.file_name, problems=problems)
    plan: list[tuple[str, ItemSpec, dict[str, Any]]] = [(it.id, it, {}) for it in spec.items]  # memo: text → value | FieldError
    required = [it for it in spec.items if it.required]
    foreign: dict[str, tuple[int, int]] = {}  # other 団体コード → (first row, rows)
    has_tenant = "tenant_code" in spec.ids
    table = gaiji or {}
    name = out.name
    before = len(problems)
    step = 0
    for row, raw in reader:
        step += 1
        if advance is not None and step == 5000:
            advance(step)
            step = 0
        bad = len(problems) > before and any(p.row == row for p in problems[before:])
        values: dict[str, Any] = {}
        for iid, item, memo in plan:
            text = raw[iid]
            if not text:
                continue  # an empty item is left out: absent means None (memory: most items are empty)
            if table and not text.isascii() and _PRIVATE_USE.search(text) is not None:
                text = _map_gaiji(text, table, item.name, out)
            got = memo.get(text, _MISSING)
            if got is _MISSING:
                try:
                    got = decode(item, text)
                except FieldError as exc:
                    got = exc
                memo[text] = got
            if isinstance(got, FieldError):
                problems.append(got.problem(name, row))
                bad = True
            else:
                values[iid] = got
        for item in required:
            if not raw[item.id]:
                try:
                    check_text(item, "")
                except FieldError as exc:
                    problems.append(exc.problem(name, row))
                    bad = True
        if has_tenant and raw["tenant_code"] != tenant_code:
            first, n = foreign.get(raw["tenant_code"], (row, 0))
            foreign[raw["tenant_code"]] = (first, n + 1)
            bad = True
        if bad:
            for key in keys:
                if raw[key]:
                    out.tainted.setdefault(key, set()).add(raw[key])
        else:
            out.rows.append((row, values))
        before = len(problems)
    if advance is not None and step:
        advance(step)
    out.encoding = reader.encoding
    out.rows_read = reader.rows
    tenant_item = spec.item("tenant_code").name if has_tenant else None
    for code, (first, n) in sorted(foreign.items()):
        problems.append(
            Problem(
                out.name,
                first,
                tenant_item,
                code,
                f"団体コード {code} のファイルです（取込先の団体は {tenant_code}、{n:,}行）",
                ProblemKind.TENANT,
                "tenant_code",
            )
        )
    return out


def _map_gaiji(text: str, table: dict[int, str], item_name: str, out: FileRead) -> str:
    for ch in _PRIVATE_USE.findall(text):
        if ord(ch) in table:
            out.gaiji[(item_name, f"U+{ord(ch):04X}")] += 1
    return text.translate(table)
