"""write_fileset (every file of the layout, deterministic, all or nothing) and error injection (pure)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import pytest
from fileset_support import LAYOUT, by_person, file_bytes, read_fileset
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from portability_strategies import histories

from moyai.platform.codes.checkdigits import with_mod11
from moyai.portability.fileset import FilesetError, write_fileset
from moyai.portability.format.mapping import histories_to_rows
from moyai.portability.format.persons import person_to_values
from moyai.portability.format.problems import ProblemKind
from moyai.portability.inject import InjectionError, InjectionKind, inject
from moyai.residents.demo.generator import generate
from moyai.residents.domain.model import MoveEvent, Status, replay

TENANT = "352101"


@pytest.fixture(scope="module")
def people() -> dict[str, list[MoveEvent]]:
    return by_person(generate(TENANT, scale=0.004, seed=5).events)


@pytest.fixture(scope="module")
def clean(people: dict[str, list[MoveEvent]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for encoding in ("utf-8", "cp932"):
        d = tmp_path_factory.mktemp(f"clean-{encoding}")
        write_fileset(d, TENANT, people, encoding=encoding)
        out[encoding] = d
    return out


def test_every_file_of_the_layout_is_written_with_every_row(people: dict[str, list[MoveEvent]], tmp_path: Path) -> None:
    summary = write_fileset(tmp_path, TENANT, people)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.file_name for f in LAYOUT.files)
    states = {a: replay(evs) for a, evs in people.items()}
    removed = sum(1 for s in states.values() if s is not None and s.status == Status.REMOVED)
    assert removed > 0
    assert (summary.persons, summary.removed, summary.residents) == (len(people), removed, len(people) - removed)
    expected_rows = len(histories_to_rows([e for evs in people.values() for e in evs], tenant_code=TENANT))
    assert summary.history_rows == expected_rows == sum(len(evs) for evs in people.values())
    lines = (tmp_path / "JYUKI_KOJIN.csv").read_bytes().split(b"\r\n")
    assert lines[-1] == b"" and len(lines) == expected_rows + 2  # header + rows + the final CRLF
    histories, problems = read_fileset(tmp_path, TENANT)
    assert problems == []
    assert set(histories) == set(people)
    for atena, evs in people.items():  # labels of coded items (特別永住者) come back as their codes
        assert person_to_values(replay(histories[atena])) == person_to_values(replay(evs))
    households = {s.household_no for s in states.values() if s is not None and s.status == Status.RESIDENT}
    assert summary.households == len(households) == summary.file("household").rows


def test_two_writes_are_byte_identical_and_cp932_decodes(
    people: dict[str, list[MoveEvent]], clean: dict[str, Path], tmp_path: Path
) -> None:
    for encoding, first in clean.items():
        again = tmp_path / encoding
        # a stream of (宛名番号, 異動) in order gives the same bytes as the mapping
        write_fileset(again, TENANT, ((a, people[a]) for a in sorted(people)), encoding=encoding)
        assert file_bytes(again) == file_bytes(first)
    raw = (clean["cp932"] / "JYUKI_KOJIN.csv").read_bytes()
    assert raw.decode("cp932").encode("utf-8") == (clean["utf-8"] / "JYUKI_KOJIN.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_a_stream_out_of_order_is_refused(people: dict[str, list[MoveEvent]], tmp_path: Path) -> None:
    pairs = sorted(people.items(), reverse=True)
    with pytest.raises(ValueError, match="宛名番号の順"):
        write_fileset(tmp_path / "x", TENANT, iter(pairs))


def test_a_value_cp932_cannot_hold_leaves_nothing(people: dict[str, list[MoveEvent]], tmp_path: Path) -> None:
    atena = sorted(people)[-1]
    evs = list(people[atena])
    first = evs[0]
    evs[0] = dataclasses.replace(first, changes={**first.changes, "family_name": "𠮷田"})
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FilesetError) as e:
        write_fileset(tmp_path, TENANT, {**people, atena: evs}, encoding="cp932")
    p = e.value.problem
    assert (p.file, p.item, p.kind) == ("JYUKI_KOJIN.csv", "氏", ProblemKind.UNENCODABLE)
    assert "𠮷" in p.reason_ja
    assert [x.name for x in tmp_path.iterdir()] == ["keep.txt"]
    write_fileset(tmp_path, TENANT, {**people, atena: evs}, encoding="utf-8")  # UTF-8 holds it


def test_an_unknown_encoding_is_refused(people: dict[str, list[MoveEvent]], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="euc-jp"):
        write_fileset(tmp_path, TENANT, people, encoding="euc-jp")


# --- error injection ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", list(InjectionKind))
def test_each_injected_error_is_reported_where_the_record_says(
    kind: InjectionKind, seed: int, encoding: str, clean: dict[str, Path], tmp_path: Path
) -> None:
    d = tmp_path / "set"
    shutil.copytree(clean[encoding], d)
    before = file_bytes(d)
    injected = inject(d, kind, seed=seed)
    assert injected.kind == kind
    after = file_bytes(d)
    assert [n for n in before if before[n] != after[n]], "nothing was changed"
    _, problems = read_fileset(d, TENANT)
    at = [(p.file, p.row, p.item, p.kind) for p in problems]
    assert (injected.file, injected.row, injected.item, injected.expected_problem_kind) in at
    if injected.value is not None:
        assert any(p.value == injected.value for p in problems if (p.file, p.row) == (injected.file, injected.row))


def test_injection_is_deterministic_by_seed(clean: dict[str, Path], tmp_path: Path) -> None:
    results = []
    for n in range(3):
        d = tmp_path / str(n)
        shutil.copytree(clean["utf-8"], d)
        results.append((inject(d, InjectionKind.BAD_CODE, seed=7 if n < 2 else 8), file_bytes(d)))
    assert results[0] == results[1]
    assert results[0][0].row != results[2][0].row


def test_rows_not_edited_keep_their_bytes(clean: dict[str, Path], tmp_path: Path) -> None:
    d = tmp_path / "set"
    shutil.copytree(clean["cp932"], d)
    injected = inject(d, InjectionKind.IMPOSSIBLE_DATE, seed=3)
    old = (clean["cp932"] / injected.file).read_bytes().split(b"\r\n")
    new = (d / injected.file).read_bytes().split(b"\r\n")
    assert injected.row is not None
    changed = [i + 1 for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    assert changed == [injected.row]


def test_a_kind_that_cannot_be_made_says_why(tmp_path: Path) -> None:
    write_fileset(tmp_path, TENANT, {})
    with pytest.raises(InjectionError, match="データ行がない"):
        inject(tmp_path, InjectionKind.TRUNCATED_LAST_LINE)
    assert {k.value for k in InjectionKind} >= {"wrong-encoding", "gaiji", "other-tenant", "two-heads"}


# --- properties ---------------------------------------------------------------------------------------


def _renumber(people: list[list[MoveEvent]]) -> dict[str, list[MoveEvent]]:
    out: dict[str, list[MoveEvent]] = {}
    for n, evs in enumerate(people, start=1):
        atena, shift = with_mod11(f"{n:09d}"), 100 * n
        out[atena] = [
            dataclasses.replace(
                e, atena_no=atena, event_id=e.event_id + shift, cancels=None if e.cancels is None else e.cancels + shift
            )
            for e in evs
        ]
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(histories(), min_size=1, max_size=3), st.sampled_from(["utf-8", "cp932"]))
def test_any_histories_write_deterministically_and_read_back(
    tmp_path: Path, raw: list[list[MoveEvent]], encoding: str
) -> None:
    people = _renumber(raw)
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    try:
        summary = write_fileset(d / "a", TENANT, people, encoding=encoding)
    except FilesetError as exc:  # a character cp932 lacks, or two 世帯主 the strategy made: nothing written
        assert exc.problem.kind in (ProblemKind.UNENCODABLE, ProblemKind.INCONSISTENT)
        assert list((d / "a").iterdir()) == []
        event(f"refused: {exc.problem.kind}")
        return
    event("written")
    write_fileset(d / "b", TENANT, people, encoding=encoding)
    assert file_bytes(d / "a") == file_bytes(d / "b")
    histories_back, problems = read_fileset(d / "a", TENANT)
    rows = histories_to_rows([e for evs in people.values() for e in evs], tenant_code=TENANT)
    assert [p for p in problems if p.file == "JYUKI_KOJIN.csv"] == []
    assert histories_to_rows([e for evs in histories_back.values() for e in evs], tenant_code=TENANT) == rows
    assert summary.history_rows == len(rows)
    # The 世帯 file holds each record with every 異動 applied.  History rows show each record as of
    # its own 異動日, so when a back-dated 異動 is recorded last the rows may not tell which 異動 set
    # a value the record still holds (a format-layer limit of the rebuild, mapping.py): only then
    # may the rebuilt record, and so the 世帯 check, differ.
    same = all(replay(histories_back[a]) == replay(evs) for a, evs in people.items())
    event("current records rebuilt" if same else "current record not determined by the rows")
    if same:
        assert problems == []
    else:
        assert {p.file for p in problems} <= {"JYUKI_SETAI.csv"}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(list(InjectionKind)), st.integers(0, 10**6), st.sampled_from(["utf-8", "cp932"]))
def test_any_seed_puts_the_error_where_the_record_says(
    clean: dict[str, Path], tmp_path: Path, kind: InjectionKind, seed: int, encoding: str
) -> None:
    d = Path(tempfile.mkdtemp(dir=tmp_path)) / "set"
    shutil.copytree(clean[encoding], d)
    injected = inject(d, kind, seed=seed)
    _, problems = read_fileset(d, TENANT)
    assert (injected.file, injected.row, injected.item, injected.expected_problem_kind) in {
        (p.file, p.row, p.item, p.kind) for p in problems
    }
