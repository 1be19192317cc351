"""Every counter page answers within 300 ms of server time (the Server-Timing header) on a seeded 団体.

The 団体 holds a synthetic population from the demo generator (a few thousand people with their
whole histories) besides the test household; docs/performance.md has the figures at full demo
scale. Each page is asked once to fill caches, then three times; the best of the three is checked.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services
from moyai.residents.demo.generator import generate
from tests.fixtures import SHUNAN, World
from tests.ui.conftest import client_for, record_family

pytestmark = pytest.mark.django_db

BUDGET_MS = 300.0


def server_ms(header: str) -> float:
    m = re.fullmatch(r'app;dur=(\d+(?:\.\d+)?);desc="server"', header)
    assert m, header
    return float(m.group(1))


def test_server_timing_header_is_well_formed() -> None:
    assert server_ms('app;dur=12.5;desc="server"') == 12.5
    with pytest.raises(AssertionError):
        server_ms("app;dur=abc")


def test_every_page_renders_within_budget_on_a_seeded_tenant(world: World) -> None:
    pop = generate(SHUNAN, scale=0.02, seed=3, today=dt.date(2026, 11, 1))
    with tenant_scope(SHUNAN):
        summary = services.load_histories(pop.events, next_atena_seq=pop.next_atena_seq,
                                          next_household_seq=pop.next_household_seq)
        family = record_family(world.clerk)
    assert summary.residents > 2000
    client = client_for("clerk1")
    c = f"/counter/{SHUNAN}"
    pages = [
        "/login/", "/counter/",
        f"{c}/", f"{c}/?name=ヤ", f"{c}/?birth=昭和50年", f"{c}/?address=周南市&page=2",
        f"{c}/move-in/",
        f"{c}/residents/{family.head}/", f"{c}/residents/{family.head}/?as_of=2015-01-01",
        f"{c}/residents/{family.head}/move-within/", f"{c}/residents/{family.head}/move-out/",
        f"{c}/residents/{family.head}/birth/", f"{c}/residents/{family.head}/death/",
        f"{c}/residents/{family.head}/household/", f"{c}/residents/{family.head}/certificate/",
    ]
    slow = {}
    for path in pages:
        client.get(path)
        times = []
        for _ in range(3):  # the best of three: the machine is shared, a neighbour's burst is not our time
            r = client.get(path)
            assert r.status_code in (200, 302), (path, r.status_code)
            times.append(server_ms(r["Server-Timing"]))
        ms = min(times)
        if ms >= BUDGET_MS:
            slow[path] = ms
    assert slow == {}


def test_pages_make_a_fixed_number_of_queries_whatever_the_number_of_rows(world: World) -> None:
    """No N+1: a page of 20 hits costs what a page of 1 does; a household of 3 what a household of 1 does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    pop = generate(SHUNAN, scale=0.01, seed=5, today=dt.date(2026, 11, 1))
    with tenant_scope(SHUNAN):
        services.load_histories(pop.events, next_atena_seq=pop.next_atena_seq,
                                next_household_seq=pop.next_household_seq)
        family = record_family(world.clerk)
        single = services.record_now(world.clerk, "move_in", dt.date(2012, 1, 4), [services.SubjectInput(None, {
            "family_name": "独", "given_name": "一人", "family_kana": "ヒトリ", "given_kana": "カズト",
            "birth_date": "昭和50年1月1日", "sex": "1", "relationship": "世帯主", "address": "山口県周南市徳山1番地",
            "household_no": "new", "previous_address": "東京都港区芝公園4丁目2番"})], notified_date=dt.date(2012, 1, 5))
    alone = single.moves[0]["atena_no"]
    client = client_for("clerk1")
    c = f"/counter/{SHUNAN}"

    def count(path: str) -> tuple[int, str]:
        client.get(path)
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(path)
        assert r.status_code == 200
        return len(ctx.captured_queries), r.content.decode()

    one, html = count(f"{c}/?atena_no={alone}")
    assert "1件" in html
    many, html = count(f"{c}/?name=ヤ")
    assert html.count(f'href="{c}/residents/') == 20
    assert many == one
    small, _ = count(f"{c}/residents/{alone}/")
    big, html = count(f"{c}/residents/{family.head}/")
    assert "周南　一郎" in html
    assert big == small
