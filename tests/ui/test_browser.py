"""End to end in Debian's chromium (Playwright), against a live server, on both backends.

A clerk logs in, searches, registers a 転居, sees it on the timeline, issues a 住民票の写し and the
downloaded PDF verifies; the keyboard alone is enough. Screenshots of the main screens are saved
into docs/screens/ (linked from the README).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import TransactionTestCase
from playwright.sync_api import Browser, Page, expect, sync_playwright

from moyai.certificates.signing import verify_pdf
from moyai.platform.codes.wareki import format_wareki
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import set_parameter
from moyai.residents import suppression
from tests.fixtures import SHUNAN, World
from tests.ui.conftest import ADDR2, PASSWORD, Family, Keys, record_family

CHROMIUM = "/usr/bin/chromium"
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # the live server's thread has its own connection
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)"),
]


@pytest.fixture(scope="module", autouse=True)
def _flush_append_only_tables() -> Iterator[None]:
    """Let the flush that ends a transactional test empty the append-only tables.

    SQLite: the triggers that refuse DELETE are dropped for the flush and put back after it.
    PostgreSQL: the application role may not TRUNCATE, so the flush runs as the owner (the login
    role; TRUNCATE fires no row trigger) and the session returns to the application role after it.
    """
    original = TransactionTestCase._fixture_teardown

    def teardown(self: TransactionTestCase) -> None:
        saved: dict[str, list[tuple[str, str]]] = {}
        for alias in connections:
            conn = connections[alias]
            with conn.cursor() as cur:
                if conn.vendor == "postgresql":
                    cur.execute("SET ROLE NONE")  # the session user: not RESET, which returns to -c role=
                elif conn.vendor == "sqlite":
                    cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%append-only%'")
                    saved[alias] = list(cur.fetchall())
                    for name, _sql in saved[alias]:
                        cur.execute(f'DROP TRIGGER "{name}"')
        try:
            original(self)
        finally:
            for alias in connections:
                conn = connections[alias]
                with conn.cursor() as cur:
                    if conn.vendor == "postgresql":
                        cur.execute(f'SET ROLE "{settings.PG_APP_ROLE}"')
                    for _name, sql in saved.get(alias, []):
                        cur.execute(sql)

    TransactionTestCase._fixture_teardown = teardown  # type: ignore[method-assign]
    yield
    TransactionTestCase._fixture_teardown = original  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are not async.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            yield b
            b.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


@pytest.fixture
def seeded(world: World) -> Family:
    with tenant_scope(SHUNAN):
        set_parameter("issuer_name", "周南　太郎", dt.date(2020, 1, 1), "admin1")
        fam = record_family(world.clerk)
    for username in ("clerk1", "kclerk1"):
        user = get_user_model().objects.get(username=username)
        user.set_password(PASSWORD)
        user.save()
    return fam


def shot(page: Page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(base + "/")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()


def test_clerk_moves_a_household_and_issues_a_verifiable_certificate(
    live_server: object, page: Page, seeded: Family, keys: Keys, tmp_path: Path
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    shot(page, "login")
    log_in(page, base, "clerk1")
    expect(page.get_by_role("heading", name="住民検索")).to_be_visible()

    # search (htmx swaps the results into the live region)
    page.get_by_label("氏名・フリガナ").fill("しゅうなん")
    page.get_by_role("button", name="検索").click()
    results = page.locator("#results")
    expect(results.get_by_text("3件（1 / 1 ページ）")).to_be_visible()
    expect(results).to_have_attribute("aria-live", "polite")
    shot(page, "search")
    results.get_by_role("link", name="周南　太郎").click()
    expect(page.get_by_role("heading", name="住民記録 周南　太郎")).to_be_visible()

    # 転居: a missing address is reported at the field, in Japanese
    page.get_by_role("link", name="転居届").click()
    today = format_wareki(dt.date.today())
    page.get_by_label("異動日").fill(today)
    page.get_by_label("届出日").fill(today)
    for name in ("周南　花子（妻）", "周南　一郎（子）"):
        page.get_by_label(name).check()
    page.get_by_role("button", name="仮登録").click()
    address = page.get_by_label("新しい住所")
    expect(address).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_address_error")).to_have_text("新しい住所を入力してください")
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()  # keyboard and screen-reader users land on the list of problems
    expect(summary.get_by_role("link", name="新しい住所: 新しい住所を入力してください")).to_have_attribute("href", "#id_address")
    shot(page, "move-within-validation")
    address.fill("山口県周南市徳山5番地")
    page.get_by_label("郵便番号").fill("745-0000")
    page.get_by_role("button", name="仮登録").click()
    expect(page.get_by_role("heading", name="転居の確認")).to_be_visible()
    page.get_by_role("button", name="本登録").click()

    # the timeline shows the new 転居 on top, in force today
    expect(page.get_by_role("status")).to_contain_text("転居を本登録しました")
    first = page.locator(".timeline__entry").first
    expect(first).to_contain_text("転居")
    expect(first).to_contain_text(f"住所: {ADDR2} → 山口県周南市徳山5番地")
    expect(first).to_have_attribute("aria-current", "true")
    shot(page, "resident-timeline")

    # 住民票の写し: preview (htmx), then issue and verify the downloaded PDF
    page.get_by_role("link", name="証明書の交付").click()
    page.get_by_role("button", name="プレビュー").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("住民票の写し（世帯連記式）")
    expect(preview).to_contain_text("山口県周南市徳山5番地")
    shot(page, "certificate-preview")
    with page.expect_download() as info:
        page.get_by_role("button", name="交付（PDFをダウンロード）").click()
    pdf = tmp_path / "certificate.pdf"
    info.value.save_as(pdf)
    with ThreadPoolExecutor(1) as pool:  # pyHanko runs its own event loop: not in Playwright's thread
        result = pool.submit(verify_pdf, pdf, [keys.ca]).result()
    assert result.genuine, result.problems
    assert result.tenant == SHUNAN and result.content is not None
    assert "山口県周南市徳山5番地" in str(result.content)


def test_keyboard_alone_logs_in_and_searches(live_server: object, page: Page, seeded: Family) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    page.goto(base + "/login/")
    expect(page.get_by_label("ユーザー名")).to_be_focused()  # autofocus on the only task of the page
    page.keyboard.type("clerk1")
    page.keyboard.press("Tab")
    expect(page.get_by_label("パスワード")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="住民検索")).to_be_visible()
    # the first Tab reaches the skip link, which is then visible with a visible focus ring
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="本文へ移動")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineWidth") == "4px"
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("氏名・フリガナ")).to_be_focused()
    page.keyboard.type("シュウナン　ハナコ")
    page.keyboard.press("Enter")
    link = page.locator("#results").get_by_role("link", name="周南　花子")
    expect(link).to_be_visible()
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="住民記録 周南　花子")).to_be_visible()


def test_a_clerk_of_another_tenant_cannot_open_this_tenants_screens(
    live_server: object, page: Page, seeded: Family
) -> None:
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base, "kclerk1")
    expect(page.get_by_role("heading", name="住民検索")).to_be_visible()
    page.goto(f"{base}/counter/{SHUNAN}/residents/{seeded.head}/")
    expect(page.get_by_role("heading", name="この操作は行えません")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("団体 352152 の業務を行う権限がありません")
    expect(page.locator("body")).not_to_contain_text("周南　太郎")


def test_a_clerk_without_the_right_cannot_find_a_protected_resident(
    live_server: object, page: Page, seeded: Family, world: World
) -> None:
    today = dt.date.today()
    with tenant_scope(SHUNAN):
        suppression.register_measure(world.approver, applicant=seeded.wife, received_on=today, provisional=False,
                                     start_date=today)
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base, "clerk1")
    page.get_by_label("氏名・フリガナ").fill("シュウナン")
    page.get_by_role("button", name="検索").click()
    results = page.locator("#results")
    expect(results.get_by_text("2件（1 / 1 ページ）")).to_be_visible()
    expect(results).not_to_contain_text("周南　花子")
    page.goto(f"{base}/counter/{SHUNAN}/residents/{seeded.wife}/")
    expect(page.get_by_role("alert")).to_contain_text(f"宛名番号 {seeded.wife} の住民記録はありません")
    expect(page.locator("body")).not_to_contain_text("周南　花子")
