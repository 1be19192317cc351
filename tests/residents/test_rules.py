"""エラー・アラート rules of 異動 (rules.yaml), through the service: 仮登録, 本登録 and 審査.

Each rule is triggered through :func:`services.propose` / :func:`services.register` and its
finding is asserted exactly (rule, level, Japanese message, 宛名番号, field). Refusals must leave
the 異動 store untouched: the number of :class:`Event` rows is compared before and after.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from moyai.platform.identity.services import IdentityError, IdentityErrorCode, Principal, staff_principal
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import selectors, services
from moyai.residents.domain import rules
from moyai.residents.domain.rules import Level, RuleSpec
from moyai.residents.errors import RegistryError, ResidentsErrorCode
from moyai.residents.models import ChangeRequest, Event, Resident
from moyai.residents.services import SubjectInput
from tests.factories import MembershipFactory, UserFactory
from tests.fixtures import SHUNAN, World

ADDR1 = "山口県周南市岐山通一丁目1番地"
ADDR2 = "山口県周南市糀町二丁目5番地"
NUMBER = "123456789018"  # a valid 個人番号 (check digit 8)
FUTURE = dt.date(2099, 1, 1)  # 令和81年1月1日
FUTURE_TEXT = "令和81年1月1日"

HEAD = {"family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ", "given_kana": "イチロウ",
        "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主", "address": ADDR1,
        "postal_code": "745-0045", "household_no": "new", "individual_number": NUMBER}
WIFE = {"family_name": "山田", "given_name": "花子", "family_kana": "ヤマダ", "given_kana": "ハナコ",
        "birth_date": "昭和47年2月3日", "sex": "2", "relationship": "妻", "address": ADDR1,
        "postal_code": "745-0045", "household_no": "new"}
SINGLE = {"family_name": "佐藤", "given_name": "次郎", "family_kana": "サトウ", "given_kana": "ジロウ",
          "birth_date": "平成2年3月4日", "sex": "1", "relationship": "世帯主", "address": ADDR2,
          "household_no": "new"}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    """The world's staff get their passwords hashed with a cheap hasher (no test logs in by password)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# ------------------------------------------------------------------ helpers


@dataclasses.dataclass(frozen=True)
class Family:
    head: str
    wife: str
    household: str


def _family(w: World) -> Family:
    """山田一郎 (世帯主) and 山田花子 (妻) moved in on 2000-04-01 as one new household."""
    req = services.record_now(w.clerk, "move_in", dt.date(2000, 4, 1),
                              [SubjectInput(None, HEAD), SubjectInput(None, WIFE)], notified_date=dt.date(2000, 4, 3))
    assert req.status == "registered", req.findings
    head, wife = req.moves[0]["atena_no"], req.moves[1]["atena_no"]
    return Family(head, wife, req.moves[0]["changes"]["household_no"])


def _single(w: World, **changes: Any) -> str:
    req = services.record_now(w.clerk, "move_in", dt.date(2010, 4, 1), [SubjectInput(None, {**SINGLE, **changes})],
                              notified_date=dt.date(2010, 4, 1))
    assert req.status == "registered", req.findings
    return str(req.moves[0]["atena_no"])


def _events() -> int:
    return Event.objects.count()


def _finding(rule: str, level: str, message: str, atena_no: str | None, field: str | None) -> dict[str, Any]:
    return {"rule": rule, "level": level, "message": message, "atena_no": atena_no, "field": field}


def _refused(actor: Principal, req: ChangeRequest, expected: Sequence[Mapping[str, Any]]) -> RegistryError:
    """本登録 is refused with exactly ``expected`` errors, and nothing is recorded."""
    before = _events()
    residents_before = sorted(Resident.objects.values_list("atena_no", "version"))
    with pytest.raises(RegistryError) as exc:
        services.register(actor, req.id)
    err = exc.value
    assert err.code == ResidentsErrorCode.RULE_ERRORS
    assert err.status == 422
    assert err.findings == list(expected)
    assert err.message == "エラーがあるため登録できません: " + " / ".join(f["message"] for f in expected)
    assert _events() == before
    assert sorted(Resident.objects.values_list("atena_no", "version")) == residents_before
    assert ChangeRequest.objects.get(id=req.id).status == "draft"
    return err


def _alert_needs_confirmation(actor: Principal, req: ChangeRequest, expected: Sequence[Mapping[str, Any]]) -> None:
    """本登録 without confirming the alerts is refused (409) and records nothing; confirmed, it records."""
    before = _events()
    with pytest.raises(RegistryError) as exc:
        services.register(actor, req.id)
    assert exc.value.code == ResidentsErrorCode.ALERTS_NOT_CONFIRMED
    assert exc.value.status == 409
    assert exc.value.findings == list(expected)
    assert exc.value.message == "アラートを確認してから登録してください: " + " / ".join(f["message"] for f in expected)
    assert _events() == before
    assert ChangeRequest.objects.get(id=req.id).status == "draft"
    done = services.register(actor, req.id, confirm_alerts=True)
    assert done.status == "registered"
    assert _events() == before + len(req.moves)


def _member(username: str, *roles_: str) -> Principal:
    user: Any = UserFactory(username=username)
    for role in roles_:
        MembershipFactory(user=user, tenant_id=SHUNAN, role=role)
    return staff_principal(user, SHUNAN)


# ------------------------------------------------------------------ not resident / existence


def test_move_within_after_death_is_not_resident_on_date(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        services.record_now(w.clerk, "death", dt.date(2020, 1, 1), [SubjectInput(fam.wife, {"death_date": "令和2年1月1日"})],
                            notified_date=dt.date(2020, 1, 2))
        req = services.propose(w.clerk, "move_within", dt.date(2021, 1, 1), [SubjectInput(fam.wife, {"address": ADDR2})],
                               notified_date=dt.date(2021, 1, 1))
        expected = [_finding("not_resident_on_date", "error",
                             "山田　花子は令和3年1月1日時点で住民ではないため、この異動は登録できません", fam.wife, "effective_date")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)
        assert selectors.resident_view(w.clerk, fam.wife).record.address == ADDR1


def test_move_within_between_move_out_and_return_is_not_resident_on_date(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        person = _single(w)
        services.record_now(w.clerk, "move_out", dt.date(2012, 3, 31), [SubjectInput(person, {"next_address": "東京都千代田区千代田1番1号"})],
                            notified_date=dt.date(2012, 3, 31))
        services.record_now(w.clerk, "move_in", dt.date(2015, 4, 1), [SubjectInput(person, {"address": ADDR1})],
                            notified_date=dt.date(2015, 4, 1))
        req = services.propose(w.clerk, "move_within", dt.date(2013, 1, 1), [SubjectInput(person, {"address": ADDR2})])
        expected = [_finding("not_resident_on_date", "error",
                             "佐藤　次郎は平成25年1月1日時点で住民ではないため、この異動は登録できません", person, "effective_date")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


def test_move_within_before_move_in_is_before_existence(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_within", dt.date(1999, 4, 1), [SubjectInput(fam.wife, {"address": ADDR2})])
        assert [(f["rule"], f["level"], f["atena_no"], f["field"]) for f in req.findings] == [
            ("before_existence", "error", fam.wife, "effective_date")]
        message = req.findings[0]["message"]
        assert message.startswith("異動日 平成11年4月1日 は")
        assert message.endswith("の住民記録ができた日（平成12年4月1日）より前です")
        _refused(w.clerk, req, req.findings)


def test_before_existence_message_names_the_resident(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_within", dt.date(1999, 4, 1), [SubjectInput(fam.wife, {"address": ADDR2})])
        assert req.findings[0]["message"] == "異動日 平成11年4月1日 は山田　花子の住民記録ができた日（平成12年4月1日）より前です"


def test_unknown_resident(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        _family(w)
        ghost = "0000009990"
        req = services.propose(w.clerk, "move_within", dt.date(2020, 1, 1), [SubjectInput(ghost, {"address": ADDR2})])
        expected = [_finding("unknown_resident", "error", f"宛名番号 {ghost} の住民は登録されていません", ghost, "atena_no")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


def test_already_removed(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        services.record_now(w.clerk, "death", dt.date(2020, 1, 1), [SubjectInput(fam.wife, {})])
        req = services.propose(w.clerk, "death", dt.date(2020, 2, 1), [SubjectInput(fam.wife, {})])
        expected = [_finding("already_removed", "error", "山田　花子は既に消除されています", fam.wife, None)]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


def test_restoration_of_a_resident_is_not_removed(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "restoration", dt.date(2020, 1, 1), [SubjectInput(fam.head, {})])
        expected = [_finding("not_removed", "error", "山田　一郎は消除されていないため回復できません", fam.head, None)]
        assert req.findings == expected
        _refused(w.clerk, req, expected)  # refused at 本登録, before 審査


# ------------------------------------------------------------------ dates


def test_future_move_within(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_within", FUTURE, [SubjectInput(fam.head, {"address": ADDR2})])
        expected = [_finding("future_date", "error",
                             f"異動日 {FUTURE_TEXT} は未来の日付です（未来日で登録できるのは転出予定のみです）", fam.head, "effective_date")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


def test_move_out_planned_may_be_in_the_future(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        person = _single(w)
        before = _events()
        req = services.record_now(w.clerk, "move_out_planned", FUTURE, [SubjectInput(person, {"next_address": "東京都港区"})],
                                  notified_date=dt.date(2020, 1, 1))
        assert req.findings == []
        assert req.status == "registered"
        assert _events() == before + 1


def test_birth_in_the_future(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "birth", FUTURE, [SubjectInput(None, {
            "family_name": "山田", "given_name": "三郎", "family_kana": "ヤマダ", "given_kana": "サブロウ", "sex": "1",
            "relationship": "子", "address": ADDR1, "household_no": fam.household})])
        baby = req.moves[0]["atena_no"]
        expected = [_finding("birth_in_future", "error", f"出生日 {FUTURE_TEXT} は未来の日付です", baby, "effective_date")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)
        assert not Event.objects.filter(atena_no=baby).exists()


def test_birth_date_item_in_the_future_is_refused(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "birth", dt.date(2020, 1, 1), [SubjectInput(None, {
            "family_name": "山田", "given_name": "三郎", "family_kana": "ヤマダ", "given_kana": "サブロウ", "sex": "1",
            "birth_date": FUTURE_TEXT, "relationship": "子", "address": ADDR1, "household_no": fam.household})])
        baby = req.moves[0]["atena_no"]
        assert [f for f in req.findings if f["rule"] == "birth_date_in_future"] == [
            _finding("birth_date_in_future", "error", f"生年月日 {FUTURE_TEXT} は未来の日付です", baby, "birth_date")]


def test_notified_in_the_future(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_within", dt.date(2020, 5, 1), [SubjectInput(fam.head, {"address": ADDR2})],
                               notified_date=FUTURE)
        expected = [_finding("notified_in_future", "error", f"届出日 {FUTURE_TEXT} は未来の日付です", fam.head, "notified_date")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


def test_notified_before_effective(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_within", dt.date(2020, 5, 10), [SubjectInput(fam.head, {"address": ADDR2})],
                               notified_date=dt.date(2020, 5, 1))
        expected = [_finding("notified_before_effective", "error", "届出日 令和2年5月1日 が異動日 令和2年5月10日 より前です",
                             fam.head, "notified_date")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


def test_late_notification_is_an_alert_to_confirm(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, SINGLE)],
                               notified_date=dt.date(2020, 4, 21))
        atena = req.moves[0]["atena_no"]
        expected = [_finding("late_notification", "alert",
                             "届出日が異動日から20日経過しています（14日を超えた届出です。届出期間経過通知の要否を確認してください）",
                             atena, "notified_date")]
        assert req.findings == expected
        _alert_needs_confirmation(w.clerk, req, expected)
        assert selectors.resident_view(w.clerk, atena).record.display_name == "佐藤　次郎"


@pytest.mark.parametrize(("days", "late"), [(14, False), (15, True)])
def test_late_notification_boundary_is_14_days(world: World, days: int, late: bool) -> None:
    w = world
    with tenant_scope(SHUNAN):
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, SINGLE)],
                               notified_date=dt.date(2020, 4, 1) + dt.timedelta(days=days))
        assert [f["rule"] for f in req.findings] == (["late_notification"] if late else [])


def test_late_notification_is_not_checked_for_a_birth(world: World) -> None:
    """The rule's kinds (move_in, move_within) are data: a late 出生届 gets no alert."""
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "birth", dt.date(2020, 4, 1), [SubjectInput(None, {
            "family_name": "山田", "given_name": "三郎", "family_kana": "ヤマダ", "given_kana": "サブロウ", "sex": "1",
            "relationship": "子", "address": ADDR1, "household_no": fam.household})], notified_date=dt.date(2020, 4, 30))
        assert req.findings == []


# ------------------------------------------------------------------ 個人番号


def test_second_move_in_of_the_same_individual_number(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1),
                               [SubjectInput(None, {**SINGLE, "individual_number": "1234 5678 9018"})],
                               notified_date=dt.date(2020, 4, 1))
        atena = req.moves[0]["atena_no"]
        expected = [_finding("duplicate_individual_number", "error",
                             f"個人番号 {NUMBER} は既に住民（宛名番号 {fam.head}）に記録されています", atena, "individual_number")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)
        assert list(Resident.objects.filter(individual_number=NUMBER).values_list("atena_no", flat=True)) == [fam.head]


def test_same_individual_number_twice_in_one_request(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1), [
            SubjectInput(None, {**SINGLE, "individual_number": NUMBER}),
            SubjectInput(None, {**SINGLE, "given_name": "三郎", "relationship": "子", "household_no": "new",
                                "individual_number": NUMBER}),
        ], notified_date=dt.date(2020, 4, 1))
        assert "duplicate_individual_number" in [f["rule"] for f in req.findings]


def test_returning_resident_is_an_alert(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        old = _single(w, individual_number=NUMBER)
        services.record_now(w.clerk, "move_out", dt.date(2015, 3, 31), [SubjectInput(old, {"next_address": "東京都港区"})],
                            notified_date=dt.date(2015, 3, 31))
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, {**SINGLE, "individual_number": NUMBER})],
                               notified_date=dt.date(2020, 4, 1))
        atena = req.moves[0]["atena_no"]
        expected = [_finding("returning_resident", "alert",
                             f"個人番号 {NUMBER} の除票（宛名番号 {old}）があります。再転入者の可能性を確認してください",
                             atena, "individual_number")]
        assert req.findings == expected
        _alert_needs_confirmation(w.clerk, req, expected)


# ------------------------------------------------------------------ 世帯


def test_move_within_of_the_head_to_a_new_household_leaves_it_without_head(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_within", dt.date(2020, 6, 1),
                               [SubjectInput(fam.head, {"address": ADDR2, "household_no": "new"})],
                               notified_date=dt.date(2020, 6, 1))
        expected = [_finding("household_without_head", "error",
                             f"世帯 {fam.household} に世帯主がいなくなります。世帯主変更も併せて入力してください", None, "relationship")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)
        assert [m.atena_no for m in selectors.household_on(fam.household)] == [fam.head, fam.wife]


def test_death_of_the_head_is_an_alert_to_confirm(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "death", dt.date(2020, 6, 1), [SubjectInput(fam.head, {"death_date": "令和2年6月1日"})],
                               notified_date=dt.date(2020, 6, 2))
        expected = [_finding("head_left_household", "alert",
                             f"世帯 {fam.household} の世帯主がいなくなります。世帯主変更の届出を案内してください", None, "relationship")]
        assert req.findings == expected
        _alert_needs_confirmation(w.clerk, req, expected)
        assert selectors.resident_view(w.clerk, fam.head).record.status == "removed"
        assert [m.atena_no for m in selectors.household_on(fam.household)] == [fam.wife]


def test_two_heads(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_in", dt.date(2020, 6, 1),
                               [SubjectInput(None, {**SINGLE, "address": ADDR1, "household_no": fam.household})],
                               notified_date=dt.date(2020, 6, 1))
        expected = [_finding("two_heads", "error", f"世帯 {fam.household} に世帯主が2人以上になります", None, "relationship")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


def test_head_change_together_with_the_head_moving_keeps_a_head(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        before = _events()
        req = services.record_now(w.clerk, "household_split", dt.date(2020, 6, 1), [
            SubjectInput(fam.head, {"household_no": "new", "address": ADDR2}),
            SubjectInput(fam.wife, {"relationship": "世帯主"}),
        ])
        assert req.findings == []
        assert req.status == "registered"
        assert _events() == before + 2


# ------------------------------------------------------------------ items


def test_item_not_allowed_for_the_kind(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "move_within", dt.date(2020, 6, 1),
                               [SubjectInput(fam.head, {"address": ADDR2, "given_name": "一朗"})], notified_date=dt.date(2020, 6, 1))
        expected = [_finding("item_not_allowed", "error", "この異動（転居）では項目「名」は変更できません", fam.head, "given_name")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


def test_required_item_on_move_in(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1),
                               [SubjectInput(None, {k: v for k, v in SINGLE.items() if k != "sex"})],
                               notified_date=dt.date(2020, 4, 1))
        atena = req.moves[0]["atena_no"]
        expected = [_finding("required_item", "error", "性別は必須です", atena, "sex")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


INVALID_ITEMS = [
    pytest.param("individual_number", "123456789012", "個人番号: 個人番号の検査用数字が正しくありません", [], id="check-digit"),
    pytest.param("individual_number", "12345", "個人番号: 個人番号は12桁の数字です", [], id="number-length"),
    pytest.param("relationship", "孫", '続柄: "孫" は続柄に使えません（例: 子の子）', [("required_item", "続柄は必須です", "relationship")],
                 id="relationship"),
    pytest.param("birth_date", "平成31年5月1日", "生年月日: 平成31年5月1日は存在しません（平成は31年4月30日まで）",
                 [("required_item", "生年月日は必須です", "birth_date")], id="impossible-date"),
    pytest.param("postal_code", "74500", "郵便番号: 郵便番号は7桁の数字です（例: 745-0045）", [], id="postal-code"),
    pytest.param("family_kana", "YAMADA", "氏フリガナ: フリガナはカタカナで入力してください", [], id="kana"),
    pytest.param("sex", "7", "性別: 性別コード 7 は性別コード表にありません", [("required_item", "性別は必須です", "sex")], id="sex"),
    pytest.param("shoe_size", "27", "shoe_size: 項目 shoe_size は住民記録の項目ではありません", [], id="unknown-item"),
]


@pytest.mark.parametrize(("item", "value", "message", "more"), INVALID_ITEMS)
def test_invalid_item(world: World, item: str, value: str, message: str, more: list[tuple[str, str, str]]) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        child = {"family_name": "山田", "given_name": "三郎", "family_kana": "ヤマダ", "given_kana": "サブロウ",
                 "birth_date": "平成20年1月1日", "sex": "1", "relationship": "子", "address": ADDR1,
                 "household_no": fam.household}
        req = services.propose(w.clerk, "move_in", dt.date(2020, 6, 1), [SubjectInput(None, {**child, item: value})],
                               notified_date=dt.date(2020, 6, 1))
        atena = req.moves[0]["atena_no"]
        expected = [_finding("invalid_item", "error", message, atena, item),
                    *[_finding(rule, "error", text, atena, field) for rule, text, field in more]]
        assert req.findings == expected
        assert item not in req.moves[0]["changes"]
        _refused(w.clerk, req, expected)


def test_invalid_item_found_at_propose_stays_at_register(world: World) -> None:
    """Item problems are found at 仮登録 and cannot disappear: 本登録 keeps refusing."""
    w = world
    with tenant_scope(SHUNAN):
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1),
                               [SubjectInput(None, {**SINGLE, "postal_code": "745-00450"})], notified_date=dt.date(2020, 4, 1))
        atena = req.moves[0]["atena_no"]
        expected = [_finding("invalid_item", "error", "郵便番号: 郵便番号は7桁の数字です（例: 745-0045）", atena, "postal_code")]
        _refused(w.clerk, req, expected)
        _refused(w.clerk, req, expected)
        assert ChangeRequest.objects.get(id=req.id).findings == expected


# ------------------------------------------------------------------ 外国人住民


FOREIGN = {"resident_kind": "foreign", "name_alpha": "SMITH JOHN", "family_kana": "スミス", "given_kana": "ジョン",
           "birth_date": "1985-07-15", "sex": "1", "relationship": "世帯主", "address": ADDR2, "household_no": "new",
           "nationality": "アメリカ合衆国", "foreign_category": "中長期在留者"}


def test_foreign_resident_without_status_is_an_alert(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, FOREIGN)],
                               notified_date=dt.date(2020, 4, 1))
        atena = req.moves[0]["atena_no"]
        expected = [_finding("foreign_without_status", "alert",
                             "外国人住民の在留資格・在留期間等・在留カード番号が入力されていません", atena, "residence_status")]
        assert req.findings == expected
        _alert_needs_confirmation(w.clerk, req, expected)


def test_stay_expired_is_an_alert(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, {
            **FOREIGN, "residence_status": "教授", "stay_expiry": "2020-03-31", "residence_card_no": "AB12345678CD"})],
            notified_date=dt.date(2020, 4, 1))
        atena = req.moves[0]["atena_no"]
        expected = [_finding("stay_expired", "alert", "在留期間の満了日 2020-03-31 を過ぎています", atena, "stay_expiry")]
        assert req.findings == expected
        assert req.moves[0]["changes"]["residence_status"] == "03"
        _alert_needs_confirmation(w.clerk, req, expected)


# ------------------------------------------------------------------ 取消し


def test_cancel_target_missing(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = services.propose(w.clerk, "cancellation", dt.date(2020, 1, 1), [SubjectInput(fam.head, {})], cancels=12345)
        expected = [_finding("cancel_target_missing", "error", "取り消す異動（12345）が見つからないか、既に取り消されています",
                             fam.head, "cancels")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)


# ------------------------------------------------------------------ 審査 (職権)


def _correction(w: World, actor: Principal, head: str) -> ChangeRequest:
    req = services.propose(actor, "ex_officio_correction", dt.date(2000, 4, 1), [SubjectInput(head, {"given_name": "一朗"})])
    assert req.findings == []
    return req


def test_ex_officio_correction_waits_for_approval_and_an_approver_records_it(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = _correction(w, w.clerk, fam.head)
        before = _events()
        registered = services.register(w.clerk, req.id)
        assert registered.status == "awaiting_approval"
        assert _events() == before
        assert [r.id for r in selectors.awaiting_approval(w.approver)] == [req.id]
        assert selectors.resident_view(w.clerk, fam.head).record.given_name == "一郎"

        # a clerk (no move.approve) cannot approve
        with pytest.raises(IdentityError) as denied:
            services.approve(w.clerk2, req.id)
        assert denied.value.code == IdentityErrorCode.FORBIDDEN
        assert denied.value.message == "この操作（職権異動の審査（承認・却下・取消し））を行う権限がありません"
        assert _events() == before

        # registering again is refused
        with pytest.raises(RegistryError) as again:
            services.register(w.clerk, req.id)
        assert (again.value.code, again.value.status) == (ResidentsErrorCode.INVALID_STATE, 409)
        assert again.value.message == f"仮登録 {req.id} は審査待ちのため本登録できません"

        approved = services.approve(w.approver, req.id, note="戸籍と照合済み")
        assert approved.status == "registered"
        assert approved.decided_by == "staff:approver1"
        assert approved.decision_note == "戸籍と照合済み"
        assert _events() == before + 1
        ev = Event.objects.get(group_id=req.id)
        assert (ev.kind, ev.reason_code, ev.staff, ev.changes) == ("ex_officio_correction", "306", "staff:approver1",
                                                                   {"given_name": "一朗"})
        assert selectors.resident_view(w.clerk, fam.head).record.given_name == "一朗"
        assert selectors.awaiting_approval(w.approver) == []


def test_the_proposer_cannot_approve_their_own_change(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        dual = _member("dual1", "clerk", "approver")
        req = _correction(w, dual, fam.head)
        assert services.register(dual, req.id).status == "awaiting_approval"
        before = _events()
        with pytest.raises(RegistryError) as exc:
            services.approve(dual, req.id)
        assert (exc.value.code, exc.value.status) == (ResidentsErrorCode.SELF_APPROVAL, 403)
        assert exc.value.message == "自分が入力した異動は審査できません"
        assert _events() == before
        assert ChangeRequest.objects.get(id=req.id).status == "awaiting_approval"
        assert services.approve(w.approver, req.id).status == "registered"
        assert _events() == before + 1


def test_reject_records_nothing(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = _correction(w, w.clerk, fam.head)
        services.register(w.clerk, req.id)
        before = _events()
        with pytest.raises(IdentityError):
            services.reject(w.clerk2, req.id, "誤り")
        rejected = services.reject(w.approver, req.id, "戸籍の記載と一致しません")
        assert (rejected.status, rejected.decided_by, rejected.decision_note) == (
            "rejected", "staff:approver1", "戸籍の記載と一致しません")
        assert ChangeRequest.objects.get(id=req.id).status == "rejected"
        assert _events() == before
        assert selectors.resident_view(w.clerk, fam.head).record.given_name == "一郎"
        with pytest.raises(RegistryError) as exc:
            services.approve(w.approver, req.id)
        assert (exc.value.code, exc.value.status) == (ResidentsErrorCode.INVALID_STATE, 409)
        assert exc.value.message == f"仮登録 {req.id} は審査待ちではありません"
        assert _events() == before


@pytest.mark.parametrize("register_first", [False, True], ids=["draft", "awaiting_approval"])
def test_withdraw(world: World, register_first: bool) -> None:
    w = world
    with tenant_scope(SHUNAN):
        fam = _family(w)
        req = _correction(w, w.clerk, fam.head)
        if register_first:
            services.register(w.clerk, req.id)
        before = _events()
        assert services.withdraw(w.clerk, req.id).status == "withdrawn"
        assert ChangeRequest.objects.get(id=req.id).status == "withdrawn"
        assert _events() == before
        with pytest.raises(RegistryError) as exc:
            services.approve(w.approver, req.id)
        assert exc.value.code == ResidentsErrorCode.INVALID_STATE
        with pytest.raises(RegistryError) as exc:
            services.register(w.clerk, req.id)
        assert exc.value.message == f"仮登録 {req.id} は取下げのため本登録できません"
        with pytest.raises(RegistryError) as exc:
            services.withdraw(w.clerk, req.id)
        assert (exc.value.code, exc.value.status, exc.value.message) == (
            ResidentsErrorCode.INVALID_STATE, 409, f"仮登録 {req.id} は取り下げできません")
        assert _events() == before


def test_unknown_request(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN), pytest.raises(RegistryError) as exc:
        services.register(w.clerk, 424242)
    assert (exc.value.code, exc.value.status, exc.value.message) == (
        ResidentsErrorCode.REQUEST_NOT_FOUND, 404, "仮登録 424242 は見つかりません")


# ------------------------------------------------------------------ levels are data


def test_changing_a_rule_level_is_data(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same late 転入 is an alert with rules.yaml as shipped, an error once the level says so."""
    w = world
    message = "届出日が異動日から20日経過しています（14日を超えた届出です。届出期間経過通知の要否を確認してください）"
    with tenant_scope(SHUNAN):
        shipped = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, SINGLE)],
                                   notified_date=dt.date(2020, 4, 21))
        assert [(f["rule"], f["level"]) for f in shipped.findings] == [("late_notification", "alert")]

    specs: dict[str, RuleSpec] = dict(rules.rule_specs())
    specs["late_notification"] = dataclasses.replace(specs["late_notification"], level=Level.ERROR)
    monkeypatch.setattr(rules, "rule_specs", lambda: specs)

    with tenant_scope(SHUNAN):
        req = services.propose(w.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, SINGLE)],
                               notified_date=dt.date(2020, 4, 21))
        expected = [_finding("late_notification", "error", message, req.moves[0]["atena_no"], "notified_date")]
        assert req.findings == expected
        _refused(w.clerk, req, expected)
        # the request proposed under the shipped level is judged by the level in force at 本登録
        _refused(w.clerk, shipped, [_finding("late_notification", "error", message, shipped.moves[0]["atena_no"],
                                             "notified_date")])


RULES_TESTED = {
    "birth_date_in_future",
    "not_resident_on_date", "unknown_resident", "before_existence", "future_date", "birth_in_future",
    "notified_before_effective", "notified_in_future", "late_notification", "duplicate_individual_number",
    "returning_resident", "household_without_head", "head_left_household", "two_heads", "already_removed",
    "not_removed", "item_not_allowed", "invalid_item", "required_item", "foreign_without_status", "stay_expired",
    "cancel_target_missing",
}


def test_every_rule_of_rules_yaml_has_a_test() -> None:
    assert set(rules.rule_specs()) == RULES_TESTED
