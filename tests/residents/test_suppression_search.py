"""支援措置: persons under a measure are hidden from search and views for staff without the right;
counts do not leak; every hidden hit or refused view is logged as a blocked attempt."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import selectors, suppression
from moyai.residents.errors import RegistryError, ResidentsErrorCode
from moyai.residents.suppression import Accompanying, SuppressionError
from tests.factories import SupportMeasureFactory, SupportMeasurePersonFactory, SuppressionFactory
from tests.fixtures import SHUNAN, World
from tests.residents.suppression_fixtures import CLERK, MONITOR, OFFICER, Family, register_family

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(world: World) -> Family:
    return register_family(world)


def _protect(f: Family, *, provisional: bool = False) -> int:
    return suppression.register_measure(
        OFFICER, applicant=f.mother, received_on=dt.date(2026, 4, 1), accompanying=[Accompanying(f.child, "子")],
        provisional=provisional, start_date=None if provisional else dt.date(2026, 4, 1),
        today=dt.date(2026, 4, 1)).id


def _blocked(process: str) -> list[AccessLog]:
    return list(AccessLog.objects.filter(outcome="blocked", operation=f"blocked:{process}").order_by("at", "id"))


def _subjects(log: AccessLog) -> list[str]:
    return sorted(AccessLogSubject.objects.filter(log_id=log.id).values_list("atena_no", flat=True))


def _search(actor: object, name: str = "シュウナン") -> selectors.SearchResult:
    return selectors.search(actor, selectors.SearchQuery(name=name, per_page=100))  # type: ignore[arg-type]


@pytest.mark.parametrize("provisional", [False, True], ids=["支援措置", "仮支援措置"])
def test_hidden_from_search_without_the_right_and_the_count_does_not_leak(family: Family, provisional: bool) -> None:
    f = family
    with tenant_scope(SHUNAN):
        before = _search(CLERK)
        assert before.total == 4
        _protect(f, provisional=provisional)
        hidden = _search(CLERK)
        assert sorted(r.atena_no for r in hidden.items) == sorted([f.father, f.neighbour])
        assert hidden.total == 2  # the count excludes them too
        assert hidden.marks == {}
        [log] = _blocked("search")
        assert (log.actor, log.detail["hidden"]) == ("staff:clerk1", 2)
        assert _subjects(log) == sorted([f.mother, f.child])
        # the ordinary search log names only what was shown
        shown = AccessLog.objects.filter(operation="resident.search").order_by("-at", "-id").first()
        assert shown is not None and _subjects(shown) == sorted([f.father, f.neighbour])
        # by 宛名番号 too
        assert selectors.search(CLERK, selectors.SearchQuery(atena_no=f.mother)).total == 0


def test_visible_with_the_right_and_marked(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
        seen = _search(OFFICER)
        assert seen.total == 4
        assert seen.marks[f.mother] == seen.marks[f.child]
        assert seen.marks[f.mother][0].startswith("支援措置（")
        assert f.father not in seen.marks
        assert _blocked("search") == []


def test_a_search_with_nothing_protected_logs_no_blocked_attempt(family: Family) -> None:
    with tenant_scope(SHUNAN):
        _protect(family)
        assert _search(CLERK, name="ヤマダ").total == 0
        assert _blocked("search") == []


def test_view_refused_as_not_found_and_household_without_them(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
    with pytest.raises(RegistryError) as exc:
        with tenant_scope(SHUNAN):
            selectors.resident_view(CLERK, f.mother)
    assert (exc.value.code, exc.value.status) == (ResidentsErrorCode.NOT_FOUND, 404)
    assert exc.value.message == f"宛名番号 {f.mother} の住民記録はありません"  # same words as a real miss
    with pytest.raises(RegistryError):
        with tenant_scope(SHUNAN):
            selectors.history(CLERK, f.child)
    with tenant_scope(SHUNAN):
        view = selectors.resident_view(CLERK, f.father)
        assert [m.atena_no for m in view.household] == [f.father]
        assert [m.atena_no for m in selectors.household_view(CLERK, f.household)] == [f.father]
        [log1, log2] = _blocked("inquiry")  # the two household lists (the refusals were rolled back)
        assert _subjects(log1) == _subjects(log2) == sorted([f.mother, f.child])
        full = selectors.resident_view(OFFICER, f.mother)
        assert sorted(m.atena_no for m in full.household) == sorted([f.father, f.mother, f.child])
        assert any(n.startswith("支援措置の対象者です（期間 令和8年4月1日〜令和9年3月31日）") for n in full.notices)


def test_refused_view_through_the_api_is_logged_and_listed_for_the_admin(world: World, family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
    client = Client()
    client.force_login(get_user_model().objects.get(username="clerk1"))
    r = client.get(f"/api/v1/tenants/{SHUNAN}/residents/{f.mother}")
    assert r.status_code == 404
    assert r.json()["detail"] == f"宛名番号 {f.mother} の住民記録はありません"
    r = client.get(f"/api/v1/tenants/{SHUNAN}/residents", {"name": "シュウナン"})
    assert r.json()["total"] == 2
    with tenant_scope(SHUNAN):
        start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        entries = selectors.blocked_attempts(MONITOR, since=start, until=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
        assert [(e.process, e.actor, e.subjects) for e in entries] == [
            ("search", "staff:clerk1", sorted([f.mother, f.child])),
            ("inquiry", "staff:clerk1", [f.mother]),
        ]
        assert entries[1].detail == {"refused": "support_measure"}
        # the admin's reading is itself logged
        assert AccessLog.objects.filter(operation="suppression.monitor", actor="staff:admin1").count() == 1


def test_support_measure_flags_for_the_export(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        mid = _protect(f)
        everyone = {f.father, f.mother, f.child, f.neighbour}
        assert selectors.support_measure_flags(everyone, dt.date(2026, 5, 1)) == {f.mother, f.child}
        assert selectors.support_measure_flags(everyone, dt.date(2026, 3, 31)) == set()  # before it started
        suppression.end_measure(OFFICER, mid, ended_on=dt.date(2026, 6, 1), reason="必要性がなくなった")
        assert selectors.support_measure_flags(everyone, dt.date(2026, 5, 1)) == set()


def test_rows_from_the_factories_hide_and_mark(family: Family) -> None:
    """A 支援措置 and a 抑止 written directly (factories): the search hides one and marks the other."""
    f = family
    with tenant_scope(SHUNAN):
        m = SupportMeasureFactory(applicant=f.child)
        SupportMeasurePersonFactory(measure_id=m.id, atena_no=f.child)
        SuppressionFactory(target_kind="household", target=f.neighbour_household, process="move", level="alert")
        SuppressionFactory(target=f.father, process="inquiry", released_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
        result = _search(CLERK)
        assert sorted(r.atena_no for r in result.items) == sorted([f.father, f.mother, f.neighbour])
        assert result.marks == {f.neighbour: ["異動抑止（アラート）"]}  # the released one is not shown
        seen = _search(OFFICER)
        assert [m[:5] for m in seen.marks[f.child]] == ["支援措置（"]  # the phase depends on today's date


def test_a_refusal_caught_inside_the_transaction_is_logged_once(family: Family) -> None:
    """A screen that catches the refusal in its own transaction keeps the row written at the refusal;
    ``record()`` (what the API does after a rollback) does not write it twice."""
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
        with pytest.raises(SuppressionError) as exc:
            selectors.resident_view(CLERK, f.mother)
        assert len(_blocked("inquiry")) == 1
    exc.value.record()
    with tenant_scope(SHUNAN):
        [log] = _blocked("inquiry")
        assert log.id == exc.value.logged_id and _subjects(log) == [f.mother]
