"""Code tables and every data file of moyai.platform.codes; the 続柄 validator."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from moyai.platform.codes import datafiles
from moyai.platform.codes.tables import (
    CodeTable,
    CodeTableError,
    code_table,
    code_table_from_data,
    normalize_relationship,
    validate_relationship,
)

PACKAGE = "moyai.platform.codes"
FILES = datafiles.all_data_files(PACKAGE)
CODE_TABLES = [n for n in FILES if datafiles.load(PACKAGE, n).kind == "code_table"]


def test_expected_files_are_shipped() -> None:
    assert FILES == [
        "eras",
        "foreign_resident_category",
        "move_reasons",
        "relationship_terms",
        "residence_status",
        "resident_kind",
        "resident_status",
        "sex",
    ]
    assert CODE_TABLES == [n for n in FILES if n != "eras"]


@pytest.mark.parametrize("name", FILES)
def test_every_data_file_loads_with_a_header(name: str) -> None:
    df = datafiles.load(PACKAGE, name)
    assert df.name == name
    assert df.kind in {"code_table", "era_table"}
    assert isinstance(df.effective_from, dt.date)
    assert df.version
    assert df.source.strip()


@pytest.mark.parametrize("name", CODE_TABLES)
def test_every_code_table_builds_with_unique_codes(name: str) -> None:
    table = code_table(name)
    raw_codes = [item["code"] for item in datafiles.load(PACKAGE, name).entries["codes"]]
    assert [c for c, n in Counter(raw_codes).items() if n > 1] == []
    assert table.codes() == raw_codes
    assert all(isinstance(c, str) and c for c in raw_codes)
    names = [n for e in table.entries.values() for n in (e.label, *e.aliases)]
    assert [n for n, k in Counter(names).items() if k > 1] == []
    assert table.title


@pytest.mark.parametrize(
    ("name", "unconfirmed"),
    [
        ("sex", True),
        ("relationship_terms", True),
        ("move_reasons", True),
        ("residence_status", True),
        ("foreign_resident_category", True),
        ("resident_kind", True),
        ("resident_status", True),
        ("eras", True),
    ],
)
def test_unconfirmed_sources_say_so(name: str, unconfirmed: bool) -> None:
    assert ("UNCONFIRMED" in datafiles.load(PACKAGE, name).source) is unconfirmed


def test_sex() -> None:
    table = code_table("sex")
    assert [(c, table.label(c)) for c in table.codes()] == [("1", "男"), ("2", "女")]
    with pytest.raises(CodeTableError) as exc:
        table.label("9")
    assert exc.value.message == "性別コード 9 は性別コード表にありません"


def test_unknown_code_message_uses_the_title() -> None:
    table = code_table("relationship_terms")
    assert table.has("01") is True
    assert table.has("99") is False
    with pytest.raises(CodeTableError) as exc:
        table.label("99")
    assert exc.value.message == "続柄コード 99 は続柄コード表にありません"
    assert isinstance(exc.value, ValueError)


def test_relationship_terms_vocabulary() -> None:
    table = code_table("relationship_terms")
    labels = [table.label(c) for c in table.codes()]
    assert labels == [
        "世帯主",
        "夫",
        "妻",
        "夫（未届）",
        "妻（未届）",
        "子",
        "子の夫",
        "子の妻",
        "父",
        "母",
        "兄",
        "姉",
        "弟",
        "妹",
        "縁故者",
        "同居人",
    ]
    standalone = [e.label for e in table.entries.values() if e.get("chainable") is False]
    assert standalone == ["世帯主", "縁故者", "同居人"]


def test_move_reasons() -> None:
    table = code_table("move_reasons")
    assert table.title == "異動事由"
    by_label = {e.label: e for e in table.entries.values()}
    required = [
        "転入", "国外転入", "転居", "転出", "国外転出", "転出確定", "出生", "死亡", "世帯分離",
        "世帯合併", "世帯変更", "世帯主変更", "職権記載", "職権修正", "職権消除", "回復",
        "軽微な修正", "誤記修正", "転出取消", "異動の取消し（増）", "異動の取消し（減）",
        "異動の取消し（修正）", "帰化", "国籍取得", "国籍喪失", "失踪", "通称記載", "通称削除",
        "旧氏記載", "個人番号変更", "住民票コード変更",
    ]  # fmt: skip
    assert [r for r in required if r not in by_label] == []
    for entry in table.entries.values():
        category = entry.get("category")
        assert category in {"記載", "消除", "修正"}, entry
        assert entry.code[0] == {"記載": "1", "消除": "2", "修正": "3"}[category], entry
        assert entry.get("standard_reason"), entry
        assert entry.get("applies_to", "both") in {"both", "japanese", "foreign"}
    assert table.code_for("国内転入") == "101"
    assert table.code_for("転出予定") == "201"
    assert by_label["転居"].get("category") == "修正"
    assert by_label["死亡"].get("category") == "消除"
    assert table.find("転居取消") is None  # 実装しない in the standard


def test_residence_status() -> None:
    table = code_table("residence_status")
    assert len(table.codes()) == 29
    assert table.codes() == [f"{i:02d}" for i in range(1, 30)]
    assert table.code_for("投資・経営") == table.code_for("経営・管理") == "08"
    assert table.code_for("技術") == table.code_for("人文知識・国際業務") == "13"
    assert table.label("13") == "技術・人文知識・国際業務"
    assert table.code_for("就学") == "22"
    for label in ["永住者", "日本人の配偶者等", "永住者の配偶者等", "定住者", "特定技能", "技能実習",
                  "留学", "家族滞在", "特定活動", "高度専門職"]:  # fmt: skip
        assert table.find(label) is not None, label
    not_registrable = [e.label for e in table.entries.values() if e.get("registrable") is False]
    assert not_registrable == ["外交", "公用", "短期滞在"]
    with pytest.raises(CodeTableError) as exc:
        table.code_for("観光")
    assert exc.value.message == "「観光」は在留資格コード表にありません"


def test_small_tables() -> None:
    def labels(name: str) -> list[str]:
        t = code_table(name)
        return [t.label(c) for c in t.codes()]

    assert labels("foreign_resident_category") == [
        "中長期在留者",
        "特別永住者",
        "一時庇護許可者",
        "仮滞在許可者",
        "経過滞在者",
    ]
    assert labels("resident_kind") == ["日本人住民", "外国人住民"]
    assert labels("resident_status")[0] == "住民"
    status = code_table("resident_status")
    assert {e.get("group") for e in status.entries.values()} == {"住民", "消除"}


# --- builder checks on synthetic files -----------------------------------------------------------


def _df(entries: object, kind: str = "code_table") -> datafiles.DataFile:
    return datafiles.DataFile(
        package=PACKAGE,
        kind=kind,
        name="t",
        version="1",
        effective_from=dt.date(2024, 4, 1),
        source="test",
        entries=entries,
        path="moyai.platform.codes/data/t.yaml",
    )


@pytest.mark.parametrize(
    ("entries", "kind", "message"),
    [
        ({"title": "T", "codes": [{"code": "1", "label": "a"}]}, "rules", "kind が code_table ではありません"),
        ([{"code": "1", "label": "a"}], "code_table", "entries は title と codes のマッピングです"),
        ({"codes": [{"code": "1", "label": "a"}]}, "code_table", "entries.title がありません"),
        ({"title": "T", "codes": []}, "code_table", "entries.codes は空でないリストです"),
        ({"title": "T", "codes": [{"code": 1, "label": "a"}]}, "code_table", "code は引用符で囲んだ文字列です"),
        ({"title": "T", "codes": [{"code": "1"}]}, "code_table", "label がありません"),
        (
            {"title": "T", "codes": [{"code": "1", "label": "a"}, {"code": "1", "label": "b"}]},
            "code_table",
            "code 1 が重複しています",
        ),
        (
            {"title": "T", "codes": [{"code": "1", "label": "a"}, {"code": "2", "label": "a"}]},
            "code_table",
            "名称 a が重複しています",
        ),
        (
            {"title": "T", "codes": [{"code": "1", "label": "a", "aliases": "b"}]},
            "code_table",
            "aliases は文字列のリストです",
        ),
    ],
)
def test_builder_refuses_malformed_tables(entries: object, kind: str, message: str) -> None:
    with pytest.raises(datafiles.DataFileError, match=message):
        code_table_from_data(_df(entries, kind))


def test_builder_keeps_extra_fields() -> None:
    table = code_table_from_data(_df({"title": "T", "codes": [{"code": "1", "label": "a", "x": 5}], "more": [1]}))
    assert isinstance(table, CodeTable)
    assert table.entry("1").get("x") == 5
    assert table.entry("1").get("y", "none") == "none"
    assert dict(table.extras) == {"more": [1]}


def test_unknown_file() -> None:
    with pytest.raises(datafiles.DataFileError):
        code_table("no_such_table")


# --- 続柄 -----------------------------------------------------------------------------------------

VALID_RELATIONSHIPS = [
    "世帯主",
    "夫",
    "妻",
    "夫（未届）",
    "妻（未届）",
    "子",
    "父",
    "母",
    "兄",
    "姉",
    "弟",
    "妹",
    "子の夫",
    "子の妻",
    "子の子",
    "妻の父",
    "夫の母",
    "子の子の子の子",
    "子の夫の子",
    "父の兄の子",
    "妻の子の妻",
    "子の妻（未届）",
    "縁故者",
    "同居人",
]


@pytest.mark.parametrize("text", VALID_RELATIONSHIPS)
def test_valid_relationships(text: str) -> None:
    assert validate_relationship(text) is None


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("妻(未届)", "妻（未届）"),
        ("夫 ( 未届 )", "夫（未届）"),
        ("子の妻（未届）", "子の妻（未届）"),
        (" 子 の 子 ", "子の子"),
    ],
)
def test_half_width_parentheses_are_accepted(text: str, normalized: str) -> None:
    assert normalize_relationship(text) == normalized
    assert validate_relationship(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("孫", '"孫" は続柄に使えません（例: 子の子）'),
        ("祖父", '"祖父" は続柄に使えません（例: 父の父）'),
        ("祖母", '"祖母" は続柄に使えません（例: 父の母）'),
        ("甥", '"甥" は続柄に使えません（例: 兄の子）'),
        ("姪", '"姪" は続柄に使えません（例: 姉の子）'),
        ("長男", '"長男" は続柄に使えません（例: 子）'),
        ("内縁の妻", '"内縁の妻" は続柄に使えません（例: 妻（未届））'),
        ("家事使用人", '"家事使用人" は続柄に使えません（例: 同居人）'),
        ("準世帯主", '"準世帯主" は続柄に使えません'),
        ("妻の孫", '"孫" は続柄に使えません（例: 子の子）'),
        (
            "子の子の子の子の子",
            '"子の子の子の子の子" は続柄に使えません（「の」でつなげるのは4世代まで、それを超えるときは縁故者）',
        ),
        (
            "子の夫の子の子の子",
            '"子の夫の子の子の子" は続柄に使えません（「の」でつなげるのは4世代まで、それを超えるときは縁故者）',
        ),
        ("世帯主の子", '"世帯主の子" は続柄に使えません（"世帯主" は単独で使います）'),
        ("子の縁故者", '"子の縁故者" は続柄に使えません（"縁故者" は単独で使います）'),
        ("友人", '"友人" は続柄の語ではありません'),
        ("子の友人", '"子の友人" は続柄に使えません（"友人" は続柄の語ではありません）'),
        ("子のの子", '"子のの子" は続柄として読めません'),
        ("子の", '"子の" は続柄として読めません'),
        ("妻（未", '"妻（未" は続柄の語ではありません'),
        ("", "続柄が入力されていません"),
        ("　", "続柄が入力されていません"),
    ],
)
def test_invalid_relationships(text: str, message: str) -> None:
    assert validate_relationship(text) == message
