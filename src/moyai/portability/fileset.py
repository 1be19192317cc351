"""Writing a whole 中間標準レイアウト file set (移行ファイル一式) from 異動 histories.

:func:`write_fileset` writes every file of the layout's file-composition table
(``data/jyuki_layout.yaml``): the 住民 file (every history row of every person, 除票 included),
the 世帯 file (the households of the current records) and the コード一覧 file.  It is pure
Python over the format layer (no database): the exporter feeds it from the registry, the
synthetic generator from the demo generator.

Deterministic: persons by 宛名番号, rows by 履歴番号, households by 世帯番号, columns in layout
order, the same bytes for the same 異動 (no date of the day, no random order).  The households
are those of each person's record with every 異動 applied (``replay`` of the whole history, the
record as it stands once every recorded 異動 — a 転出予定 included — has taken effect), so an
export does not depend on the day it is made.

All or nothing: the files are written in a temporary directory inside ``directory`` and moved
into place only when every file was written; a value a file cannot hold (a character Shift_JIS
cannot encode, two 世帯主 in the registry) raises :class:`FilesetError` naming the file, the row
and the item, and leaves ``directory`` as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from moyai.residents.domain.model import MoveEvent, PersonState, Status

from .format.codecs import FieldError
from .format.csvio import CsvWriteError, write_text_rows, write_values
from .format.layout import FileSpec, Layout, load_layout
from .format.mapping import person_rows
from .format.persons import (
    CODE_FILE,
    HOUSEHOLD_FILE,
    RESIDENT_FILE,
    HouseholdMember,
    code_list_rows,
    households_to_rows,
)
from .format.problems import Problem

__all__ = ["ENCODINGS", "FileSummary", "FilesetError", "FilesetSummary", "write_fileset", "write_stored_fileset"]

#: Encodings a file set may be written in (the names ``--encoding`` accepts).
ENCODINGS: Final = ("utf-8", "cp932")

Persons = Mapping[str, Sequence[MoveEvent]] | Iterable[tuple[str, Sequence[MoveEvent]]]


class FilesetError(ValueError):
    """A file of the set cannot be written; ``problem`` says where and why (in Japanese)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class FileSummary:
    """One written file: its layout id, name, data rows and SHA-256 of its bytes."""

    file_id: str
    file_name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class FilesetSummary:
    """What :func:`write_fileset` wrote."""

    tenant_code: str
    encoding: str
    directory: Path
    files: tuple[FileSummary, ...]
    persons: int  # persons (宛名番号) with at least one 異動
    residents: int  # persons whose record (every 異動 applied) is a current resident
    removed: int  # persons whose record is a 除票
    history_rows: int  # rows of the 住民 file
    households: int  # rows of the 世帯 file

    def file(self, file_id: str) -> FileSummary:
        for f in self.files:
            if f.file_id == file_id:
                return f
        raise KeyError(file_id)


@dataclass
class _Tally:
    persons: int = 0
    residents: int = 0
    removed: int = 0


def _ordered(persons: Persons) -> Iterator[tuple[str, Sequence[MoveEvent]]]:
    """(宛名番号, 異動) by 宛名番号; an iterable must already be in that order (checked)."""
    if isinstance(persons, Mapping):
        for atena in sorted(persons):
            yield atena, persons[atena]
        return
    previous: str | None = None
    for atena, events in persons:
        if previous is not None and atena <= previous:
            raise ValueError(f"宛名番号の順に渡してください（{previous} の後に {atena}）")
        previous = atena
        yield atena, events


def _resident_rows(
    persons: Persons,
    tenant_code: str,
    layout: Layout,
    states: dict[str, PersonState],
    tally: _Tally,
    flagged: Collection[str],
) -> Iterator[dict[str, Any]]:
    for atena, events in _ordered(persons):
        if not events:
            continue
        tally.persons += 1
        rows, state = person_rows(events, tenant_code=tenant_code, support_measure=atena in flagged, layout=layout)
        if state is not None:
            states[atena] = state
            if state.status == Status.RESIDENT:
                tally.residents += 1
            else:
                tally.removed += 1
        yield from rows


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


FileWriter = Callable[[FileSpec, Path], tuple[int, str | None]]  # (rows, SHA-256 if known)


def _values_writer(values: Callable[[FileSpec], Iterable[Mapping[str, Any]]], encoding: str) -> FileWriter:
    def write(spec: FileSpec, path: Path) -> tuple[int, str | None]:
        return write_values(path, spec, values(spec), encoding=encoding, name=spec.file_name), None

    return write


def _write_files(target: Path, lay: Layout, writers: Mapping[str, FileWriter]) -> dict[str, FileSummary]:
    """Write every file of the layout in a staging directory, then move them all into ``target``."""
    unknown = [f.id for f in lay.files if f.id not in writers]
    if unknown:
        raise ValueError(f"レイアウトのファイル {'、'.join(unknown)} の書き出し方がありません")
    # the 住民 file first: the 世帯 file is made from the records it goes through
    order = sorted(lay.files, key=lambda f: (f.id != RESIDENT_FILE, f.id != HOUSEHOLD_FILE))
    staging = Path(tempfile.mkdtemp(prefix=".moyai-fileset-", dir=target))
    written: dict[str, FileSummary] = {}
    try:
        for spec in order:
            path = staging / spec.file_name
            try:
                rows, sha = writers[spec.id](spec, path)
            except CsvWriteError as exc:
                raise FilesetError(exc.problem) from None
            except FieldError as exc:  # a stored value the layout cannot hold (two 世帯主 …)
                raise FilesetError(exc.problem(spec.file_name, None)) from None
            written[spec.id] = FileSummary(spec.id, spec.file_name, rows, sha or _sha256(path))
        for spec in lay.files:
            os.replace(staging / spec.file_name, target / spec.file_name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def write_fileset(
    directory: str | os.PathLike[str],
    tenant_code: str,
    events_by_person: Persons,
    *,
    encoding: str = "utf-8",
    layout: Layout | None = None,
    on_person: Callable[[], None] | None = None,
    support_measure: Collection[str] = (),
) -> FilesetSummary:
    """Write every file of the layout for ``tenant_code`` into ``directory`` (created if needed).

    ``events_by_person``: 宛名番号 → that person's 異動 (a mapping, or ``(宛名番号, 異動)`` pairs
    in 宛名番号 order, which are consumed once, as a stream).  ``on_person`` is called once per
    person written (progress bars).  ``support_measure``: 宛名番号 of the persons protected by a
    支援措置 (支援措置対象フラグ 1 on every row of theirs).  Existing files of the same names are
    replaced.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"出力の文字コード {encoding} は使えません（{'、'.join(ENCODINGS)}）")
    lay = layout or load_layout()
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    states: dict[str, PersonState] = {}
    tally = _Tally()

    def persons_with_progress() -> Iterator[tuple[str, Sequence[MoveEvent]]]:
        for pair in _ordered(events_by_person):
            yield pair
            if on_person is not None:
                on_person()

    writers: dict[str, Callable[[FileSpec], Iterable[Mapping[str, Any]]]] = {
        RESIDENT_FILE: lambda spec: _resident_rows(
            persons_with_progress(), tenant_code, lay, states, tally, support_measure
        ),
        HOUSEHOLD_FILE: lambda spec: households_to_rows(states.values(), tenant_code=tenant_code, layout=lay),
        CODE_FILE: lambda spec: code_list_rows(lay),
    }
    written = _write_files(target, lay, {k: _values_writer(f, encoding) for k, f in writers.items()})
    return FilesetSummary(
        tenant_code=tenant_code,
        encoding=encoding,
        directory=target,
        files=tuple(written[f.id] for f in lay.files),
        persons=tally.persons,
        residents=tally.residents,
        removed=tally.removed,
        history_rows=written[RESIDENT_FILE].rows if RESIDENT_FILE in written else 0,
        households=written[HOUSEHOLD_FILE].rows if HOUSEHOLD_FILE in written else 0,
    )


def write_stored_fileset(
    directory: str | os.PathLike[str],
    tenant_code: str,
    resident_lines: Iterable[bytes],
    members: Callable[[], Iterable[HouseholdMember]],
    counts: Callable[[], tuple[int, int, int]],
    *,
    encoding: str = "utf-8",
    layout: Layout | None = None,
) -> FilesetSummary:
    """Write every file of the layout like :func:`write_fileset`, the 住民 file from rows already
    encoded (``resident_lines``: UTF-8 bytes, CRLF after each row, in 宛名番号 and 履歴番号 order;
    :mod:`moyai.portability.lines`).  ``members`` gives the records of the current residents for
    the 世帯 file and ``counts`` (persons, residents, 除票); both are called once the 住民 file
    is written.  The same bytes as :func:`write_fileset` for the same rows."""
    if encoding not in ENCODINGS:
        raise ValueError(f"出力の文字コード {encoding} は使えません（{'、'.join(ENCODINGS)}）")
    lay = layout or load_layout()
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)

    def residents(spec: FileSpec, path: Path) -> tuple[int, str | None]:
        return write_text_rows(path, spec, resident_lines, encoding=encoding, name=spec.file_name)

    writers: dict[str, FileWriter] = {
        RESIDENT_FILE: residents,
        HOUSEHOLD_FILE: _values_writer(
            lambda spec: households_to_rows(members(), tenant_code=tenant_code, layout=lay), encoding
        ),
        CODE_FILE: _values_writer(lambda spec: code_list_rows(lay), encoding),
    }
    written = _write_files(target, lay, writers)
    persons, resident_count, removed = counts()
    return FilesetSummary(
        tenant_code=tenant_code,
        encoding=encoding,
        directory=target,
        files=tuple(written[f.id] for f in lay.files),
        persons=persons,
        residents=resident_count,
        removed=removed,
        history_rows=written[RESIDENT_FILE].rows if RESIDENT_FILE in written else 0,
        households=written[HOUSEHOLD_FILE].rows if HOUSEHOLD_FILE in written else 0,
    )
