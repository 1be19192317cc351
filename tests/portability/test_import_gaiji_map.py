"""The 外字対応表 parser (pure): round trip, and each defect reported with its row and item."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moyai.portability.format import ProblemKind
from moyai.portability.importer import GaijiMapError, format_gaiji_map, load_gaiji_map, parse_gaiji_map
from moyai.portability.importer.gaiji import is_private_use

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

private_use = st.one_of(
    st.integers(0xE000, 0xF8FF), st.integers(0xF0000, 0xFFFFD), st.integers(0x100000, 0x10FFFD)
).map(chr)
# replacement text: printable, no private use, no control, no surrogates
replacement_char = st.characters(
    blacklist_categories=("Cs", "Co", "Cc", "Zl", "Zp"), blacklist_characters='"'
).filter(lambda c: not is_private_use(c))
replacements = st.text(replacement_char, min_size=1, max_size=4)
mappings = st.dictionaries(private_use, replacements, max_size=20)


def _row(*fields: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, dialect="excel", lineterminator="\r\n").writerow(fields)
    return buf.getvalue()


@SETTINGS
@given(mappings)
def test_a_written_map_reads_back_the_same(entries: dict[str, str]) -> None:
    parsed = parse_gaiji_map(format_gaiji_map(entries))
    assert dict(parsed.entries) == entries
    assert parsed.table() == {ord(k): v for k, v in entries.items()}


@SETTINGS
@given(mappings, st.booleans())
def test_a_bom_and_lf_line_ends_are_accepted(
    tmp_path_factory: pytest.TempPathFactory, entries: dict[str, str], bom: bool
) -> None:
    text = format_gaiji_map(entries).replace("\r\n", "\n")
    path = tmp_path_factory.mktemp("map") / "gaiji.csv"
    path.write_bytes(text.encode("utf-8-sig" if bom else "utf-8"))
    assert dict(load_gaiji_map(path).entries) == entries


@SETTINGS
@given(mappings, st.integers(0x20, 0xDFFF).filter(lambda n: not 0xD800 <= n <= 0xDFFF))
def test_a_code_outside_the_private_use_areas_is_refused_with_its_row(entries: dict[str, str], cp: int) -> None:
    text = format_gaiji_map(entries) + f"U+{cp:04X},髙\r\n"
    with pytest.raises(GaijiMapError) as err:
        parse_gaiji_map(text, "map.csv")
    [p] = err.value.problems
    assert (p.file, p.row, p.item, p.value, p.kind) == ("map.csv", len(entries) + 2, "外字コード", f"U+{cp:04X}", ProblemKind.GAIJI)
    assert "私用領域" in p.reason_ja


@SETTINGS
@given(mappings.filter(bool), replacements)
def test_a_code_given_twice_is_refused_naming_both_rows(entries: dict[str, str], other: str) -> None:
    ch = sorted(entries)[0]
    text = format_gaiji_map(entries) + _row(f"U+{ord(ch):04X}", other)
    with pytest.raises(GaijiMapError) as err:
        parse_gaiji_map(text)
    [p] = err.value.problems
    assert p.kind == ProblemKind.DUPLICATE_KEY and p.row == len(entries) + 2 and "（2行目）" in p.reason_ja


@SETTINGS
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8).filter(lambda s: not s.startswith("U+")))
def test_a_code_not_written_as_u_plus_hex_is_a_type_problem(code: str) -> None:
    text = "外字コード,置換文字\r\n" + _row(code, "髙")
    with pytest.raises(GaijiMapError) as err:
        parse_gaiji_map(text)
    assert [(p.row, p.item, p.kind) for p in err.value.problems] == [(2, "外字コード", ProblemKind.TYPE)]


@pytest.mark.parametrize(
    ("replacement", "kind"),
    [("", ProblemKind.REQUIRED), ("\ue001", ProblemKind.GAIJI), ("髙\t", ProblemKind.CHARSET)],
)
def test_a_bad_replacement_is_refused(replacement: str, kind: ProblemKind) -> None:
    with pytest.raises(GaijiMapError) as err:
        parse_gaiji_map(f"外字コード,置換文字\r\nU+E000,{replacement}\r\n")
    assert [(p.row, p.item, p.kind) for p in err.value.problems] == [(2, "置換文字", kind)]


def test_header_defects_and_encoding(tmp_path: Path) -> None:
    with pytest.raises(GaijiMapError) as err:
        parse_gaiji_map("外字,置換文字,メモ\r\nU+E000,髙\r\n")
    assert {(p.item, p.kind) for p in err.value.problems} == {
        ("外字コード", ProblemKind.MISSING_COLUMN),
        ("外字", ProblemKind.EXTRA_COLUMN),
        ("メモ", ProblemKind.EXTRA_COLUMN),
    }
    with pytest.raises(GaijiMapError) as err:
        parse_gaiji_map("")
    assert err.value.problems[0].kind == ProblemKind.HEADER
    path = tmp_path / "sjis.csv"
    path.write_bytes("外字コード,置換文字\r\nU+E000,髙\r\n".encode("utf-16"))
    with pytest.raises(GaijiMapError) as err:
        load_gaiji_map(path)
    assert err.value.problems[0].kind == ProblemKind.ENCODING and "UTF-8" in err.value.problems[0].reason_ja
    assert dict(parse_gaiji_map("外字コード,置換文字,備考\r\nU+E000,髙,はしご高\r\n").entries) == {"\ue000": "髙"}
