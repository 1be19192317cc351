"""検索履歴 (標準仕様書 2.1.1): each staff member's last searches, newest first, per 団体."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import selectors
from moyai.residents.selectors import SEARCH_HISTORY_KEPT, SearchQuery
from tests.fixtures import KUDAMATSU, SHUNAN, World


@pytest.mark.django_db
def test_searches_are_remembered_per_staff_member_and_capped(world: World) -> None:
    with tenant_scope(SHUNAN):
        for i in range(SEARCH_HISTORY_KEPT + 3):
            selectors.search(world.clerk, SearchQuery(name=f"ヤマ{i}"))
        selectors.search(world.clerk, SearchQuery(name="ヤマ0", page=2))  # later pages are not new searches
        selectors.search(world.clerk2, SearchQuery(birth="平成2年"))
        mine = selectors.search_history(world.clerk)
        assert len(mine) == SEARCH_HISTORY_KEPT
        assert mine[0]["query"] == {"name": f"ヤマ{SEARCH_HISTORY_KEPT + 2}"}
        assert mine[-1]["query"] == {"name": "ヤマ3"}
        assert [h["query"] for h in selectors.search_history(world.clerk2)] == [{"birth": "平成2年"}]
    with tenant_scope(KUDAMATSU):
        assert selectors.search_history(world.clerk) == []  # kept in the 団体 where it was made


@pytest.mark.django_db
def test_search_history_through_the_api(world: World) -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username="clerk1"))
    assert client.get(f"/api/v1/tenants/{SHUNAN}/residents", {"name": "やまだ", "fuzzy": "false"}).status_code == 200
    r = client.get(f"/api/v1/tenants/{SHUNAN}/search-history")
    assert r.status_code == 200
    assert [h["query"] for h in r.json()] == [{"name": "やまだ", "fuzzy": False}]
