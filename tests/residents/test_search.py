"""住民の検索 through :func:`selectors.search` and through ``GET /api/v1/tenants/{tenant}/residents``.

Every search that returns residents writes one access-log entry whose subjects are exactly the
宛名番号 returned (AccessLogSubject rows); a refused search writes none.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django.fixtures import Settings

from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import selectors, services
from moyai.residents.errors import RegistryError, ResidentsErrorCode
from moyai.residents.models import Resident
from moyai.residents.services import SubjectInput
from tests.fixtures import SHUNAN, World

URL = f"/api/v1/tenants/{SHUNAN}/residents"

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    """The world's staff get their passwords hashed with a cheap hasher (no test logs in by password)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# ------------------------------------------------------------------ residents

PEOPLE: dict[str, dict[str, Any]] = {
    "taro": {"family_name": "山田", "given_name": "太郎", "family_kana": "ヤマダ", "given_kana": "タロウ",
             "birth_date": "平成2年3月4日", "address": "山口県周南市岐山通一丁目1番地"},
    "ichiro": {"family_name": "髙橋", "given_name": "一郎", "family_kana": "タカハシ", "given_kana": "イチロウ",
               "birth_date": "令和元年5月1日", "address": "山口県周南市糀町二丁目5番地"},
    "jiro": {"family_name": "高橋", "given_name": "次郎", "family_kana": "タカハシ", "given_kana": "ジロウ",
             "birth_date": "R6.1.1", "address": "山口県周南市久米3000番地"},
    "hanako": {"family_name": "齋藤", "given_name": "花子", "family_kana": "サイトウ", "given_kana": "ハナコ",
               "birth_date": "1990-12-31", "address": "山口県周南市糀町一丁目1番地"},
    "yuki": {"family_name": "山田", "given_name": "由紀", "family_kana": "ヤマダ", "given_kana": "ユキ",
             "birth_date": "平成3年1月1日", "address": "山口県周南市久米1番地"},
    "shiro": {"family_name": "山本", "given_name": "四郎", "family_kana": "ヤマモト", "given_kana": "シロウ",
              "birth_date": "平成元年12月31日", "address": "山口県周南市遠石一丁目2番3号"},
    "gone": {"family_name": "山田", "given_name": "花子", "family_kana": "ヤマダ", "given_kana": "ハナコ",
             "birth_date": "平成5年5月5日", "address": "山口県周南市岐山通二丁目2番地"},
}


def _register(w: World, people: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Move everyone in on 2024-04-01, each as the 世帯主 of a household of their own."""
    subjects = [SubjectInput(None, {**p, "sex": "1", "relationship": "世帯主", "household_no": f"new:{key}"})
                for key, p in people.items()]
    req = services.record_now(w.clerk, "move_in", dt.date(2024, 4, 1), subjects, notified_date=dt.date(2024, 4, 1))
    assert req.status == "registered", req.findings
    return {key: m["atena_no"] for key, m in zip(people, req.moves, strict=True)}


@pytest.fixture
def town(world: World) -> dict[str, str]:
    """The residents of PEOPLE by key; "gone" has moved out (除票)."""
    with tenant_scope(SHUNAN):
        atena = _register(world, PEOPLE)
        services.record_now(world.clerk, "move_out", dt.date(2025, 3, 31),
                            [SubjectInput(atena["gone"], {"next_address": "東京都千代田区千代田1番1号"})],
                            notified_date=dt.date(2025, 3, 31))
    return atena


# ------------------------------------------------------------------ helpers


def _log_ids() -> set[int]:
    return set(AccessLog.objects.filter(operation="resident.search").values_list("id", flat=True))


def _assert_logged(before: set[int], actor: str, atena_nos: list[str]) -> None:
    new = list(AccessLog.objects.filter(operation="resident.search").exclude(id__in=before))
    assert len(new) == 1
    log = new[0]
    assert (log.actor, log.outcome, log.subject_count) == (actor, "ok", len(atena_nos))
    assert sorted(AccessLogSubject.objects.filter(log_id=log.id).values_list("atena_no", flat=True)) == sorted(atena_nos)


def _search(w: World, **query: Any) -> list[str]:
    """selectors.search; returns the 宛名番号 in result order and checks the access log."""
    with tenant_scope(SHUNAN):
        before = _log_ids()
        result = selectors.search(w.clerk, selectors.SearchQuery(**query))
        found = [r.atena_no for r in result.items]
        assert result.total == len(found)
        _assert_logged(before, "staff:clerk1", found)
    return found


def _client() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username="clerk1"))
    return client


def _api_search(client: Client, **query: Any) -> list[str]:
    with tenant_scope(SHUNAN):
        before = _log_ids()
    response = client.get(URL, query)
    assert response.status_code == 200, response.content.decode()
    found = [item["atena_no"] for item in response.json()["items"]]
    with tenant_scope(SHUNAN):
        _assert_logged(before, "staff:clerk1", found)
    return found


# ------------------------------------------------------------------ what finds whom

CASES: list[tuple[dict[str, Any], list[str]]] = [
    # 氏名・カナ: width, kana type, spaces
    ({"name": "ﾔﾏﾀﾞ"}, ["taro", "yuki"]),
    ({"name": "やまだ"}, ["taro", "yuki"]),
    ({"name": "ヤマダ　タロウ"}, ["taro"]),
    ({"name": "ﾔﾏﾀﾞ ﾀﾛｳ"}, ["taro"]),
    ({"name": "山田　太郎"}, ["taro"]),
    ({"name": "山田 太郎"}, ["taro"]),
    ({"name": "山田太郎"}, ["taro"]),
    ({"name": "山田"}, ["taro", "yuki"]),
    ({"name": "山田", "include_removed": True}, ["taro", "gone", "yuki"]),
    # old / new kanji
    ({"name": "高橋"}, ["ichiro", "jiro"]),
    ({"name": "髙橋"}, ["ichiro", "jiro"]),
    ({"name": "髙橋　一郎"}, ["ichiro"]),
    ({"name": "高橋一郎"}, ["ichiro"]),
    ({"name": "斎藤"}, ["hanako"]),
    ({"name": "齋藤"}, ["hanako"]),
    ({"name": "斉藤 花子"}, ["hanako"]),
    # あいまい (default) and exact readings
    ({"name": "たかはじ"}, ["ichiro", "jiro"]),
    ({"name": "たかはじ", "fuzzy": False}, []),
    # given name only
    ({"given": "太郎"}, ["taro"]),
    ({"given": "ﾊﾅｺ"}, ["hanako"]),
    ({"given": "はなこ", "include_removed": True}, ["hanako", "gone"]),
    # 生年月日 in 西暦 and 和暦
    ({"birth": "平成2年3月4日"}, ["taro"]),
    ({"birth": "H2.3.4"}, ["taro"]),
    ({"birth": "ｈ２．３．４"}, ["taro"]),
    ({"birth": "1990-03-04"}, ["taro"]),
    ({"birth": "平成2年"}, ["hanako", "taro"]),
    ({"birth": "1990"}, ["hanako", "taro"]),
    ({"birth": "平成元年"}, ["shiro"]),
    ({"birth": "R6/1/1"}, ["jiro"]),
    ({"birth": "令和元年5月1日"}, ["ichiro"]),
    ({"name": "山田", "birth": "平成3年"}, ["yuki"]),
    # 住所 from the town part or in full
    ({"address": "岐山通"}, ["taro"]),
    ({"address": "岐山通1丁目"}, ["taro"]),
    ({"address": "岐山通", "include_removed": True}, ["taro", "gone"]),
    ({"address": "糀町"}, ["hanako", "ichiro"]),
    ({"address": "山口県周南市糀町二丁目"}, ["ichiro"]),
    # nobody
    ({"name": "鈴木"}, []),
    ({"name": "山田", "birth": "令和6年"}, []),
]


def _case_id(case: tuple[dict[str, Any], list[str]]) -> str:
    return ",".join(f"{k}={v}" for k, v in case[0].items())


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[_case_id(c) for c in CASES])
def test_search(world: World, town: dict[str, str], query: dict[str, Any], expected: list[str]) -> None:
    assert _search(world, **query) == [town[k] for k in expected]


def test_search_through_the_api(world: World, town: dict[str, str]) -> None:
    client = _client()
    for query, expected in CASES:
        assert _api_search(client, **query) == [town[k] for k in expected], query


def test_search_by_numbers(world: World, town: dict[str, str]) -> None:
    with tenant_scope(SHUNAN):
        code = Resident.objects.get(atena_no=town["jiro"]).resident_code
    assert len(code) == 11
    full_width = town["jiro"].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert _search(world, atena_no=town["jiro"]) == [town["jiro"]]
    assert _search(world, atena_no=full_width) == [town["jiro"]]
    assert _search(world, resident_code=code) == [town["jiro"]]
    assert _search(world, atena_no=town["gone"]) == []
    assert _search(world, atena_no=town["gone"], include_removed=True) == [town["gone"]]


def test_search_by_numbers_through_the_api(world: World, town: dict[str, str]) -> None:
    with tenant_scope(SHUNAN):
        code = Resident.objects.get(atena_no=town["jiro"]).resident_code
    client = _client()
    assert _api_search(client, atena_no=town["jiro"]) == [town["jiro"]]
    assert _api_search(client, resident_code=code) == [town["jiro"]]
    assert _api_search(client, atena_no=town["gone"]) == []
    assert _api_search(client, atena_no=town["gone"], include_removed="true") == [town["gone"]]


def test_past_names_still_find_the_person(world: World, town: dict[str, str]) -> None:
    w = world
    taro = town["taro"]
    with tenant_scope(SHUNAN):
        req = services.record_now(w.clerk, "ex_officio_correction", dt.date(2024, 4, 1),
                                  [SubjectInput(taro, {"family_name": "山本", "family_kana": "ヤマモト"})])
        assert req.status == "awaiting_approval"
        services.approve(w.approver, req.id)
        assert Resident.objects.get(atena_no=taro).display_name == "山本　太郎"
    assert _search(w, name="山田") == [town["yuki"], taro]  # ordered by the current カナ: ヤマダ　ユキ < ヤマモト　タロウ
    assert _search(w, name="山田　太郎") == [taro]
    assert _search(w, name="ヤマダ　タロウ") == [taro]
    assert _search(w, name="山本") == [town["shiro"], taro]  # ヤマモト　シロウ < ヤマモト　タロウ
    assert _search(w, name="山本太郎") == [taro]


# ------------------------------------------------------------------ refused searches


def test_empty_query_is_refused_and_not_logged(world: World) -> None:
    for query in ({}, {"name": "  "}, {"name": "\u3000", "include_removed": True}):
        with tenant_scope(SHUNAN):
            before = _log_ids()
            with pytest.raises(RegistryError) as exc:
                selectors.search(world.clerk, selectors.SearchQuery(**query))
            assert (exc.value.code, exc.value.status, exc.value.field) == (ResidentsErrorCode.INVALID_INPUT, 400, "name")
            assert exc.value.message == "検索条件を1つ以上入力してください"
            assert _log_ids() == before


@pytest.mark.parametrize(("birth", "message"), [
    ("平成32年1月1日", "平成32年は存在しません（平成は31年4月30日まで）"),
    ("平成31年5月1日", "平成31年5月1日は存在しません（平成は31年4月30日まで）"),
])
def test_invalid_era_date_is_refused(world: World, birth: str, message: str) -> None:
    with tenant_scope(SHUNAN):
        before = _log_ids()
        with pytest.raises(RegistryError) as exc:
            selectors.search(world.clerk, selectors.SearchQuery(birth=birth))
        assert (exc.value.code, exc.value.status, exc.value.field, exc.value.message) == (
            ResidentsErrorCode.INVALID_INPUT, 400, "birth", message)
        assert _log_ids() == before


def test_page_size_is_limited(world: World) -> None:
    with tenant_scope(SHUNAN), pytest.raises(RegistryError) as exc:
        selectors.search(world.clerk, selectors.SearchQuery(name="山田", per_page=101))
    assert (exc.value.field, exc.value.message) == ("per_page", "ページ指定が正しくありません（1ページ100件まで）")


def test_api_refuses_an_invalid_era_date_with_a_problem(world: World) -> None:
    response = _client().get(URL, {"birth": "平成32年1月1日"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {k: body[k] for k in ("status", "code", "field", "detail", "instance")} == {
        "status": 400, "code": "residents.invalid_input", "field": "birth",
        "detail": "平成32年は存在しません（平成は31年4月30日まで）", "instance": URL}


def test_api_refuses_an_empty_query_with_a_problem(world: World) -> None:
    response = _client().get(URL)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["field"], body["detail"]) == ("residents.invalid_input", "name", "検索条件を1つ以上入力してください")


# ------------------------------------------------------------------ 不詳日


def test_unknown_parts_of_a_birth_date_are_found_by_the_period(world: World) -> None:
    with tenant_scope(SHUNAN):
        atena = _register(world, {
            "year_only": {**PEOPLE["taro"], "given_name": "一", "birth_date": "平成2年月日不詳"},
            "early_march": {**PEOPLE["taro"], "given_name": "二", "birth_date": "平成2年3月上旬"},
        })
    assert _search(world, birth="平成2年3月") == [atena["early_march"]]
    assert _search(world, birth="平成2年") == [atena["year_only"], atena["early_march"]]


# ------------------------------------------------------------------ pagination


def _many(world: World) -> list[str]:
    person = {"family_name": "吉田", "given_name": "太郎", "family_kana": "ヨシダ", "given_kana": "タロウ",
              "birth_date": "昭和50年1月1日", "address": "山口県周南市岐山通一丁目1番地"}
    with tenant_scope(SHUNAN):
        atena = _register(world, {f"p{i:02d}": person for i in range(25)})
    return sorted(atena.values())


def test_pages_are_stable_and_cover_everyone_once(world: World) -> None:
    everyone = _many(world)
    pages: list[list[str]] = []
    for page in (1, 2, 3, 4):
        with tenant_scope(SHUNAN):
            before = _log_ids()
            result = selectors.search(world.clerk, selectors.SearchQuery(name="ヨシダ", page=page, per_page=10))
            found = [r.atena_no for r in result.items]
            _assert_logged(before, "staff:clerk1", found)
        assert (result.total, result.page, result.per_page) == (25, page, 10)
        pages.append(found)
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    combined = [a for p in pages for a in p]
    assert len(set(combined)) == 25
    assert combined == everyone  # same kana: ordered by 宛名番号
    # asking again gives the same pages
    with tenant_scope(SHUNAN):
        again = selectors.search(world.clerk, selectors.SearchQuery(name="よしだ　たろう", page=2, per_page=10))
    assert [r.atena_no for r in again.items] == pages[1]


def test_order_is_kana_then_atena_no(world: World, town: dict[str, str]) -> None:
    # 宛名番号 follow the order of registration; the result follows the カナ
    assert _search(world, name="ﾔﾏ", include_removed=True) == [town["taro"], town["gone"], town["yuki"], town["shiro"]]
    assert _search(world, address="山口県周南市") == [
        town["hanako"], town["ichiro"], town["jiro"], town["taro"], town["yuki"], town["shiro"]]


def test_pages_through_the_api(world: World) -> None:
    everyone = _many(world)
    client = _client()
    combined: list[str] = []
    for page in (1, 2, 3):
        with tenant_scope(SHUNAN):
            before = _log_ids()
        response = client.get(URL, {"name": "ﾖｼﾀﾞ", "page": page, "per_page": 10})
        assert response.status_code == 200
        body = response.json()
        assert (body["total"], body["page"], body["per_page"]) == (25, page, 10)
        found = [item["atena_no"] for item in body["items"]]
        with tenant_scope(SHUNAN):
            _assert_logged(before, "staff:clerk1", found)
        combined += found
    assert combined == everyone
