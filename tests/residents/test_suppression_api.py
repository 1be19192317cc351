"""The 抑止・支援措置 API: bodies, problem+json in Japanese, the admin's lists (the role matrix is in
tests/platform/test_role_matrix.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django.fixtures import Settings

from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from tests.fixtures import SHUNAN, World
from tests.residents.suppression_fixtures import Family, register_family

pytestmark = pytest.mark.django_db

BASE = f"/api/v1/tenants/{SHUNAN}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def family(world: World) -> Family:
    return register_family(world)


def _client(username: str) -> Client:
    c = Client()
    c.force_login(get_user_model().objects.get(username=username))
    return c


def _post(c: Client, path: str, body: dict[str, Any]) -> Any:
    return c.generic("POST", BASE + path, json.dumps(body), content_type="application/json")


def test_suppression_via_api_problem_and_release(family: Family) -> None:
    f = family
    approver = _client("approver1")
    r = _post(approver, "/suppressions", {"target_kind": "person", "target": f.neighbour, "process": "move",
                                          "level": "error", "reason": "grudge", "start_date": "2026-04-01"})
    assert r.status_code == 400
    body = r.json()
    assert r["Content-Type"] == "application/problem+json"
    assert (body["code"], body["field"]) == ("suppression.invalid_input", "reason")
    assert body["detail"].startswith("抑止事由 'grudge' は support_measure（支援措置）・")
    r = _post(approver, "/suppressions", {"target_kind": "person", "target": f.neighbour, "process": "move",
                                          "level": "error", "reason": "other", "start_date": "2026-04-01"})
    assert r.status_code == 201, r.content
    sid = r.json()["id"]
    assert r.json()["applies_now"] is True
    # the clerk's 転居 is stopped at 本登録 with a problem naming the 抑止
    clerk = _client("clerk1")
    r = _post(clerk, "/changes", {"kind": "move_within", "effective_date": "2026-05-01", "notified_date": "2026-05-01",
                                  "subjects": [{"atena_no": f.neighbour, "changes": {"address": "山口県周南市遠石一丁目2番3号"}}]})
    assert r.status_code == 201
    change = r.json()["id"]
    r = _post(clerk, f"/changes/{change}/register", {"confirm_alerts": True})
    assert r.status_code == 422
    assert "異動抑止（その他）が設定されているため処理できません" in r.json()["detail"]
    r = _post(approver, f"/suppressions/{sid}/temporary-release", {"reason": "本人確認済み", "minutes": 10})
    assert r.status_code == 200 and r.json()["temporarily_released_until"] is not None
    assert r.json()["applies_now"] is False
    r = _post(clerk, f"/changes/{change}/register", {"confirm_alerts": True})
    assert r.status_code == 200 and r.json()["status"] == "registered"
    with tenant_scope(SHUNAN):
        # blocked at 仮登録 and at the refused 本登録 (written after the rollback)
        assert AccessLog.objects.filter(operation="blocked:move", actor="staff:clerk1").count() == 2


def test_measure_via_api_and_the_admin_lists(family: Family) -> None:
    f = family
    approver = _client("approver1")
    r = _post(approver, "/support-measures", {"applicant": f.mother, "received_on": "2025-06-01", "provisional": False,
                                              "accompanying": [{"atena_no": f.child, "relationship": "子"}]})
    assert r.status_code == 201, r.content
    m = r.json()
    assert (m["status"], m["start_date"], m["end_date"]) == ("active", "2025-06-01", "2026-05-31")
    assert [(p["atena_no"], p["role"]) for p in m["persons"]] == [(f.mother, "applicant"), (f.child, "accompanying")]
    r = approver.get(f"{BASE}/support-measures", {"atena_no": f.child})
    assert [x["id"] for x in r.json()] == [m["id"]]
    r = _post(approver, f"/support-measures/{m['id']}/start", {"start_date": "2025-06-01"})
    assert r.status_code == 409 and r.json()["detail"] == f"支援措置 {m['id']} は仮支援措置ではありません"
    # the clerk cannot find the mother; the approver (支援措置責任者) can, with the mark
    clerk = _client("clerk1")
    assert clerk.get(f"{BASE}/residents", {"name": "シュウナン"}).json()["total"] == 2
    assert approver.get(f"{BASE}/residents", {"name": "シュウナン"}).json()["total"] == 4
    assert clerk.get(f"{BASE}/residents/{f.child}/suppression").status_code == 404
    marks = approver.get(f"{BASE}/residents/{f.child}/suppression").json()["notices"]
    assert any(n.startswith("支援措置（") for n in marks)
    admin = _client("admin1")
    r = admin.get(f"{BASE}/suppression-monitor/blocked", {"since": "2020-01-01T00:00:00+09:00"})
    assert r.status_code == 200
    assert [(e["process"], e["actor"], e["subjects"]) for e in r.json()] == [
        ("inquiry", "staff:clerk1", [f.child]), ("search", "staff:clerk1", sorted([f.mother, f.child]))]
    r = admin.get(f"{BASE}/suppression-monitor/due", {"on": "2026-05-15"})
    assert [(d["kind"], d["id"], d["phase"]) for d in r.json()] == [("support_measure", m["id"], "expiring")]
    r = admin.get(f"{BASE}/suppression-monitor/due", {"on": str(dt.date(2026, 6, 1))})
    assert r.json()[0]["message"] == "支援措置の期間（令和8年5月31日まで）が終了しています。延長又は終了の処理をしてください"
