"""Counter screens through Django's test client: flows, refusals, isolation, CSRF, Japanese messages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from moyai.certificates import services as certs
from moyai.certificates.signing import verify_pdf
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents.models import ChangeRequest, Event
from tests.fixtures import KUDAMATSU, SHUNAN, World
from tests.ui.conftest import ADDR1, ADDR2, PASSWORD, Family, Keys, client_for

pytestmark = pytest.mark.django_db

C = f"/counter/{SHUNAN}"


def _csrf(client: Client, path: str) -> str:
    html = client.get(path).content.decode()
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


# ------------------------------------------------------------------ log-in and frame


def test_root_leads_to_login_and_login_page_is_japanese_and_accessible(world: World) -> None:
    client = Client()
    r = client.get("/")
    assert r.status_code == 302 and r["Location"] == "/login/"
    r = client.get("/login/")
    html = r.content.decode()
    assert r.status_code == 200 and '<html lang="ja">' in html
    assert '<a class="skip-link" href="#main">本文へ移動</a>' in html
    assert '<label for="id_username">ユーザー名' in html and '<label for="id_password">パスワード' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert re.search(r"app;dur=\d+(\.\d+)?", r["Server-Timing"])
    # no asset from another origin: styles and htmx are served by us
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_login_with_password_goes_to_the_only_tenant(world: World, fast_passwords: None) -> None:
    world.clerk  # noqa: B018
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="clerk1")
    user.set_password(PASSWORD)
    user.save()
    client = Client()
    r = client.post("/login/", {"username": "clerk1", "password": "wrong-password!"})
    assert r.status_code == 200 and "ユーザー名またはパスワードが正しくありません" in r.content.decode()
    r = client.post("/login/", {"username": "clerk1", "password": PASSWORD, "next": "/counter/"})
    assert r.status_code == 302 and r["Location"] == "/counter/"
    r = client.get("/counter/")
    assert r.status_code == 302 and r["Location"] == f"{C}/"


def test_tenant_switch_lists_every_tenant_of_a_member_of_two(world: World) -> None:
    from tests.factories import MembershipFactory

    MembershipFactory(user=world_user("clerk1"), tenant=world.kudamatsu, role="clerk")
    client = client_for("clerk1")
    r = client.get("/counter/")
    html = r.content.decode()
    assert r.status_code == 200
    assert f'href="/counter/{SHUNAN}/">周南市（{SHUNAN}）' in html and f'href="/counter/{KUDAMATSU}/">下松市（{KUDAMATSU}）' in html
    html = client.get(f"/counter/{KUDAMATSU}/").content.decode()
    assert "下松市（352071）" in html and "団体の切替" in html


def world_user(username: str) -> object:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def test_anonymous_is_sent_to_login(world: World) -> None:
    r = Client().get(f"{C}/")
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=")


# ------------------------------------------------------------------ search and detail


def test_search_by_kana_and_birth_date_lists_the_household(family: Family) -> None:
    client = client_for("clerk1")
    r = client.get(f"{C}/", {"name": "しゅうなん"})
    html = r.content.decode()
    assert r.status_code == 200
    assert "3件（1 / 1 ページ）" in html
    assert html.index("周南　一郎") < html.index("周南　太郎") < html.index("周南　花子")  # フリガナ order
    assert f'href="{C}/residents/{family.head}/"' in html
    assert 'aria-live="polite"' in html and 'role="search"' in html
    r = client.get(f"{C}/", {"birth": "昭和45年"}, headers={"HX-Request": "true", "HX-Target": "results"})
    html = r.content.decode()
    assert "<h1>" not in html  # the partial only
    assert "1件" in html and "周南　太郎" in html and "周南　花子" not in html


def test_search_messages_are_japanese_and_at_the_field(family: Family) -> None:
    client = client_for("clerk1")
    html = client.get(f"{C}/", {"name": ""}).content.decode()
    assert "検索条件を1つ以上入力してください" in html
    html = client.get(f"{C}/", {"birth": "平成99年13月"}).content.decode()
    m = re.search(r'<ul class="field-errors" id="id_birth_error"><li>([^<]+)</li>', html)
    assert m and "月" in m.group(1), html
    assert 'aria-describedby="id_birth_help id_birth_error"' in html and 'aria-invalid="true"' in html


def test_detail_shows_household_and_timeline_as_of_a_date(family: Family) -> None:
    client = client_for("clerk1")
    r = client.get(f"{C}/residents/{family.child}/")
    html = r.content.decode()
    assert r.status_code == 200
    assert ADDR2 in html and "周南　太郎" in html and "周南　花子" in html
    assert html.count('class="timeline__entry') == 2 and "転居" in html and "転入" in html
    assert f"住所: {ADDR1} → {ADDR2}" in html
    r = client.get(f"{C}/residents/{family.child}/", {"as_of": "2015-01-01"})
    html = r.content.decode()
    assert "（平成27年1月1日現在）" in html
    record = html[html.index('id="record-heading"'):html.index('id="household-heading"')]
    assert ADDR1 in record and ADDR2 not in record
    # the 転入 row is the one in force on that date
    current = re.search(r'<li class="timeline__entry is-current"[^>]*>\s*<p class="timeline__head"><span class="timeline__kind">([^<]+)',
                        html)
    assert current and current.group(1) == "転入"
    with tenant_scope(SHUNAN):
        ops = list(AccessLog.objects.filter(actor="staff:clerk1").values_list("operation", flat=True))
    assert "resident.view" in ops and "resident.history" in ops


def test_detail_before_the_record_existed_says_so(family: Family) -> None:
    html = client_for("clerk1").get(f"{C}/residents/{family.head}/", {"as_of": "2001-01-01"}).content.decode()
    assert "（指定日時点）" in html and "異動履歴" in html


# ------------------------------------------------------------------ 異動


def test_move_within_with_a_missing_field_then_registered_and_on_the_timeline(family: Family) -> None:
    client = client_for("clerk1")
    url = f"{C}/residents/{family.head}/move-within/"
    html = client.get(url).content.decode()
    assert f'value="{family.head}"' in html and "checked" in html
    r = client.post(url, {"effective_date": "令和8年4月1日", "subjects": [family.head, family.wife, family.child],
                          "address": ""})
    html = r.content.decode()
    assert r.status_code == 200
    assert '<ul class="field-errors" id="id_address_error"><li>新しい住所を入力してください</li></ul>' in html
    assert 'aria-invalid="true"' in html and 'role="alert"' in html
    with tenant_scope(SHUNAN):
        assert not ChangeRequest.objects.filter(kind="move_within", status="draft").exists()
    today = dt.date.today()
    r = client.post(url, {"effective_date": today.isoformat(), "notified_date": today.isoformat(),
                          "subjects": [family.head, family.wife, family.child],
                          "address": "山口県周南市徳山5番地", "postal_code": "745-0000"})
    assert r.status_code == 302, r.content.decode()[:3000]
    change_url = r["Location"]
    html = client.get(change_url).content.decode()
    assert "転居の確認" in html and "エラー・アラートはありません" in html and "山口県周南市徳山5番地" in html
    r = client.post(change_url, {"action": "register"})
    assert r.status_code == 302 and r["Location"] == f"{C}/residents/{family.head}/"
    html = client.get(r["Location"]).content.decode()
    assert "転居を本登録しました" in html
    assert f"住所: {ADDR2} → 山口県周南市徳山5番地" in html
    with tenant_scope(SHUNAN):
        assert Event.objects.filter(kind="move_within", atena_no=family.wife).count() == 2


def test_an_alert_needs_explicit_confirmation(family: Family) -> None:
    client = client_for("clerk1")
    url = f"{C}/residents/{family.head}/move-within/"
    eff = dt.date.today() - dt.timedelta(days=40)
    r = client.post(url, {"effective_date": eff.isoformat(), "notified_date": dt.date.today().isoformat(),
                          "subjects": [family.head, family.wife, family.child], "address": "山口県周南市徳山7番地"})
    assert r.status_code == 302
    change_url = r["Location"]
    html = client.get(change_url).content.decode()
    assert '<span class="badge badge--alert">アラート</span> 届出日が異動日から40日経過しています' in html
    assert 'id="id_confirm_alerts"' in html
    html = client.post(change_url, {"action": "register"}).content.decode()
    assert "アラートの内容を確認し、チェックしてから本登録してください" in html
    with tenant_scope(SHUNAN):
        assert not Event.objects.filter(kind="move_within", effective_date=eff).exists()
    r = client.post(change_url, {"action": "register", "confirm_alerts": "on"})
    assert r.status_code == 302
    with tenant_scope(SHUNAN):
        assert Event.objects.filter(kind="move_within", effective_date=eff).count() == 3


def test_a_rule_error_is_shown_next_to_its_field_and_nothing_stays_proposed(family: Family) -> None:
    client = client_for("clerk1")
    future = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    r = client.post(f"{C}/move-in/", {
        "effective_date": dt.date.today().isoformat(), "family_name": "山田", "given_name": "次郎",
        "family_kana": "ヤマダ", "given_kana": "ジロウ", "birth_date": future, "sex": "1", "relationship": "世帯主",
        "address": ADDR1, "previous_address": "東京都千代田区永田町1番"})
    html = r.content.decode()
    assert r.status_code == 200
    m = re.search(r'<ul class="field-errors" id="id_birth_date_error"><li>エラー: ([^<]+)</li>', html)
    assert m and "未来" in m.group(1), html
    assert '<a href="#id_birth_date">' in html  # the summary links to the field
    with tenant_scope(SHUNAN):
        assert list(ChangeRequest.objects.filter(kind="move_in", effective_date=dt.date.today())
                    .values_list("status", flat=True)) == ["withdrawn"]


def test_move_in_birth_death_and_household_change(family: Family) -> None:
    client = client_for("clerk1")
    today = dt.date.today().isoformat()
    r = client.post(f"{C}/move-in/", {
        "effective_date": today, "notified_date": today, "family_name": "山田", "given_name": "次郎",
        "family_kana": "ヤマダ", "given_kana": "ジロウ", "birth_date": "平成2年3月4日", "sex": "1",
        "relationship": "世帯主", "address": ADDR1, "previous_address": "東京都千代田区永田町1番"})
    assert r.status_code == 302, r.content.decode()[:2000]
    r = client.post(r["Location"], {"action": "register"})
    assert r.status_code == 302
    new_atena = r["Location"].rstrip("/").split("/")[-1]
    assert "山田　次郎" in client.get(r["Location"]).content.decode()

    r = client.post(f"{C}/residents/{family.head}/birth/", {
        "effective_date": today, "notified_date": today, "family_name": "周南", "given_name": "二郎",
        "family_kana": "シュウナン", "given_kana": "ジロウ", "sex": "1", "relationship": "子"})
    assert r.status_code == 302, r.content.decode()[:2000]
    r = client.post(r["Location"], {"action": "register"})
    html = client.get(f"{C}/residents/{family.head}/").content.decode()
    assert "周南　二郎" in html  # in the household

    r = client.post(f"{C}/residents/{new_atena}/death/", {"effective_date": today, "notified_date": today})
    assert r.status_code == 302, r.content.decode()[:2000]
    r = client.post(r["Location"], {"action": "register"})
    assert r.status_code == 302
    assert "消除（除票）" in client.get(f"{C}/residents/{new_atena}/").content.decode()

    # 世帯主変更 without a head is refused next to the 続柄 fields; with one it is registered
    url = f"{C}/residents/{family.head}/household/"
    html = client.get(url).content.decode()
    assert f'id="id_rel_{family.wife}"' in html
    r = client.post(url, {"kind": "head_change", "effective_date": today, "subjects": [family.head],
                          f"rel_{family.head}": "夫"})
    html = r.content.decode()
    assert r.status_code == 200 and "世帯主がいなくなります" in html
    r = client.post(url, {"kind": "head_change", "effective_date": today, "subjects": [family.head, family.wife],
                          f"rel_{family.head}": "夫", f"rel_{family.wife}": "世帯主"})
    assert r.status_code == 302, r.content.decode()[:3000]
    client.post(r["Location"], {"action": "register"})
    html = client.get(f"{C}/residents/{family.wife}/").content.decode()
    assert "世帯主変更" in html


def test_move_out_planned_may_be_dated_in_the_future(family: Family) -> None:
    client = client_for("clerk1")
    later = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    r = client.post(f"{C}/residents/{family.child}/move-out/", {
        "effective_date": later, "subjects": [family.child], "planned": "on", "next_address": "東京都港区芝公園4丁目2番"})
    assert r.status_code == 302, r.content.decode()[:3000]
    html = client.get(r["Location"]).content.decode()
    assert "転出（予定）の確認" in html


# ------------------------------------------------------------------ certificates


def test_certificate_preview_and_issue_a_verifiable_pdf(family: Family, keys: Keys) -> None:
    client = client_for("clerk1")
    url = f"{C}/residents/{family.child}/certificate/"
    html = client.get(url).content.decode()
    assert "証明書の交付" in html and 'value="resident_copy"' in html
    form = {"kind": "resident_copy", "form": "household", "members": [family.head, family.wife, family.child],
            "requester": "self", "purpose": ""}
    r = client.post(url, {**form, "action": "preview"}, headers={"HX-Request": "true", "HX-Target": "preview"})
    html = r.content.decode()
    assert r.status_code == 200 and "<h1>" not in html
    assert "住民票の写し（世帯連記式）" in html and "周南　太郎" in html and "記載を省略した事項" in html
    html = client.post(url, {**form, "items": ["head_relationship"], "action": "preview"}).content.decode()
    m = re.search(r'<ul class="field-errors" id="id_purpose_error"><li>([^<]+)</li>', html)
    assert m and m.group(1) == "世帯主・続柄の記載には請求の目的（利用目的）が必要です", html
    r = client.post(url, {**form, "action": "sample"})  # the 見本: unsigned, not a certificate
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r["Content-Disposition"].startswith("inline;")
    assert not verify_pdf(r.content, [keys.ca]).genuine
    r = client.post(url, {**form, "action": "issue", "requested_by": family.child, "requester_name": "周南　一郎"})
    assert r.status_code == 200, r.content[:2000]
    assert r["Content-Type"] == "application/pdf" and r["Content-Disposition"].startswith("attachment;")
    result = verify_pdf(r.content, [keys.ca])
    assert result.genuine, result.problems
    assert result.tenant == SHUNAN
    assert r["Content-Disposition"] == f'attachment; filename="{result.serial}.pdf"'
    with tenant_scope(SHUNAN):
        issued = certs.records()
    assert [row["serial"] for row in issued] == [result.serial]


def test_item_certificate_certifies_only_the_items_asked_for(family: Family, keys: Keys) -> None:
    client = client_for("clerk1")
    url = f"{C}/residents/{family.child}/certificate/"
    form = {"kind": "item_certificate", "form": "individual", "requester": "self", "requested_by": family.child,
            "basic_items": ["address"], "action": "preview"}
    html = client.post(url, form).content.decode()
    preview = html[html.index('id="preview"'):]
    assert "住民票記載事項証明書" in preview and ADDR2 in preview and "平成12年1月1日" not in preview
    html = client.post(url, {**form, "basic_items": []}).content.decode()
    assert "証明する事項を1つ以上選んでください" in html


def test_staff_without_the_issuing_right_cannot_open_the_certificate_screen(family: Family) -> None:
    r = client_for("approver1").get(f"{C}/residents/{family.child}/certificate/")
    assert r.status_code == 403 and "証明書の交付（窓口）" in r.content.decode()


# ------------------------------------------------------------------ refusals, isolation, CSRF


@pytest.mark.parametrize(("username", "path", "status"), [
    ("auditor1", "/", 403),  # 監査 has no resident.search
    ("admin1", "/", 403),
    ("approver1", "/move-in/", 403),  # 審査 may search but not enter 異動
])
def test_roles_without_the_permission_are_refused_and_logged(world: World, username: str, path: str, status: int) -> None:
    r = client_for(username).get(f"{C}{path}")
    html = r.content.decode()
    assert r.status_code == status
    assert "権限がありません" in html
    with tenant_scope(SHUNAN):
        rows = list(AccessLog.objects.filter(actor=f"staff:{username}", outcome="denied").values_list("operation", flat=True))
    assert len(rows) == 1 and rows[0].startswith("denied:")


def test_a_clerk_of_another_tenant_sees_nothing_of_this_one(family: Family) -> None:
    client = client_for("kclerk1")  # 下松市
    r = client.get(f"{C}/residents/{family.head}/")
    assert r.status_code == 403 and "団体 352152 の業務を行う権限がありません" in r.content.decode()
    assert "周南　太郎" not in r.content.decode()
    r = client.get(f"/counter/{KUDAMATSU}/", {"name": "シュウナン"})
    assert r.status_code == 200 and "該当する住民はいません" in r.content.decode()
    r = client.get(f"/counter/{KUDAMATSU}/residents/{family.head}/")
    assert r.status_code == 404 and "周南　太郎" not in r.content.decode()
    with tenant_scope(SHUNAN):
        assert AccessLog.objects.filter(actor="staff:kclerk1", outcome="denied").count() == 1


def test_unknown_tenant_is_not_found(world: World) -> None:
    r = client_for("clerk1").get("/counter/999999/")
    assert r.status_code == 404 and "団体コード 999999 の団体は登録されていません" in r.content.decode()


def test_posts_need_the_csrf_token(family: Family) -> None:
    client = client_for("clerk1", enforce_csrf_checks=True)
    url = f"{C}/residents/{family.head}/move-within/"
    body = {"effective_date": dt.date.today().isoformat(), "subjects": [family.head, family.wife, family.child],
            "address": "山口県周南市徳山9番地"}
    r = client.post(url, body)
    assert r.status_code == 403
    with tenant_scope(SHUNAN):
        assert not ChangeRequest.objects.filter(kind="move_within", status="draft").exists()
    r = client.post(url, {**body, "csrfmiddlewaretoken": _csrf(client, url)})
    assert r.status_code == 302


def test_every_form_control_has_a_label(family: Family) -> None:
    client = client_for("clerk1")
    pages = [f"{C}/", f"{C}/move-in/", f"{C}/residents/{family.head}/move-within/",
             f"{C}/residents/{family.head}/move-out/", f"{C}/residents/{family.head}/death/",
             f"{C}/residents/{family.head}/birth/", f"{C}/residents/{family.head}/household/",
             f"{C}/residents/{family.head}/certificate/", f"{C}/residents/{family.head}/"]
    for path in pages:
        html = client.get(path).content.decode()
        assert 'href="#main">本文へ移動' in html and '<main id="main" tabindex="-1"' in html, path
        for m in re.finditer(r"<(input|select|textarea)\b([^>]*)>", html):
            attrs = m.group(2)
            if 'type="hidden"' in attrs:
                continue
            ident = re.search(r'id="([^"]+)"', attrs)
            assert ident, f"{path}: control without id: {m.group(0)}"
            assert f'for="{ident.group(1)}"' in html, f"{path}: no label for {ident.group(1)}"
        assert "tabindex=\"1" not in html and 'tabindex="2' not in html  # no positive tabindex: DOM order is focus order
