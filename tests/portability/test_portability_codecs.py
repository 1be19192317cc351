"""Item codecs: round trips of every item type, and every kind of bad value."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portability_strategies import LAYOUT, RESIDENT, UNKNOWN, item_values, jp_dates

from moyai.platform.codes.wareki import JpDate
from moyai.portability.format.codecs import CODECS, FieldError, decode, decode_row, encode, encode_row, text_length
from moyai.portability.format.layout import TYPES, ItemSpec
from moyai.portability.format.problems import ProblemKind

ALL_ITEMS = [(f.file_name, it) for f in LAYOUT.files for it in f.items]


def item(item_id: str) -> ItemSpec:
    return RESIDENT.item(item_id)


def rejects(item_id: str, text: str) -> FieldError:
    with pytest.raises(FieldError) as e:
        decode(item(item_id), text)
    return e.value


def test_every_type_has_a_codec() -> None:
    assert set(CODECS) == set(TYPES)
    assert {it.type for _, it in ALL_ITEMS} == set(TYPES)


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(("file", "spec"), ALL_ITEMS, ids=[f"{f}:{it.name}" for f, it in ALL_ITEMS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_item_round_trips(file: str, spec: ItemSpec, data: st.DataObject) -> None:
    value = data.draw(item_values(spec))
    text = encode(spec, value)
    assert decode(spec, text) == value  # decode(encode(v)) == v
    assert encode(spec, decode(spec, text)) == text  # canonical text is stable


@pytest.mark.parametrize("spec", [s for _, s in ALL_ITEMS if not s.required][:3])
def test_empty_text_is_none(spec: ItemSpec) -> None:
    assert decode(spec, "") is None
    assert encode(spec, None) == ""


@settings(max_examples=300, deadline=None)
@given(jp_dates(era=True, qualified=False))
def test_wareki_dates_keep_the_era_as_entered(jd: JpDate) -> None:
    text = encode(item("birth_date"), jd)
    back = decode(item("birth_date"), text)
    assert back == jd and back.era == jd.era and back.text == jd.text


def test_shared_days_of_two_eras_stay_in_the_era_entered() -> None:
    taisho = JpDate.of(year=1926, month=12, day=25, era="taisho")
    showa = JpDate.of(year=1926, month=12, day=25, era="showa")
    assert encode(item("birth_date"), taisho) == "02151225"
    assert encode(item("birth_date"), showa) == "03011225"
    assert decode(item("birth_date"), "02151225") == taisho
    assert decode(item("birth_date"), "03011225") == showa


def test_unknown_parts_are_zero() -> None:
    b = item("birth_date")
    assert decode(b, "03400000").text == "昭和40年"
    assert decode(b, "03400300").text == "昭和40年3月"
    assert decode(b, "00000000") == UNKNOWN
    assert encode(b, UNKNOWN) == "00000000"
    assert decode(item("birth_date_seireki"), "19650000").text == "1965年"
    nc = decode(b, "04020230")  # 平成2年2月30日: a 戸籍 may hold it
    assert not nc.calendar_valid and encode(b, nc) == "04020230"


def test_relationship_codes() -> None:
    r = item("relationship")
    assert encode(r, "世帯主") == "01"
    assert encode(r, "子の子") == "0606"
    assert encode(r, "子の妻") == "08"
    assert decode(r, "0606") == "子の子"
    assert decode(r, "0603") == "子の妻"  # the chain of links reads back as the same 続柄
    assert decode(r, "06060606") == "子の子の子の子"


# --- length ---------------------------------------------------------------------------------------


def test_length_counts_characters_whatever_their_width() -> None:
    assert text_length("山田") == 2
    assert text_length("ﾔﾏﾀﾞ") == 4  # half-width katakana: one each (the dakuten is its own character)
    assert text_length("ABC") == 3
    assert text_length("葛\U000e0100城") == 2  # a variation selector (IVS) belongs to its character
    assert text_length("𠮷") == 1
    assert text_length("山田", "バイト") == 4
    assert text_length("ﾔﾏﾀﾞ", "バイト") == 4
    assert text_length("𠮷", "バイト") == 2


def test_overlong_values() -> None:
    e = rejects("family_name", "山" * 51)
    assert e.kind == ProblemKind.TOO_LONG and "51文字" in e.reason
    assert decode(item("family_name"), "山" * 50) == "山" * 50
    assert rejects("history_no", "123456").kind == ProblemKind.TOO_LONG
    assert rejects("atena_no", "00000000019").kind == ProblemKind.TOO_LONG


# --- rejects --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item_id", "text", "kind"),
    [
        ("atena_no", "", ProblemKind.REQUIRED),
        ("atena_no", "000000001", ProblemKind.LENGTH),
        ("atena_no", "000000001X", ProblemKind.TYPE),
        ("atena_no", "０００００００００１９"[:10], ProblemKind.TYPE),  # full-width digits
        ("atena_no", "0000000018", ProblemKind.CHECK_DIGIT),
        ("household_no", "0000000028", ProblemKind.CHECK_DIGIT),
        ("individual_number", "123456789019", ProblemKind.CHECK_DIGIT),
        ("tenant_code", "352072", ProblemKind.CHECK_DIGIT),
        ("effective_date", "20230229", ProblemKind.DATE),
        ("effective_date", "20231301", ProblemKind.DATE),
        ("effective_date", "2023/1/1", ProblemKind.TYPE),
        ("effective_date", "2023-01-01", ProblemKind.TOO_LONG),
        ("effective_date", "20230100", ProblemKind.DATE),
        ("birth_date", "05010430", ProblemKind.DATE),  # 令和元年4月30日
        ("birth_date", "04320101", ProblemKind.DATE),  # 平成32年
        ("birth_date", "03400010", ProblemKind.DATE),  # a day without a month
        ("birth_date", "03401301", ProblemKind.DATE),
        ("birth_date", "09010101", ProblemKind.CODE),  # no such 年号
        ("birth_date", "03000101", ProblemKind.DATE),
        ("birth_date_seireki", "00000101", ProblemKind.DATE),
        ("sex", "3", ProblemKind.CODE),
        ("reason_code", "999", ProblemKind.CODE),
        ("residence_status", "99", ProblemKind.CODE),
        ("relationship", "0699", ProblemKind.CODE),
        ("relationship", "0106", ProblemKind.CODE),  # 世帯主 cannot be chained
        ("relationship", "0606060606", ProblemKind.TOO_LONG),
        ("relationship", "060", ProblemKind.LENGTH),
        ("cancelled", "2", ProblemKind.TYPE),
        ("cancelled", "", ProblemKind.REQUIRED),
        ("kana_confirmed", "true", ProblemKind.TOO_LONG),
        ("family_name", "山\n田", ProblemKind.CHARSET),
        ("family_name", "山\ue000", ProblemKind.GAIJI),  # vendor 外字 (private use area)
        ("family_kana", "ヤマ\ue000", ProblemKind.CHARSET),
        ("family_kana", "𠮷", ProblemKind.CHARSET),  # not JIS: no 外字 in this item
    ],
)
def test_bad_values_are_refused_with_their_kind(item_id: str, text: str, kind: ProblemKind) -> None:
    e = rejects(item_id, text)
    assert e.kind == kind, e.reason
    assert e.reason and e.item.id == item_id


def test_stay_expiry_is_strict() -> None:
    assert decode(item("stay_expiry"), "20280229") == dt.date(2028, 2, 29)
    assert rejects("stay_expiry", "20280200").kind == ProblemKind.DATE


def test_encode_refuses_what_decode_would_refuse() -> None:
    bad: list[tuple[str, Any]] = [
        ("atena_no", "0000000018"),
        ("sex", "9"),
        ("family_name", "山\ue000"),
        ("effective_date", "20200101"),
        ("birth_date", JpDate.of(year=1990, month=3, day=4)),  # 西暦 in the 和暦 item
        ("birth_date_seireki", JpDate.of(year=1990, month=3, day=4, era="heisei")),
        ("birth_date", JpDate.of(year=1990, month=3, era="heisei", qualifier="上旬")),  # qualifier has its own item
        ("kana_confirmed", 1),
        ("cancelled", None),
    ]
    for item_id, value in bad:
        with pytest.raises(FieldError):
            encode(item(item_id), value)


def test_rows_collect_every_problem_with_file_row_and_item() -> None:
    spec = LAYOUT.file("household")
    raw = {"tenant_code": "352072", "household_no": "0000000019", "head_atena_no": "", "member_count": "x",
           "postal_code": "7450045", "address": "周南市", "katagaki": "", "address_code": ""}  # fmt: skip
    values, problems = decode_row(spec, raw, row=7)
    assert [(p.file, p.row, p.item, p.kind) for p in problems] == [
        ("JYUKI_SETAI.csv", 7, "団体コード", ProblemKind.CHECK_DIGIT),
        ("JYUKI_SETAI.csv", 7, "世帯員数", ProblemKind.TYPE),
    ]
    assert values["address"] == "周南市" and values["head_atena_no"] is None
    ok = dict(raw, tenant_code="352071", member_count="2")
    values, problems = decode_row(spec, ok)
    assert problems == [] and encode_row(spec, values) == ok
