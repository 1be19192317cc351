"""Certificate domain: household order (5.2), optional items (第12条, 5.1), 発行番号 (5.5), content."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from moyai.certificates import domain as d
from moyai.certificates.domain import (
    CertificateError,
    CertificateErrorCode,
    CertificateKind,
    Form,
    OptionalItem,
    Requester,
)
from moyai.platform.codes.tables import code_table
from moyai.platform.codes.wareki import parse_jp_date
from moyai.residents.domain.model import PersonState

JST = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 5, 2, 10, 30, tzinfo=JST)
ADDR = "山口県周南市岐山通一丁目1番地"


def jp(text: str) -> dict[str, Any]:
    return parse_jp_date(text).to_json()


_seq = iter(range(1, 10_000))


def person(rel: str | None, birth: str = "平成2年1月1日", *, sex: str = "1", atena: str | None = None,
           **kw: Any) -> PersonState:
    n = next(_seq)
    items: dict[str, Any] = {
        "household_no": "000000019", "relationship": rel, "family_name": "山田", "given_name": f"{rel}{n}",
        "birth_date": jp(birth), "sex": sex, "address": ADDR, "became_resident_on": jp("平成12年4月1日"),
        "address_set_on": jp("平成12年4月1日"),
    }
    items.update(kw)
    return PersonState(atena_no=atena or f"{n:09d}", **items)


def rels(members: list[PersonState]) -> list[str]:
    return [m.relationship or "" for m in members]


# --- household order ------------------------------------------------------------------------------


def test_household_order_follows_the_standard_ranks() -> None:
    head = person("世帯主", "昭和30年1月1日", hittousha="山田　世帯主")
    wife = person("妻", "昭和32年1月1日", sex="2")
    daughter = person("子", "平成7年1月1日", sex="2")  # single: 第1順位
    son = person("子", "平成2年1月1日", sex="1")  # married, with children: 第2順位
    son_wife = person("子の妻", "平成3年1月1日", sex="2")
    grandchild_old = person("子の子", "平成30年1月1日")
    grandchild_young = person("子の子", "令和3年1月1日")
    father = person("父", "大正15年1月1日")
    mother = person("母", "大正14年1月1日", sex="2")  # older, but the father is the 筆頭者
    father = dataclasses.replace(father, hittousha=f"{father.family_name}　{father.given_name}")
    elder_brother = person("兄", "昭和28年1月1日")
    younger_sister = person("妹", "昭和35年1月1日", sex="2")
    grandfather = person("父の父", "明治40年1月1日")
    wifes_father = person("妻の父", "昭和5年1月1日")
    wifes_brother = person("妻の兄", "昭和29年1月1日")
    nephew = person("兄の子", "昭和60年1月1日")
    kin = person("縁故者", "昭和50年1月1日")
    lodger_old = person("同居人", "昭和40年1月1日")
    lodger_young = person("同居人", "平成10年1月1日")
    expected = [head, wife, daughter, son, son_wife, grandchild_old, grandchild_young, father, mother,
                elder_brother, younger_sister, grandfather, wifes_father, wifes_brother, nephew, kin, lodger_old,
                lodger_young]
    for seed in range(5):
        shuffled = expected[:]
        random.Random(seed).shuffle(shuffled)
        assert d.household_order(shuffled) == expected, rels(d.household_order(shuffled))


def test_children_by_birth_date_then_atena_number() -> None:
    head = person("世帯主", "昭和40年1月1日")
    twin_b = person("子", "平成10年5月5日", atena="000000200")
    twin_a = person("子", "平成10年5月5日", atena="000000100")
    elder = person("子", "平成8年1月1日")
    assert d.household_order([twin_b, twin_a, elder, head]) == [head, elder, twin_a, twin_b]


def test_families_of_two_married_children_follow_the_childrens_birth_order() -> None:
    head = person("世帯主", "昭和30年1月1日")
    first_son = person("子", "昭和60年1月1日")
    second_son = person("子", "昭和62年1月1日")
    single = person("子", "平成5年1月1日", sex="2")
    w1 = person("子の妻", "昭和61年1月1日", sex="2")
    w2 = person("子の妻", "昭和63年1月1日", sex="2")
    c2 = person("子の子", "平成25年1月1日")  # the second son's child
    c1 = person("子の子", "平成28年1月1日")  # the first son's child, younger than c2
    families = {w1.atena_no: first_son.atena_no, c1.atena_no: first_son.atena_no,
                w2.atena_no: second_son.atena_no, c2.atena_no: second_son.atena_no}
    got = d.household_order([c2, w2, c1, w1, single, second_son, first_son, head], families=families)
    assert got == [head, single, first_son, w1, c1, second_son, w2, c2]


def test_unplaceable_grandchild_follows_the_known_families() -> None:
    head = person("世帯主", "昭和30年1月1日")
    a = person("子", "昭和60年1月1日")
    b = person("子", "昭和62年1月1日")
    grandchild = person("子の子", "平成20年1月1日")  # two possible parents, none with a family
    got = d.household_order([grandchild, b, a, head])
    assert got == [head, a, b, grandchild]


def test_only_child_with_a_child_moves_to_the_second_rank() -> None:
    head = person("世帯主", "昭和30年1月1日")
    child = person("子", "昭和60年1月1日")
    lodger = person("同居人", "昭和20年1月1日")
    grandchild = person("子の子", "平成20年1月1日")
    father = person("父", "大正10年1月1日")
    assert d.household_order([lodger, father, grandchild, child, head]) == [head, child, grandchild, father, lodger]


def test_parents_without_hittousha_by_birth_date() -> None:
    head = person("世帯主", "昭和30年1月1日")
    father = person("父", "大正5年1月1日")
    mother = person("母", "大正3年1月1日", sex="2")
    assert d.household_order([father, head, mother]) == [head, mother, father]


def test_household_without_head_and_manual_order() -> None:
    a = person("同居人", "昭和30年1月1日")
    b = person("縁故者", "昭和40年1月1日")
    assert d.household_order([a, b]) == [b, a]  # 縁故者 before 同居人
    head = person("世帯主", "昭和30年1月1日")
    wife = person("妻", "昭和31年1月1日", sex="2")
    child = person("子", "平成2年1月1日")
    # staff may set an order; members not in it follow in the standard order
    assert d.household_order([head, wife, child], manual=[child.atena_no]) == [child, head, wife]


def test_relationship_links_accept_half_width_parentheses() -> None:
    assert d.relationship_links("妻(未届)") == ("妻（未届）",)
    assert d.relationship_links("子の妻の父") == ("子", "妻", "父")
    head = person("世帯主")
    partner = person("妻(未届)", sex="2")
    child = person("子", "平成20年1月1日")
    assert d.household_order([child, partner, head]) == [head, partner, child]


# --- optional items -------------------------------------------------------------------------------

ISSUER = d.Issuer("352152", "山口県", "周南市", "山口県周南市長", "周南　太郎", "周南市長之印")
NUMBER = d.IssueNumber(NOW.date(), "周南市", "本庁1", "プリンタ001", 11)
JAPANESE_OPTIONAL = {
    OptionalItem.HEAD_RELATIONSHIP: ("続柄", "世帯主"),
    OptionalItem.HONSEKI: ("本籍", "山口県周南市毛利町一丁目1番地"),
    OptionalItem.INDIVIDUAL_NUMBER: ("個人番号", "123456789018"),
    OptionalItem.RESIDENT_CODE: ("住民票コード", "98765432109"),
}
FOREIGN_OPTIONAL = {
    OptionalItem.NATIONALITY: ("国籍・地域", "ブラジル"),
    OptionalItem.FOREIGN_CATEGORY: ("第30条の45に規定する区分", "中長期在留者"),
    OptionalItem.RESIDENCE_STATUS: ("在留資格", "定住者"),
    OptionalItem.PERIOD_OF_STAY: ("在留期間等", "5年"),
    OptionalItem.STAY_EXPIRY: ("在留期間等の満了の日", "2029年3月31日"),
    OptionalItem.RESIDENCE_CARD_NO: ("在留カード等番号", "XY98765432ZW"),
    OptionalItem.ALIAS: ("通称", "佐藤　ジョアン"),
}


def japanese() -> PersonState:
    return person("世帯主", "昭和45年5月5日", honseki="山口県周南市毛利町一丁目1番地", hittousha="山田　一郎",
                  individual_number="123456789018", resident_code="98765432109", family_name="山田", given_name="一郎")


def foreigner() -> PersonState:
    return person("世帯主", "1980年3月4日", resident_kind="foreign", family_name="", given_name="",
                  name_alpha="SILVA JOAO", nationality="ブラジル", foreign_category="1", residence_status=code_table("residence_status").code_for("定住者"),
                  period_of_stay="5年", stay_expiry="2029-03-31", residence_card_no="XY98765432ZW",
                  alias="佐藤　ジョアン", foreign_resident_since="2019-04-01", individual_number="983205673214",
                  resident_code="12312312312")


def build(p: PersonState, items: frozenset[OptionalItem] = frozenset(), purpose: str = "",
          requester: Requester = Requester.SELF, kind: CertificateKind = CertificateKind.RESIDENT_COPY,
          form: Form = Form.INDIVIDUAL, household: list[PersonState] | None = None,
          persons: list[PersonState] | None = None) -> d.Certificate:
    return d.compose(d.Selection(kind, form, requester, items, purpose), persons=persons if persons is not None else [p],
                     household=household if household is not None else [p], as_of=NOW.date(), issued_at=NOW,
                     issuer=ISSUER, issue_number=NUMBER, serial="352152-20260502-000011")


def leaked(content: str, label: str, value: str) -> bool:
    """The item's box, or its value (other than the 続柄 word, which the omitted-items note names), is in
    the certified content."""
    return f'["{label}",' in content or (value != "世帯主" and value in content)


def labels(cert: d.Certificate) -> dict[str, str]:
    return {e.label: e.value for e in cert.members[0].entries}


def test_no_optional_item_without_a_request() -> None:
    cert = build(japanese())
    text = cert.canonical_bytes().decode()
    for label, value in JAPANESE_OPTIONAL.values():
        assert label not in labels(cert)
        assert not leaked(text, label, value), f"{label} leaked into the certified content"
    assert cert.head_name is None
    assert cert.omitted == ("世帯主・続柄", "本籍・筆頭者", "個人番号", "住民票コード")
    f = build(foreigner())
    text = f.canonical_bytes().decode()
    for label, value in FOREIGN_OPTIONAL.values():
        assert label not in labels(f)
        assert not leaked(text, label, value), f"{label} leaked into the certified content"
    assert "本籍・筆頭者" not in f.omitted and "在留資格" in f.omitted


@pytest.mark.parametrize("item", list(JAPANESE_OPTIONAL))
def test_each_japanese_optional_item_printed_only_when_requested_with_a_purpose(item: OptionalItem) -> None:
    label, value = JAPANESE_OPTIONAL[item]
    with pytest.raises(CertificateError) as e:
        build(japanese(), frozenset({item}))
    assert e.value.code == CertificateErrorCode.PURPOSE_REQUIRED and e.value.field == "purpose"
    with pytest.raises(CertificateError):
        build(japanese(), frozenset({item}), purpose="　 ")
    cert = build(japanese(), frozenset({item}), purpose="旅券申請のため")
    assert labels(cert)[label] == value
    others = set(JAPANESE_OPTIONAL) - {item}
    for other in others:
        assert not leaked(cert.canonical_bytes().decode(), *JAPANESE_OPTIONAL[other])
    assert d.item_rules().label(item) not in cert.omitted


@pytest.mark.parametrize("item", list(FOREIGN_OPTIONAL))
def test_each_foreign_optional_item_printed_only_when_requested_with_a_purpose(item: OptionalItem) -> None:
    label, value = FOREIGN_OPTIONAL[item]
    with pytest.raises(CertificateError) as e:
        build(foreigner(), frozenset({item}))
    assert e.value.code == CertificateErrorCode.PURPOSE_REQUIRED
    cert = build(foreigner(), frozenset({item}), purpose="在留手続のため")
    assert labels(cert)[label] == value
    for other in set(FOREIGN_OPTIONAL) - {item}:
        assert not leaked(cert.canonical_bytes().decode(), *FOREIGN_OPTIONAL[other])
    # the same request on a Japanese resident prints nothing of it
    jp_cert = build(japanese(), frozenset({item}), purpose="在留手続のため")
    assert label not in labels(jp_cert)


def test_honseki_is_never_printed_for_a_foreign_resident() -> None:
    cert = build(foreigner(), frozenset({OptionalItem.HONSEKI}), purpose="確認のため")
    assert "本籍" not in labels(cert)


@pytest.mark.parametrize(("requester", "item"), [
    (Requester.THIRD_PARTY, OptionalItem.INDIVIDUAL_NUMBER),
    (Requester.THIRD_PARTY, OptionalItem.RESIDENT_CODE),
    (Requester.PUBLIC_BODY, OptionalItem.INDIVIDUAL_NUMBER),
    (Requester.PUBLIC_BODY, OptionalItem.RESIDENT_CODE),
    (Requester.WIDE_AREA, OptionalItem.HONSEKI),
])
def test_items_a_requester_can_never_have(requester: Requester, item: OptionalItem) -> None:
    with pytest.raises(CertificateError) as e:
        build(japanese(), frozenset({item}), purpose="相続手続のため", requester=requester)
    assert e.value.code == CertificateErrorCode.ITEM_NOT_ALLOWED
    assert d.item_rules().label(item) in e.value.message


@pytest.mark.parametrize(("requester", "item"), [
    (Requester.THIRD_PARTY, OptionalItem.HONSEKI),
    (Requester.THIRD_PARTY, OptionalItem.HEAD_RELATIONSHIP),
    (Requester.WIDE_AREA, OptionalItem.INDIVIDUAL_NUMBER),
    (Requester.SELF, OptionalItem.INDIVIDUAL_NUMBER),
])
def test_items_a_requester_may_have_with_a_purpose(requester: Requester, item: OptionalItem) -> None:
    cert = build(japanese(), frozenset({item}), purpose="相続手続のため", requester=requester)
    assert JAPANESE_OPTIONAL[item][0] in labels(cert)


def test_unknown_item_name_is_refused() -> None:
    assert d.parse_items(["honseki", "alias"]) == {OptionalItem.HONSEKI, OptionalItem.ALIAS}
    with pytest.raises(CertificateError) as e:
        d.parse_items(["honseki", "bank_account"])
    assert e.value.code == CertificateErrorCode.UNKNOWN_ITEM


# --- dates, numbers, forms ------------------------------------------------------------------------


def test_dates_in_wareki_except_a_foreign_residents_birth_and_expiry() -> None:
    j = labels(build(japanese()))
    assert j["生年月日"] == "昭和45年5月5日" and j["住民となった年月日"] == "平成12年4月1日"
    f = labels(build(foreigner(), frozenset({OptionalItem.STAY_EXPIRY}), purpose="在留手続"))
    assert f["生年月日"] == "1980年3月4日"
    assert f["在留期間等の満了の日"] == "2029年3月31日"
    assert f["外国人住民となった年月日"] == "平成31年4月1日"
    assert f["住所を定めた年月日"] == "平成12年4月1日"
    assert d.date_text(parse_jp_date("昭和40年頃", allow_fuzzy=True).to_json()) == "昭和40年頃"
    assert d.date_text("2019-05-01") == "令和元年5月1日"


def test_issue_number_format() -> None:
    n = d.IssueNumber(dt.date(2020, 5, 2), "●●市", "本庁1", "プリンタ001", 11)
    assert n.page_text(1, 2) == "20200502 ●●市 本庁1 プリンタ001 011 1/2"
    kiosk = d.IssueNumber(dt.date(2020, 5, 2), "●●市", "", "", 1234)
    assert kiosk.page_text(2, 2) == "20200502 ●●市 1234 2/2"


def test_whole_household_and_part_have_their_own_certification_text() -> None:
    head = japanese()
    wife = person("妻", "昭和47年2月3日", sex="2")
    whole = build(head, household=[head, wife], persons=[wife, head], form=Form.HOUSEHOLD)
    assert whole.whole_household and "世帯全員" in whole.certification_text
    assert [m.name for m in whole.members] == [head.display_name, wife.display_name]
    part = build(head, household=[head, wife], persons=[wife], form=Form.HOUSEHOLD)
    assert not part.whole_household and "世帯の一部" in part.certification_text
    custom = dataclasses.replace(ISSUER, certification_texts={"resident_copy.household.whole": "原本と相違ない。"})
    c = d.compose(d.Selection(CertificateKind.RESIDENT_COPY, Form.HOUSEHOLD, Requester.SELF),
                  persons=[head, wife], household=[head, wife], as_of=NOW.date(), issued_at=NOW, issuer=custom,
                  issue_number=NUMBER, serial="s1")
    assert c.certification_text == "原本と相違ない。"


def test_status_form_and_membership_checks() -> None:
    head = japanese()
    removed = dataclasses.replace(person("子"), status="removed", removal_kind="move_out", removed_on="2025-03-31",
                                  next_address="東京都千代田区千代田1番1号")
    with pytest.raises(CertificateError) as e:
        build(removed)
    assert e.value.code == CertificateErrorCode.WRONG_STATUS
    with pytest.raises(CertificateError) as e:
        build(head, kind=CertificateKind.REMOVED_COPY)
    assert e.value.code == CertificateErrorCode.WRONG_STATUS
    johyo = build(removed, kind=CertificateKind.REMOVED_COPY, household=[])
    got = labels(johyo)
    assert got["消除事由"] == "転出" and got["消除の年月日"] == "令和7年3月31日"
    assert got["転出先"] == "東京都千代田区千代田1番1号"
    assert johyo.title == "住民票の除票の写し" and "除票" in johyo.certification_text
    with pytest.raises(CertificateError) as e:
        build(head, persons=[head, person("妻")], household=[head], form=Form.INDIVIDUAL)
    assert e.value.code == CertificateErrorCode.FORM
    with pytest.raises(CertificateError) as e:
        build(head, persons=[head, person("妻")], household=[head], form=Form.HOUSEHOLD)
    assert e.value.code == CertificateErrorCode.NOT_IN_HOUSEHOLD
    with pytest.raises(CertificateError) as e:
        build(head, persons=[], household=[head], form=Form.HOUSEHOLD)


def test_digest_is_stable_and_covers_every_printed_value() -> None:
    a = build(japanese(), frozenset({OptionalItem.HONSEKI}), purpose="旅券申請")
    b = build(japanese(), frozenset({OptionalItem.HONSEKI}), purpose="旅券申請")
    assert a.digest() == b.digest() and len(a.digest()) == 32
    p = dataclasses.replace(japanese(), honseki="山口県周南市毛利町一丁目2番地")
    assert build(p, frozenset({OptionalItem.HONSEKI}), purpose="旅券申請").digest() != a.digest()
    assert dataclasses.replace(a, serial="other").digest() != a.digest()
    assert "旅券申請" not in a.canonical_bytes().decode()  # the purpose is logged, not certified
