"""The import's reader (memoised item decoding, 外字 mapping, 団体コード) agrees with the format
layer's ``read_values`` on any rows — valid values, arbitrary text, repeated cells, empty cells
(property tests, no database)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portability_strategies import LAYOUT, any_text, item_values

from moyai.portability.format import Problem, ProblemKind, encode, read_values, write_rows
from moyai.portability.importer.reading import read_file

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TENANT = "352071"
HOUSEHOLD = LAYOUT.file("household")  # 8 items: small rows, every type of check that matters here
RESIDENT = LAYOUT.file("resident")


def _cell(item: Any) -> st.SearchStrategy[str]:
    if item.id == "tenant_code":
        return st.just(TENANT)
    valid = item_values(item).map(lambda v: encode(item, v))
    return st.one_of(valid, valid, st.just(""), any_text(12), st.sampled_from(["0", "99", "20240230", "\ue001"]))


def _rows(spec: Any) -> st.SearchStrategy[list[dict[str, str]]]:
    row = st.fixed_dictionaries({it.id: _cell(it) for it in spec.items})
    # repeated rows exercise the memo: the same text must give the same problems on each row
    return st.lists(row, min_size=1, max_size=4).flatmap(lambda rs: st.lists(st.sampled_from(rs), min_size=1, max_size=6))


def _present(rows: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The import's reader leaves empty items out (absent means None)."""
    return [(n, {k: v for k, v in values.items() if v is not None}) for n, values in rows]


def _key(p: Problem) -> tuple[Any, ...]:
    return (p.row, p.item, p.kind, p.reason_ja, p.value)


def _both(spec: Any, rows: list[dict[str, str]]) -> tuple[Any, list[Problem], Any, list[Problem]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / spec.file_name
        write_rows(path, spec, rows)
        expected_problems: list[Problem] = []
        expected = list(read_values(path, spec, expected_problems))
        got_problems: list[Problem] = []
        got = read_file(path, spec, got_problems, tenant_code=TENANT)
    return expected, expected_problems, got, got_problems


@SETTINGS
@given(_rows(HOUSEHOLD))
def test_household_rows_read_as_the_format_layer_reads_them(rows: list[dict[str, str]]) -> None:
    expected, expected_problems, got, got_problems = _both(HOUSEHOLD, rows)
    assert got.rows == _present(expected)
    assert sorted(map(_key, got_problems)) == sorted(map(_key, expected_problems))
    assert got.rows_read == len(rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows(RESIDENT))
def test_resident_rows_read_as_the_format_layer_reads_them(rows: list[dict[str, str]]) -> None:
    expected, expected_problems, got, got_problems = _both(RESIDENT, rows)
    assert got.rows == _present(expected)
    assert sorted(map(_key, got_problems)) == sorted(map(_key, expected_problems))


@SETTINGS
@given(_rows(HOUSEHOLD), st.sampled_from(["352080", "131016"]))
def test_rows_of_another_tenant_are_reported_once_per_code(rows: list[dict[str, str]], other: str) -> None:
    foreign = [dict(r, tenant_code=other) for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / HOUSEHOLD.file_name
        write_rows(path, HOUSEHOLD, foreign)
        problems: list[Problem] = []
        got = read_file(path, HOUSEHOLD, problems, tenant_code=TENANT)
    tenant = [p for p in problems if p.kind == ProblemKind.TENANT]
    assert [(p.row, p.item, p.value) for p in tenant] == [(2, "団体コード", other)]
    assert f"{len(rows):,}行" in tenant[0].reason_ja
    assert got.rows == []


@SETTINGS
@given(st.lists(st.sampled_from([chr(0xE000 + i) for i in range(5)]), min_size=1, max_size=5))
def test_mapped_gaiji_are_replaced_and_counted_unmapped_ones_reported(chars: list[str]) -> None:
    mapping = {0xE000: "髙", 0xE001: "𠮷"}
    rows = [{"tenant_code": TENANT, "household_no": "0000000019", "member_count": "1", "address": "山口県" + ch}
            for ch in chars]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / HOUSEHOLD.file_name
        write_rows(path, HOUSEHOLD, rows)
        problems: list[Problem] = []
        got = read_file(path, HOUSEHOLD, problems, tenant_code=TENANT, gaiji=mapping)
    mapped = [c for c in chars if ord(c) in mapping]
    assert [v["address"] for _, v in got.rows] == ["山口県" + mapping[ord(c)] for c in mapped]
    assert sum(got.gaiji.values()) == len(mapped)
    assert [(p.row, p.item, p.kind) for p in problems] == [
        (n, "住所", ProblemKind.GAIJI) for n, c in enumerate(chars, start=2) if ord(c) not in mapping]
