"""和暦 / 西暦 dates as kept by the registry."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moyai.platform.codes.wareki import (
    Era,
    JpDate,
    JpDateError,
    era_by_code,
    era_by_key,
    era_by_layout_code,
    era_by_letter,
    era_on,
    eras,
    format_wareki,
    parse_date_query,
    parse_jp_date,
    wareki,
)

D = dt.date

# --- era table ----------------------------------------------------------------------------------


def test_era_table() -> None:
    assert [(e.key, e.kanji, e.letter, e.code, e.layout_code, e.start, e.end) for e in eras()] == [
        ("meiji", "明治", "M", 1, "01", D(1868, 1, 25), D(1912, 7, 30)),
        ("taisho", "大正", "T", 2, "02", D(1912, 7, 30), D(1926, 12, 25)),
        ("showa", "昭和", "S", 3, "03", D(1926, 12, 25), D(1989, 1, 7)),
        ("heisei", "平成", "H", 4, "04", D(1989, 1, 8), D(2019, 4, 30)),
        ("reiwa", "令和", "R", 5, "05", D(2019, 5, 1), None),
    ]


def test_era_accessors() -> None:
    heisei = era_by_key("heisei")
    assert isinstance(heisei, Era)
    assert era_by_letter("H") is heisei
    assert era_by_letter("h") is heisei
    assert era_by_layout_code("04") is heisei
    assert era_by_code(4) is heisei
    with pytest.raises(JpDateError) as exc:
        era_by_key("kouka")
    assert exc.value.message == "元号 kouka は元号表にありません"
    with pytest.raises(JpDateError) as exc:
        era_by_letter("X")
    assert exc.value.message == "元号の略字 X は元号表にありません"
    with pytest.raises(JpDateError):
        era_by_layout_code("06")


# --- parse_jp_date: exact dates -----------------------------------------------------------------

EXACT = [
    ("平成2年3月4日", "平成2年3月4日", D(1990, 3, 4), "heisei", 2),
    ("平成２年３月４日", "平成2年3月4日", D(1990, 3, 4), "heisei", 2),
    ("平成 2年 3月 4日", "平成2年3月4日", D(1990, 3, 4), "heisei", 2),
    ("H2.3.4", "平成2年3月4日", D(1990, 3, 4), "heisei", 2),
    ("h2.3.4", "平成2年3月4日", D(1990, 3, 4), "heisei", 2),
    ("Ｈ２．３．４", "平成2年3月4日", D(1990, 3, 4), "heisei", 2),
    ("H02.03.04", "平成2年3月4日", D(1990, 3, 4), "heisei", 2),
    ("H2年3月4日", "平成2年3月4日", D(1990, 3, 4), "heisei", 2),
    ("R6/1/1", "令和6年1月1日", D(2024, 1, 1), "reiwa", 6),
    ("R6-1-1", "令和6年1月1日", D(2024, 1, 1), "reiwa", 6),
    ("令和元年5月1日", "令和元年5月1日", D(2019, 5, 1), "reiwa", 1),
    ("令和1年5月1日", "令和元年5月1日", D(2019, 5, 1), "reiwa", 1),
    ("R1.5.1", "令和元年5月1日", D(2019, 5, 1), "reiwa", 1),
    ("R元.5.1", "令和元年5月1日", D(2019, 5, 1), "reiwa", 1),
    ("昭和64年1月7日", "昭和64年1月7日", D(1989, 1, 7), "showa", 64),
    ("S64.1.7", "昭和64年1月7日", D(1989, 1, 7), "showa", 64),
    ("平成元年1月8日", "平成元年1月8日", D(1989, 1, 8), "heisei", 1),
    ("平成31年4月30日", "平成31年4月30日", D(2019, 4, 30), "heisei", 31),
    ("明治45年7月30日", "明治45年7月30日", D(1912, 7, 30), "meiji", 45),
    ("大正元年7月30日", "大正元年7月30日", D(1912, 7, 30), "taisho", 1),
    ("大正15年12月25日", "大正15年12月25日", D(1926, 12, 25), "taisho", 15),
    ("昭和元年12月25日", "昭和元年12月25日", D(1926, 12, 25), "showa", 1),
    ("M6.1.1", "明治6年1月1日", D(1873, 1, 1), "meiji", 6),
]


@pytest.mark.parametrize(("text", "canonical", "date", "era", "era_year"), EXACT)
def test_parse_exact_era_dates(text: str, canonical: str, date: dt.date, era: str, era_year: int) -> None:
    jd = parse_jp_date(text)
    assert jd == JpDate(
        text=canonical,
        year=date.year,
        month=date.month,
        day=date.day,
        era=era,
        era_year=era_year,
        qualifier=None,
        calendar_valid=True,
    )
    assert jd.is_exact() is True
    assert jd.to_date() == date
    assert jd.wareki_text() == canonical
    assert jd.seireki_text() == f"{date.year}年{date.month}月{date.day}日"


@pytest.mark.parametrize(
    "text", ["1990-03-04", "1990/3/4", "1990.3.4", "1990年3月4日", "19900304", "１９９０－０３－０４"]
)
def test_parse_seireki_keeps_seireki_text(text: str) -> None:
    jd = parse_jp_date(text)
    assert jd == JpDate("1990年3月4日", 1990, 3, 4, None, None, None, True)
    assert jd.to_date() == D(1990, 3, 4)
    assert jd.wareki_text() == "平成2年3月4日"
    assert jd.seireki_text() == "1990年3月4日"


def test_same_day_kept_as_entered() -> None:
    a = parse_jp_date("大正15年12月25日")
    b = parse_jp_date("昭和元年12月25日")
    assert a.to_date() == b.to_date() == D(1926, 12, 25)
    assert a != b
    assert (a.era, a.era_year, a.wareki_text()) == ("taisho", 15, "大正15年12月25日")
    assert (b.era, b.era_year, b.wareki_text()) == ("showa", 1, "昭和元年12月25日")
    assert a.sort_key() == b.sort_key() == "1926-12-25"


# --- parse_jp_date: fuzzy dates -----------------------------------------------------------------

FUZZY = [
    ("平成2年3月", JpDate("平成2年3月", 1990, 3, None, "heisei", 2, None, True), "1990-03-00"),
    ("H2.3", JpDate("平成2年3月", 1990, 3, None, "heisei", 2, None, True), "1990-03-00"),
    ("平成2年", JpDate("平成2年", 1990, None, None, "heisei", 2, None, True), "1990-00-00"),
    ("昭和40年頃", JpDate("昭和40年頃", 1965, None, None, "showa", 40, "頃", True), "1965-00-00"),
    (
        "昭和40年3月頃",
        JpDate("昭和40年3月頃", 1965, 3, None, "showa", 40, "頃", True),
        "1965-03-00",
    ),
    (
        "昭和40年3月4日頃",
        JpDate("昭和40年3月4日頃", 1965, 3, 4, "showa", 40, "頃", True),
        "1965-03-04",
    ),
    (
        "昭和40年3月上旬",
        JpDate("昭和40年3月上旬", 1965, 3, None, "showa", 40, "上旬", True),
        "1965-03-00",
    ),
    (
        "昭和40年3月中旬",
        JpDate("昭和40年3月中旬", 1965, 3, None, "showa", 40, "中旬", True),
        "1965-03-00",
    ),
    (
        "昭和40年3月下旬",
        JpDate("昭和40年3月下旬", 1965, 3, None, "showa", 40, "下旬", True),
        "1965-03-00",
    ),
    ("年月日不詳", JpDate("年月日不詳", None, None, None, None, None, "不詳", True), "0000-00-00"),
    (
        "昭和40年月日不詳",
        JpDate("昭和40年月日不詳", 1965, None, None, "showa", 40, "不詳", True),
        "1965-00-00",
    ),
    (
        "昭和40年 3月 日不詳",
        JpDate("昭和40年3月日不詳", 1965, 3, None, "showa", 40, "不詳", True),
        "1965-03-00",
    ),
    ("1990年", JpDate("1990年", 1990, None, None, None, None, None, True), "1990-00-00"),
    ("1990", JpDate("1990年", 1990, None, None, None, None, None, True), "1990-00-00"),
    ("1990/3", JpDate("1990年3月", 1990, 3, None, None, None, None, True), "1990-03-00"),
    ("1990年頃", JpDate("1990年頃", 1990, None, None, None, None, "頃", True), "1990-00-00"),
]


@pytest.mark.parametrize(("text", "expected", "sort_key"), FUZZY)
def test_parse_fuzzy(text: str, expected: JpDate, sort_key: str) -> None:
    jd = parse_jp_date(text, allow_fuzzy=True)
    assert jd == expected
    assert jd.is_exact() is False
    assert jd.to_date() is None
    assert jd.sort_key() == sort_key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("平成2年3月", "日付は年月日まで入力してください: 平成2年3月"),
        ("平成2年", "日付は年月日まで入力してください: 平成2年"),
        ("H2.3", "日付は年月日まで入力してください: H2.3"),
        ("昭和40年頃", "不詳日はこの項目では使えません: 昭和40年頃"),
        ("昭和40年3月上旬", "不詳日はこの項目では使えません: 昭和40年3月上旬"),
        ("年月日不詳", "不詳日はこの項目では使えません: 年月日不詳"),
        ("昭和40年月日不詳", "不詳日はこの項目では使えません: 昭和40年月日不詳"),
    ],
)
def test_fuzzy_refused_without_allow_fuzzy(text: str, message: str) -> None:
    with pytest.raises(JpDateError) as exc:
        parse_jp_date(text)
    assert exc.value.message == message
    assert str(exc.value) == message


def test_fuzzy_wareki_and_seireki_text() -> None:
    jd = parse_jp_date("昭和40年3月上旬", allow_fuzzy=True)
    assert jd.wareki_text() == "昭和40年3月上旬"
    assert jd.seireki_text() == "1965年3月上旬"
    jd = parse_jp_date("昭和40年月日不詳", allow_fuzzy=True)
    assert jd.seireki_text() == "1965年月日不詳"
    unknown = parse_jp_date("年月日不詳", allow_fuzzy=True)
    assert unknown.wareki_text() == unknown.seireki_text() == "年月日不詳"


@pytest.mark.parametrize(
    ("text", "wareki_text"),
    [
        ("1989年", "平成元年"),  # most of 1989 is 平成
        ("2019年", "令和元年"),  # 令和 from May
        ("1926年", "大正15年"),  # 昭和 has only the last 7 days
        ("1912年", "明治45年"),
        ("1989年1月", "平成元年1月"),  # 24 days of 平成 against 7 of 昭和
        ("2019年4月頃", "平成31年4月頃"),
        ("1990年3月上旬", "平成2年3月上旬"),
        ("1800年", "1800年"),  # before 明治: shown in 西暦
    ],
)
def test_wareki_text_of_partial_seireki(text: str, wareki_text: str) -> None:
    assert parse_jp_date(text, allow_fuzzy=True).wareki_text() == wareki_text


# --- parse_jp_date: errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("平成32年1月1日", "平成32年は存在しません（平成は31年4月30日まで）"),
        ("H32.1.1", "平成32年は存在しません（平成は31年4月30日まで）"),
        ("平成31年5月1日", "平成31年5月1日は存在しません（平成は31年4月30日まで）"),
        ("令和元年4月30日", "令和元年4月30日は存在しません（令和は元年5月1日から）"),
        ("R1.4.30", "令和元年4月30日は存在しません（令和は元年5月1日から）"),
        ("昭和64年1月8日", "昭和64年1月8日は存在しません（昭和は64年1月7日まで）"),
        ("昭和65年1月1日", "昭和65年は存在しません（昭和は64年1月7日まで）"),
        ("平成元年1月7日", "平成元年1月7日は存在しません（平成は元年1月8日から）"),
        ("明治45年7月31日", "明治45年7月31日は存在しません（明治は45年7月30日まで）"),
        ("大正元年7月29日", "大正元年7月29日は存在しません（大正は元年7月30日から）"),
        ("大正15年12月26日", "大正15年12月26日は存在しません（大正は15年12月25日まで）"),
        ("平成0年1月1日", "平成0年は存在しません"),
        ("H100.1.1", "平成100年は存在しません（平成は31年4月30日まで）"),
        ("1990年2月30日", "2月30日は暦にない日付です"),
        ("平成2年2月30日", "2月30日は暦にない日付です"),
        ("1991-02-29", "2月29日は暦にない日付です（1991年はうるう年ではありません）"),
        ("平成2年4月31日", "4月31日は暦にない日付です"),
        ("H2.13.1", "13月は存在しません（月は1から12まで）"),
        ("H2.0.1", "0月は存在しません（月は1から12まで）"),
        ("H2.1.32", "32日は存在しません（日は1から31まで）"),
        ("1990-01-00", "0日は存在しません（日は1から31まで）"),
        ("abc", "日付として読めません: abc"),
        ("平成2年3月4", "日付として読めません: 平成2年3月4"),
        ("H2.3/4", "日付として読めません: H2.3/4"),
        ("X2.3.4", "日付として読めません: X2.3.4"),
        ("H020304", "日付として読めません: H020304"),
        ("昭和40年3月4日上旬", "日付として読めません: 昭和40年3月4日上旬"),
        ("昭和40年上旬", "日付として読めません: 昭和40年上旬"),
        ("昭和40年3月月日不詳", "日付として読めません: 昭和40年3月月日不詳"),
        ("0000-01-01", "0年は存在しません"),
        ("", "日付が入力されていません"),
        ("　", "日付が入力されていません"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(JpDateError) as exc:
        parse_jp_date(text, allow_fuzzy=True)
    assert exc.value.message == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("平成31年5月", "平成31年5月は存在しません（平成は31年4月30日まで）"),
        ("令和元年4月", "令和元年4月は存在しません（令和は元年5月1日から）"),
        ("昭和64年1月中旬", "昭和64年1月中旬は存在しません（昭和は64年1月7日まで）"),
        ("平成元年1月上旬頃", "日付として読めません: 平成元年1月上旬頃"),
    ],
)
def test_fuzzy_outside_era(text: str, message: str) -> None:
    with pytest.raises(JpDateError) as exc:
        parse_jp_date(text, allow_fuzzy=True)
    assert exc.value.message == message


def test_fuzzy_overlapping_era_boundary_is_accepted() -> None:
    assert parse_jp_date("昭和64年1月上旬", allow_fuzzy=True).text == "昭和64年1月上旬"
    assert parse_jp_date("平成元年1月上旬", allow_fuzzy=True).text == "平成元年1月上旬"
    assert parse_jp_date("令和元年5月", allow_fuzzy=True).text == "令和元年5月"


def test_jp_date_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="日付として読めません"):
        parse_jp_date("not a date")


# --- non-calendar dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical", "sort_key"),
    [
        ("1990年2月30日", "1990年2月30日", "1990-02-30"),
        ("平成3年2月29日", "平成3年2月29日", "1991-02-29"),
        ("S40.4.31", "昭和40年4月31日", "1965-04-31"),
    ],
)
def test_non_calendar_allowed(text: str, canonical: str, sort_key: str) -> None:
    jd = parse_jp_date(text, allow_non_calendar=True)
    assert jd.text == canonical
    assert jd.calendar_valid is False
    assert jd.is_exact() is False
    assert jd.to_date() is None
    assert jd.sort_key() == sort_key
    assert JpDate.from_json(jd.to_json()) == jd


def test_non_calendar_still_needs_month_and_day_in_range() -> None:
    with pytest.raises(JpDateError) as exc:
        parse_jp_date("1990年2月32日", allow_non_calendar=True)
    assert exc.value.message == "32日は存在しません（日は1から31まで）"
    with pytest.raises(JpDateError) as exc:
        parse_jp_date("1990年13月1日", allow_non_calendar=True)
    assert exc.value.message == "13月は存在しません（月は1から12まで）"


def test_non_calendar_seireki_wareki_text() -> None:
    jd = parse_jp_date("1991年2月29日", allow_non_calendar=True)
    assert jd.wareki_text() == "平成3年2月29日"
    assert jd.seireki_text() == "1991年2月29日"


def test_calendar_day_has_calendar_valid_true_even_when_allowed() -> None:
    assert parse_jp_date("1992年2月29日", allow_non_calendar=True).calendar_valid is True


# --- today --------------------------------------------------------------------------------------


def test_today_refuses_future_dates() -> None:
    today = D(2024, 1, 1)
    assert parse_jp_date("R6.1.1", today=today).to_date() == today
    with pytest.raises(JpDateError) as exc:
        parse_jp_date("R6.1.2", today=today)
    assert exc.value.message == "未来の日付は入力できません: R6.1.2"
    # a partial date that may be today or earlier is accepted
    assert parse_jp_date("令和6年", allow_fuzzy=True, today=today).year == 2024
    with pytest.raises(JpDateError):
        parse_jp_date("令和7年頃", allow_fuzzy=True, today=today)


# --- wareki / format_wareki ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected", "text"),
    [
        (D(2024, 1, 1), ("reiwa", 6), "令和6年1月1日"),
        (D(2019, 5, 1), ("reiwa", 1), "令和元年5月1日"),
        (D(2019, 4, 30), ("heisei", 31), "平成31年4月30日"),
        (D(1989, 1, 8), ("heisei", 1), "平成元年1月8日"),
        (D(1989, 1, 7), ("showa", 64), "昭和64年1月7日"),
        (D(1926, 12, 25), ("showa", 1), "昭和元年12月25日"),  # shared day: the new era
        (D(1912, 7, 30), ("taisho", 1), "大正元年7月30日"),
        (D(1912, 7, 29), ("meiji", 45), "明治45年7月29日"),
        (D(1868, 1, 25), ("meiji", 1), "明治元年1月25日"),
    ],
)
def test_wareki_and_format(date: dt.date, expected: tuple[str, int], text: str) -> None:
    assert wareki(date) == expected
    assert format_wareki(date) == text
    assert era_on(date).key == expected[0]


def test_wareki_in_a_given_era() -> None:
    assert wareki(D(1926, 12, 25), "taisho") == ("taisho", 15)
    assert wareki(D(1912, 7, 30), "meiji") == ("meiji", 45)
    with pytest.raises(JpDateError) as exc:
        wareki(D(1926, 12, 26), "taisho")
    assert exc.value.message == "1926年12月26日は大正の期間外です"


def test_wareki_before_meiji() -> None:
    with pytest.raises(JpDateError) as exc:
        format_wareki(D(1868, 1, 24))
    assert exc.value.message == "1868年1月24日は明治より前のため和暦で表せません"


@given(st.dates(min_value=D(1873, 1, 1), max_value=D(2100, 12, 31)))
def test_format_then_parse_round_trip(d: dt.date) -> None:
    text = format_wareki(d)
    jd = parse_jp_date(text)
    assert jd.to_date() == d
    assert jd.text == text
    assert jd.wareki_text() == text
    era = era_by_key(jd.era or "")
    assert parse_jp_date(f"{era.letter}{jd.era_year}.{d.month}.{d.day}") == jd


# --- parse_date_query ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("平成2年", D(1990, 1, 1), D(1990, 12, 31)),
        ("H2", D(1990, 1, 1), D(1990, 12, 31)),
        ("H2.3", D(1990, 3, 1), D(1990, 3, 31)),
        ("H2.2", D(1990, 2, 1), D(1990, 2, 28)),
        ("H4.2", D(1992, 2, 1), D(1992, 2, 29)),
        ("平成2年3月4日", D(1990, 3, 4), D(1990, 3, 4)),
        ("1990-03-04", D(1990, 3, 4), D(1990, 3, 4)),
        ("1990", D(1990, 1, 1), D(1990, 12, 31)),
        ("1990年3月", D(1990, 3, 1), D(1990, 3, 31)),
        ("平成31年", D(2019, 1, 1), D(2019, 4, 30)),  # clipped to the era
        ("令和元年", D(2019, 5, 1), D(2019, 12, 31)),
        ("平成元年", D(1989, 1, 8), D(1989, 12, 31)),
        ("昭和64年", D(1989, 1, 1), D(1989, 1, 7)),
        ("昭和40年3月上旬", D(1965, 3, 1), D(1965, 3, 10)),
        ("昭和40年3月中旬", D(1965, 3, 11), D(1965, 3, 20)),
        ("平成2年2月下旬", D(1990, 2, 21), D(1990, 2, 28)),
        ("昭和40年頃", D(1965, 1, 1), D(1965, 12, 31)),
    ],
)
def test_parse_date_query(text: str, first: dt.date, last: dt.date) -> None:
    assert parse_date_query(text) == (first, last)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("平成32年", "平成32年は存在しません（平成は31年4月30日まで）"),
        ("平成31年5月", "平成31年5月は存在しません（平成は31年4月30日まで）"),
        ("令和元年4月30日", "令和元年4月30日は存在しません（令和は元年5月1日から）"),
        ("1990-02-30", "2月30日は暦にない日付です"),
        ("年月日不詳", "年月日不詳では検索できません"),
        ("ほげ", "日付として読めません: ほげ"),
    ],
)
def test_parse_date_query_errors(text: str, message: str) -> None:
    with pytest.raises(JpDateError) as exc:
        parse_date_query(text)
    assert exc.value.message == message


# --- JpDate: construction, JSON, ordering -------------------------------------------------------


def test_jp_date_of_builds_canonical_text() -> None:
    assert JpDate.of(year=1990, month=3, day=4, era="heisei").text == "平成2年3月4日"
    assert JpDate.of(year=2019, month=5, day=1, era="reiwa").text == "令和元年5月1日"
    assert JpDate.of(year=1965, era="showa", qualifier="頃").text == "昭和40年頃"
    assert JpDate.of(year=1990, month=3).text == "1990年3月"
    assert JpDate.of(year=None, qualifier="不詳").text == "年月日不詳"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (("平成2年3月4日", 1991, 3, 4, "heisei", 2, None, True), "year が元号の年と合いません"),
        (("平成2年3月5日", 1990, 3, 4, "heisei", 2, None, True), "text は 平成2年3月4日 です"),
        (("1990年2月30日", 1990, 2, 30, None, None, None, True), "calendar_valid が日付と合いません"),
        (("1990年3月上旬", 1990, None, None, None, None, "上旬", True), "上旬 は月まで分かり日が不詳のときだけです"),
        (("年月日不詳", None, None, None, None, None, None, True), "年が不詳のときは qualifier が 不詳 です"),
        (
            ("平成31年5月1日", 2019, 5, 1, "heisei", 31, None, True),
            "平成31年5月1日は存在しません（平成は31年4月30日まで）",
        ),
        (("1990年", 1990, None, 4, None, None, None, True), "月が不詳なのに日があります"),
        (("1990年3月4日", 1990, 3, 4, None, None, "不詳", True), "日まで分かっているのに 不詳 です"),
        (("1990年3月4日", 1990, 3, 4, None, None, "ごろ", True), "qualifier ごろ"),
    ],
)
def test_jp_date_refuses_inconsistent_fields(fields: tuple[object, ...], reason: str) -> None:
    with pytest.raises(JpDateError) as exc:
        JpDate(*fields)  # type: ignore[arg-type]
    assert exc.value.message == f"日付データが不整合です（{reason}）: {fields[0]}"


def test_to_json_shape() -> None:
    assert parse_jp_date("昭和40年3月上旬", allow_fuzzy=True).to_json() == {
        "text": "昭和40年3月上旬",
        "year": 1965,
        "month": 3,
        "day": None,
        "era": "showa",
        "era_year": 40,
        "qualifier": "上旬",
        "calendar_valid": True,
    }


@pytest.mark.parametrize(
    "data",
    [
        {"text": "1990年"},
        {
            "text": "1990年",
            "year": "1990",
            "month": None,
            "day": None,
            "era": None,
            "era_year": None,
            "qualifier": None,
            "calendar_valid": True,
        },
        {
            "text": "1990年",
            "year": 1990,
            "month": None,
            "day": None,
            "era": None,
            "era_year": None,
            "qualifier": None,
            "calendar_valid": 1,
        },
    ],
)
def test_from_json_refuses_bad_data(data: dict[str, object]) -> None:
    with pytest.raises(JpDateError):
        JpDate.from_json(data)


QUALIFIER_BY_PRECISION = {
    "day": [None, "頃"],
    "month": [None, "頃", "上旬", "中旬", "下旬", "不詳"],
    "year": [None, "頃", "不詳"],
}


@st.composite
def jp_dates(draw: st.DrawFn) -> JpDate:
    """Any JpDate the parser can produce: exact, partial, qualified, non-calendar, unknown."""
    if draw(st.integers(0, 20)) == 0:
        return parse_jp_date("年月日不詳", allow_fuzzy=True)
    d = draw(st.dates(min_value=D(1873, 1, 1), max_value=D(2100, 12, 31)))
    precision = draw(st.sampled_from(["day", "month", "year"]))
    qualifier = draw(st.sampled_from(QUALIFIER_BY_PRECISION[precision]))
    non_calendar = precision == "day" and draw(st.integers(0, 5)) == 0
    month = d.month if precision != "year" else None
    day = d.day if precision == "day" else None
    if non_calendar:
        month, day = draw(st.sampled_from([(2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31)]))
    if draw(st.booleans()) and not non_calendar:
        try:  # in the era of ``d``; 昭和64年1月中旬 does not exist, fall back to 西暦 then
            return JpDate.of(year=d.year, month=month, day=day, era=wareki(d)[0], qualifier=qualifier)
        except JpDateError:
            pass
    return JpDate.of(year=d.year, month=month, day=day, qualifier=qualifier)


@given(jp_dates())
def test_json_round_trip(jd: JpDate) -> None:
    assert JpDate.from_json(jd.to_json()) == jd


@given(jp_dates())
def test_text_parses_back_to_the_same_value(jd: JpDate) -> None:
    assert parse_jp_date(jd.text, allow_fuzzy=True, allow_non_calendar=True) == jd
    again = parse_jp_date(jd.seireki_text(), allow_fuzzy=True, allow_non_calendar=True)
    assert (again.year, again.month, again.day, again.qualifier) == (
        jd.year,
        jd.month,
        jd.day,
        jd.qualifier,
    )


@given(
    st.dates(min_value=D(1873, 1, 1), max_value=D(2100, 12, 31)),
    st.dates(min_value=D(1873, 1, 1), max_value=D(2100, 12, 31)),
)
def test_sort_key_agrees_with_date_order(a: dt.date, b: dt.date) -> None:
    ka = parse_jp_date(format_wareki(a)).sort_key()
    kb = parse_jp_date(b.isoformat()).sort_key()
    assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)


@given(jp_dates(), jp_dates())
def test_sort_key_orders_partial_dates_before_the_days_they_contain(a: JpDate, b: JpDate) -> None:
    if a.year is not None and b.year is not None and a.year < b.year:
        assert a.sort_key() < b.sort_key()
    if a.year is None and b.year is not None:
        assert a.sort_key() < b.sort_key()


def test_sort_key_examples() -> None:
    keys = [
        parse_jp_date(t, allow_fuzzy=True).sort_key()
        for t in ["年月日不詳", "昭和40年頃", "昭和40年3月上旬", "昭和40年3月4日", "1965年12月31日"]
    ]
    assert keys == ["0000-00-00", "1965-00-00", "1965-03-00", "1965-03-04", "1965-12-31"]
    assert keys == sorted(keys)
