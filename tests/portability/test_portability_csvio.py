"""CSV files of a layout: encodings, strict RFC 4180 reading, structural errors, deterministic writing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portability_strategies import LAYOUT, cp932_chars

from moyai.portability.format.csvio import (
    CsvWriteError,
    EncodingError,
    LayoutReader,
    detect_encoding,
    read_values,
    write_rows,
    write_values,
)
from moyai.portability.format.persons import code_list_rows
from moyai.portability.format.problems import Problem, ProblemKind

CODE = LAYOUT.file("code")
HOUSEHOLD = LAYOUT.file("household")
HEADER = ",".join(CODE.header) + "\r\n"
ROW = "sex,性別,1,男\r\n"


def read(
    tmp_path: Path, data: bytes, name: str = "JYUKI_CODE.csv"
) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    path = tmp_path / name
    path.write_bytes(data)
    reader = LayoutReader(path, CODE)
    rows = list(reader)
    return rows, reader.problems


def kinds(problems: list[Problem]) -> list[tuple[int | None, str]]:
    return [(p.row, p.kind) for p in problems]


# --- encodings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp932", "cp932"), ("shift_jis", "cp932")],
)
def test_utf8_with_or_without_bom_and_shift_jis_are_read(tmp_path: Path, encoding: str, detected: str) -> None:
    path = tmp_path / "JYUKI_CODE.csv"
    path.write_bytes((HEADER + ROW).encode(encoding))
    assert detect_encoding(path, header=CODE.header) == detected
    reader = LayoutReader(path, CODE)
    assert list(reader) == [(2, {"code_list": "sex", "code_list_name": "性別", "code": "1", "label": "男"})]
    assert reader.problems == [] and reader.encoding == detected


@pytest.mark.parametrize("encoding", ["utf-16", "euc-jp", "iso-2022-jp"])
def test_other_encodings_are_refused_with_a_clear_message(tmp_path: Path, encoding: str) -> None:
    rows, problems = read(tmp_path, (HEADER + ROW).encode(encoding))
    assert rows == []
    (p,) = problems
    assert p.kind == ProblemKind.ENCODING and p.file == "JYUKI_CODE.csv" and p.row is None
    assert p.reason_ja == "ファイル JYUKI_CODE.csv の文字コードを判別できません（UTF-8 または Shift_JIS）"


def test_invalid_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "JYUKI_CODE.csv"
    path.write_bytes(HEADER.encode() + b"sex,\xff\xfe,1,\x80\r\n")
    with pytest.raises(EncodingError) as e:
        detect_encoding(path)
    assert "UTF-8 または Shift_JIS" in e.value.problem.reason_ja


# --- structure ------------------------------------------------------------------------------------


def test_truncated_last_line(tmp_path: Path) -> None:
    rows, problems = read(tmp_path, (HEADER + ROW + "sex,性別,2").encode())
    assert [r for r, _ in rows] == [2]
    assert kinds(problems) == [(3, ProblemKind.TRUNCATED)]
    assert "途中で切れています" in problems[0].reason_ja


def test_truncated_inside_a_quoted_field(tmp_path: Path) -> None:
    _rows, problems = read(tmp_path, (HEADER + ROW + 'sex,性別,2,"女').encode())
    assert kinds(problems) == [(3, ProblemKind.TRUNCATED)]


def test_last_line_without_newline_but_complete_is_fine(tmp_path: Path) -> None:
    rows, problems = read(tmp_path, (HEADER + ROW.rstrip()).encode())
    assert problems == [] and len(rows) == 1


def test_missing_extra_and_repeated_columns(tmp_path: Path) -> None:
    header = "コード表ID,コード表名称,コード,備考,コード\r\n"
    rows, problems = read(tmp_path, (header + "sex,性別,1,x,1\r\n").encode())
    assert rows == []
    assert {(p.kind, p.item) for p in problems} == {
        (ProblemKind.EXTRA_COLUMN, "備考"),
        (ProblemKind.DUPLICATE_COLUMN, "コード"),
        (ProblemKind.MISSING_COLUMN, "名称"),
    }
    assert all(p.row == 1 and p.file == "JYUKI_CODE.csv" for p in problems)


def test_columns_may_come_in_any_order(tmp_path: Path) -> None:
    rows, problems = read(tmp_path, "名称,コード,コード表名称,コード表ID\r\n男,1,性別,sex\r\n".encode())
    assert problems == [] and rows[0][1] == {"code_list": "sex", "code_list_name": "性別", "code": "1", "label": "男"}


def test_field_count_and_empty_lines(tmp_path: Path) -> None:
    data = HEADER + "sex,性別,1\r\n" + "\r\n" + "sex,性別,1,男,x\r\n" + ROW
    rows, problems = read(tmp_path, data.encode())
    assert kinds(problems) == [(2, ProblemKind.FIELD_COUNT), (3, ProblemKind.FIELD_COUNT), (4, ProblemKind.FIELD_COUNT)]
    assert [r for r, _ in rows] == [5]


def test_rfc4180_quoting(tmp_path: Path) -> None:
    data = HEADER + '"sex","性別","1","男"\r\n' + 'a,"b,""c""",d,"e\r\nf"\r\n' + "g,h,i,j\n"
    rows, problems = read(tmp_path, data.encode())
    assert problems == []
    assert [r for r, _ in rows] == [2, 3, 5]  # rows are numbered by the line they start on
    assert rows[1][1] == {"code_list": "a", "code_list_name": 'b,"c"', "code": "d", "label": "e\r\nf"}


@pytest.mark.parametrize("bad", ['sex,性"別,1,男\r\n', '"sex"x,性別,1,男\r\n', 'sex,"性別" ,1,男\r\n'])
def test_stray_quotes_are_refused(tmp_path: Path, bad: str) -> None:
    rows, problems = read(tmp_path, (HEADER + bad + ROW).encode())
    assert kinds(problems) == [(2, ProblemKind.CSV_SYNTAX)]
    assert [r for r, _ in rows] == [3]


def test_empty_file(tmp_path: Path) -> None:
    _rows, problems = read(tmp_path, b"")
    assert kinds(problems) == [(None, ProblemKind.HEADER)]


def test_required_and_overlong_values_are_reported_per_item(tmp_path: Path) -> None:
    data = HEADER + ",性別,1," + "男" * 101 + "\r\n"
    rows, problems = read(tmp_path, data.encode())
    assert len(rows) == 1
    assert [(p.row, p.item, p.kind) for p in problems] == [
        (2, "コード表ID", ProblemKind.REQUIRED),
        (2, "名称", ProblemKind.TOO_LONG),
    ]


def test_read_values_reports_each_problem_once_and_yields_clean_rows(tmp_path: Path) -> None:
    path = tmp_path / "JYUKI_SETAI.csv"
    header = ",".join(HOUSEHOLD.header) + "\r\n"
    good = "352071,0000000019,0000000019,2,7450045,周南市,,\r\n"
    bad = "352071,0000000018,,xx,7450045," + "山" * 201 + ",,\r\n"
    path.write_bytes((header + good + bad).encode("cp932"))
    problems: list[Problem] = []
    rows = list(read_values(path, HOUSEHOLD, problems))
    assert [r for r, _ in rows] == [2]
    assert rows[0][1]["address"] == "周南市"
    assert [(p.row, p.item, p.kind) for p in problems] == [
        (3, "住所", ProblemKind.TOO_LONG),
        (3, "世帯番号", ProblemKind.CHECK_DIGIT),
        (3, "世帯員数", ProblemKind.TYPE),
    ]


# --- writing --------------------------------------------------------------------------------------


def test_writes_are_byte_identical_and_minimal(tmp_path: Path) -> None:
    rows = code_list_rows()
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_values(a, CODE, rows)
    write_values(b, CODE, [dict(r) for r in rows])
    assert a.read_bytes() == b.read_bytes()
    data = a.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == len(rows) + 1 and b"\n" not in data.replace(b"\r\n", b"")
    assert data.startswith((",".join(CODE.header) + "\r\n").encode())
    assert b'"' not in data  # nothing needs quoting in the code lists


def test_quotes_only_where_needed(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    write_rows(path, CODE, [{"code_list": "a,b", "code_list_name": 'x"y', "code": "plain", "label": "改\r\n行"}])
    assert path.read_bytes().decode().splitlines(keepends=True)[1:] == ['"a,b","x""y",plain,"改\r\n', '行"\r\n']
    rows = list(LayoutReader(path, CODE))
    assert rows[0][1]["label"] == "改\r\n行"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(st.sampled_from(cp932_chars()), max_size=12), min_size=4, max_size=4))
def test_cp932_round_trip(tmp_path: Path, texts: list[str]) -> None:
    path = tmp_path / "sjis.csv"
    row = dict(zip(CODE.ids, texts, strict=True))
    write_rows(path, CODE, [row], encoding="cp932")
    reader = LayoutReader(path, CODE)
    back = list(reader)
    assert reader.encoding in ("cp932", "utf-8")  # an all-ASCII file is also valid UTF-8
    assert back[0][1] == row
    again = tmp_path / "again.csv"
    write_rows(again, CODE, [back[0][1]], encoding="cp932")
    assert again.read_bytes() == path.read_bytes()


def test_unencodable_character_names_file_row_and_item(tmp_path: Path) -> None:
    path = tmp_path / "JYUKI_CODE.csv"
    rows = [{"code_list": "x", "code_list_name": "x", "code": str(i), "label": "吉"} for i in range(3000)]
    rows[2500]["label"] = "𠮷田"  # U+20BB7: not in Shift_JIS
    with pytest.raises(CsvWriteError) as e:
        write_rows(path, CODE, rows, encoding="cp932")
    p = e.value.problem
    assert (p.file, p.row, p.item, p.value, p.kind) == ("JYUKI_CODE.csv", 2502, "名称", "𠮷田", ProblemKind.UNENCODABLE)
    assert "U+20BB7" in p.reason_ja
    assert not path.exists() and os.listdir(tmp_path) == []  # nothing half-written, no temporary file left
    write_rows(path, CODE, rows, encoding="utf-8")  # UTF-8 holds it
    assert "𠮷田" in path.read_text(encoding="utf-8")


def test_invalid_values_are_not_written(tmp_path: Path) -> None:
    path = tmp_path / "JYUKI_SETAI.csv"
    values = {"tenant_code": "352071", "household_no": "0000000018", "member_count": "1"}
    with pytest.raises(CsvWriteError) as e:
        write_values(path, HOUSEHOLD, [values])
    assert (e.value.problem.row, e.value.problem.item, e.value.problem.kind) == (2, "世帯番号", ProblemKind.CHECK_DIGIT)
    assert not path.exists()


def test_unknown_output_encoding() -> None:
    with pytest.raises(ValueError):
        write_rows("x.csv", CODE, [], encoding="euc-jp")
