"""The layout files as data: loading, validation, coverage of the 住民票 items, documentation."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moyai.platform.codes import datafiles
from moyai.platform.codes.datafiles import DataFileError
from moyai.portability.format.layout import TYPES, load_layout, parse_layout
from moyai.residents.domain.model import PersonState

RAW = datafiles.load("moyai.portability", "jyuki_layout")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "formats.md"


def test_layout_loads_with_its_files() -> None:
    layout = load_layout()
    assert [f.file_name for f in layout.files] == ["JYUKI_KOJIN.csv", "JYUKI_SETAI.csv", "JYUKI_CODE.csv"]
    resident = layout.file("resident")
    assert resident.keys == ("atena_no", "history_no")
    assert resident.header[:3] == ("団体コード", "宛名番号", "履歴番号")
    assert {it.type for it in resident.items} <= set(TYPES)
    assert {cl.name for cl in layout.code_lists} >= {"続柄", "性別", "年号", "異動事由", "在留資格"}
    assert [e.code for e in layout.code_table("eras").entries.values()] == ["01", "02", "03", "04", "05"]


def test_every_person_state_field_has_an_item() -> None:
    resident = load_layout().file("resident")
    covered = {it.part_of or it.id for it in resident.items}
    missing = {f.name for f in dataclasses.fields(PersonState)} - covered
    assert missing == set()
    for item_id in ("history_no", "reason_code", "effective_date", "notified_date", "processed_on", "support_measure"):
        assert item_id in resident.ids


def test_every_item_says_where_it_comes_from() -> None:
    layout = load_layout()
    for f in layout.files:
        for it in f.items:
            assert it.source in layout.sources and it.ref, it.name


def test_the_household_file_names_its_head_and_address() -> None:
    household = load_layout().file("household")
    assert {"household_no", "head_atena_no", "address"} <= set(household.ids)


# --- validation -----------------------------------------------------------------------------------


def broken(change: Callable[[dict[str, Any]], None]) -> str:
    entries = copy.deepcopy(RAW.entries)
    change(entries)
    with pytest.raises(DataFileError) as e:
        parse_layout(dataclasses.replace(RAW, entries=entries))
    return str(e.value)


def item(entries: dict[str, Any], n: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = entries["files"][0]["items"]
    return items[n]


def test_duplicate_item_id_is_refused() -> None:
    msg = broken(lambda e: item(e, 3).update(id="atena_no"))
    assert "項目ID atena_no が重複しています" in msg and "jyuki_layout.yaml" in msg


def test_duplicate_item_name_is_refused() -> None:
    assert "項目名 宛名番号 が重複しています" in broken(lambda e: item(e, 3).update(name="宛名番号"))


def test_unknown_type_is_refused() -> None:
    assert "型 日時 は使えません" in broken(lambda e: item(e, 3).update(type="日時"))


def test_unknown_code_table_is_refused() -> None:
    assert "コード表 blood_type は code_lists にありません" in broken(
        lambda e: item(e, 3).update(code_table="blood_type")
    )


def test_code_list_that_does_not_load_is_refused() -> None:
    msg = broken(lambda e: e["code_lists"][0].update(table="no_such_table"))
    assert "コード表" in msg and "読めません" in msg


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: item(e, 1).update(check="luhn"), "検査用数字 luhn は使えません"),
        (lambda e: item(e, 1).update(item_no=7), "項目番号は1から順に連続"),
        (lambda e: item(e, 1).update(source="どこか"), "出典 どこか は sources にありません"),
        (lambda e: item(e, 28).update(length=6), "和暦日付は8桁です"),
        (lambda e: e["files"][0].update(keys=["nothing"]), "keys は項目IDのリストです"),
        (lambda e: e.update(length_unit="ワード"), "length_unit"),
        (lambda e: e["history"]["kind_by_category"].update(記載="teleport"), "teleport"),
        (lambda e: item(e, 30).update(part="wareki"), "重複"),
    ],
)
def test_other_defects_are_refused(change: Callable[[dict[str, Any]], None], message: str) -> None:
    assert message in broken(change)


def test_replacing_the_layout_is_a_data_change() -> None:
    """A renamed item, a longer field and another length unit only need the YAML."""
    entries = copy.deepcopy(RAW.entries)
    item(entries, 17).update(name="氏（漢字）", length=80)
    entries["length_unit"] = "バイト"
    layout = parse_layout(dataclasses.replace(RAW, entries=entries))
    spec = layout.file("resident").item("family_name")
    assert (spec.name, spec.length, spec.unit) == ("氏（漢字）", 80, "バイト")


# --- documentation --------------------------------------------------------------------------------


def test_docs_list_every_item_with_its_source() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## 中間標準レイアウト（住民基本台帳）") :]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| \d+ \| ([^|]+?) \|.*$", section, re.M)}
    for f in load_layout().files:
        for it in f.items:
            assert it.name in rows, f"{f.file_name}: {it.name} is not documented"
            assert it.source in rows[it.name]


def test_the_format_layer_imports_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, moyai.portability.format as f; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'ninja', 'psycopg')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603
