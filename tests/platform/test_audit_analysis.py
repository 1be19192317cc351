"""Access-log analyses for auditors (標準仕様書 10.2-l) and the 認証ログ (10.2-d)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from moyai.platform.audit.analysis import analyse, is_closed_day
from moyai.platform.audit.models import AccessLog, SecurityLog
from moyai.platform.ids import new_id
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import set_parameter
from tests.fixtures import SHUNAN, World

JST = ZoneInfo("Asia/Tokyo")


def test_closed_days() -> None:
    assert is_closed_day(dt.date(2026, 11, 23))  # 勤労感謝の日 (a Monday)
    assert is_closed_day(dt.date(2026, 11, 22))  # Sunday
    assert is_closed_day(dt.date(2026, 12, 29)) and is_closed_day(dt.date(2027, 1, 3))
    assert not is_closed_day(dt.date(2026, 11, 24))


def _log(actor: str, at: dt.datetime, op: str = "resident.view", subjects: int = 1, outcome: str = "ok") -> None:
    AccessLog.objects.create(id=new_id(), at=at, actor=actor, actor_kind="staff", operation=op, request_id="r",
                             subject_count=subjects, outcome=outcome)


@pytest.mark.django_db
def test_night_holiday_mass_search_and_refusals(world: World) -> None:
    with tenant_scope(SHUNAN):
        set_parameter("audit_mass_search_per_hour", 100, dt.date(2020, 1, 1), "admin1")
        _log("staff:clerk1", dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST))  # weekday, office hours
        _log("staff:clerk1", dt.datetime(2026, 11, 24, 23, 30, tzinfo=JST))  # night
        _log("staff:clerk2", dt.datetime(2026, 11, 23, 14, 0, tzinfo=JST))  # holiday
        for minute in (1, 20, 40):  # 3 × 40 residents within one hour
            _log("staff:clerk2", dt.datetime(2026, 11, 24, 11, minute, tzinfo=JST), "resident.search", 40)
        _log("staff:clerk1", dt.datetime(2026, 11, 24, 15, 0, tzinfo=JST), "denied:get_resident", 0, "denied")
        a = analyse(dt.datetime(2026, 11, 20, tzinfo=JST), dt.datetime(2026, 11, 30, tzinfo=JST))
    assert a.off_hours == {"staff:clerk1": 1, "staff:clerk2": 1}
    assert a.mass_searches == [("staff:clerk2", dt.datetime(2026, 11, 24, 11, 0, tzinfo=JST), 120)]
    assert a.denied == {"staff:clerk1": 1}


@pytest.mark.django_db
def test_logins_and_failures_are_logged_and_counted_for_the_tenants_staff_only(world: World) -> None:
    client = Client()
    assert client.post("/login/", {"username": "clerk1", "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": "clerk1", "password": "correct-horse-battery"}).status_code == 302
    # a signed-in session is sent on from the log-in page: 下松市's clerk tries from another browser
    assert Client().post("/login/", {"username": "kclerk1", "password": "wrong"}).status_code == 200
    kinds = list(SecurityLog.objects.order_by("at", "id").values_list("kind", "username"))
    assert kinds == [("login_failed", "clerk1"), ("login", "clerk1"), ("login_failed", "kclerk1")]
    with tenant_scope(SHUNAN):
        a = analyse(dt.datetime(2000, 1, 1, tzinfo=JST), dt.datetime(2100, 1, 1, tzinfo=JST))
    assert a.failed_logins == {"clerk1": 1}
    assert a.logins == {"clerk1": 1}
    assert "password" not in str(SecurityLog.objects.values())


@pytest.mark.django_db
def test_analysis_through_the_api_for_auditors(world: World) -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username="auditor1"))
    r = client.get(f"/api/v1/tenants/{SHUNAN}/audit/analysis",
                   {"start": "2026-01-01T00:00:00+09:00", "end": "2027-01-01T00:00:00+09:00"})
    assert r.status_code == 200
    assert set(r.json()) == {"start", "end", "off_hours", "denied", "failed_logins", "logins", "mass_searches"}
