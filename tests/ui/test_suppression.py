"""支援措置 on the counter screens: a clerk without the right cannot find or open a protected resident."""

from __future__ import annotations

import datetime as dt

import pytest

from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import suppression
from tests.fixtures import SHUNAN, World
from tests.ui.conftest import Family, client_for

pytestmark = pytest.mark.django_db

C = f"/counter/{SHUNAN}"


def protect(world: World, atena_no: str) -> None:
    """A 支援措置 (DV) for one resident, started today by a 審査 approver (who holds the right)."""
    today = dt.date.today()
    with tenant_scope(SHUNAN):
        suppression.register_measure(world.approver, applicant=atena_no, received_on=today, provisional=False,
                                     start_date=today)


def test_a_protected_resident_is_hidden_from_a_clerk_and_shown_to_an_approver(world: World, family: Family) -> None:
    protect(world, family.wife)
    clerk = client_for("clerk1")
    html = clerk.get(f"{C}/", {"name": "シュウナン"}).content.decode()
    assert "2件（1 / 1 ページ）" in html
    assert "周南　太郎" in html and "周南　一郎" in html and "周南　花子" not in html
    with tenant_scope(SHUNAN):
        blocked = list(AccessLog.objects.filter(actor="staff:clerk1", outcome="blocked").values_list("operation", flat=True))
    assert blocked == ["blocked:search"]
    html = client_for("approver1").get(f"{C}/", {"name": "シュウナン"}).content.decode()
    assert "3件（1 / 1 ページ）" in html and "周南　花子" in html


def test_a_clerk_cannot_open_a_protected_record_and_the_attempts_are_logged(world: World, family: Family) -> None:
    protect(world, family.wife)
    clerk = client_for("clerk1")
    r = clerk.get(f"{C}/residents/{family.wife}/")
    html = r.content.decode()
    assert r.status_code == 404  # "not found", as if there were no such record
    assert f"宛名番号 {family.wife} の住民記録はありません" in html
    assert "周南　花子" not in html and "昭和47年2月3日" not in html
    html = clerk.get(f"{C}/residents/{family.head}/").content.decode()  # nor in the household of others
    assert "周南　一郎" in html and "周南　花子" not in html
    with tenant_scope(SHUNAN):
        rows = list(AccessLog.objects.filter(actor="staff:clerk1", outcome="blocked").values_list("operation", flat=True))
    assert rows and all(r.startswith("blocked:") for r in rows), rows


def test_an_approver_sees_the_measure_marked_on_the_hit_and_the_record(world: World, family: Family) -> None:
    protect(world, family.wife)
    approver = client_for("approver1")
    html = approver.get(f"{C}/", {"name": "シュウナン　ハナコ"}).content.decode()
    row = html[html.index("周南　花子"):]
    row = row[:row.index("</tr>")]
    assert '<span class="badge badge--alert">' in row and "支援措置" in row, row
    html = approver.get(f"{C}/residents/{family.wife}/").content.decode()
    assert 'role="note" aria-label="抑止・支援措置"' in html and "支援措置" in html
