"""issuance_check: who may get a certificate naming a person under a 支援措置 or a 発行 抑止."""

from __future__ import annotations

import datetime as dt

import pytest

from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import selectors, suppression
from moyai.residents.domain.suppression import Outcome
from moyai.residents.suppression import Accompanying
from tests.fixtures import SHUNAN, World
from tests.residents.suppression_fixtures import CLERK, OFFICER, Family, register_family

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(world: World) -> Family:
    return register_family(world)

JST = dt.timezone(dt.timedelta(hours=9))
ON = dt.date(2026, 6, 1)
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=JST)


def _protect(f: Family) -> int:
    """A 支援措置 for the mother, with the child as 併せて支援を求める者 (started 2026-04-01)."""
    m = suppression.register_measure(OFFICER, applicant=f.mother, received_on=dt.date(2026, 4, 1),
                                     accompanying=[Accompanying(f.child, "子")], provisional=False,
                                     start_date=dt.date(2026, 4, 1))
    return m.id


def _blocked_rows() -> list[AccessLog]:
    return list(AccessLog.objects.filter(outcome="blocked").order_by("at", "id"))


def _subjects(log: AccessLog) -> list[str]:
    return sorted(AccessLogSubject.objects.filter(log_id=log.id).values_list("atena_no", flat=True))


def test_no_measure_everyone_allowed_and_nothing_logged(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        d = selectors.issuance_check(CLERK, [f.father, f.mother, f.child], requester="third_party", on=ON, now=NOW)
        assert [p.outcome for p in d.persons] == [Outcome.ALLOWED] * 3
        assert (d.refused, d.omitted, d.allowed, d.message) == (False, [], [f.father, f.mother, f.child], "")
        assert _blocked_rows() == []


def test_third_party_is_refused_and_the_attempt_logged(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
        d = selectors.issuance_check(OFFICER, [f.father, f.mother, f.child], requester="third_party", on=ON, now=NOW)
        assert d.refused and d.allowed == []
        assert [(p.atena_no, p.outcome) for p in d.persons] == [
            (f.father, Outcome.ALLOWED), (f.mother, Outcome.REFUSE), (f.child, Outcome.REFUSE)]
        assert d.of(f.mother).reason == "支援措置の対象者が含まれるため、第三者には交付できません"
        [log] = _blocked_rows()
        assert (log.operation, log.actor, log.detail["requester"]) == ("blocked:issuance", "staff:officer1", "third_party")
        assert sorted(log.detail["refused"]) == sorted([f.mother, f.child])
        assert _subjects(log) == sorted([f.mother, f.child])


def test_a_clerk_without_the_right_gets_the_neutral_reason(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
        d = selectors.issuance_check(CLERK, [f.mother], requester="third_party", on=ON, now=NOW)
        assert d.of(f.mother).reason == "交付が制限されている方が含まれるため交付できません"
        assert "支援措置" not in d.message


def test_household_certificate_for_another_member_omits_the_protected(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
        d = selectors.issuance_check(OFFICER, [f.father, f.mother, f.child], requester="same_household", on=ON,
                                     now=NOW, requested_by=f.father)
        assert not d.refused
        assert d.omitted == [f.mother, f.child]
        assert d.allowed == [f.father]
        assert d.of(f.child).reason == "支援措置の対象者のため、本人以外の請求による証明書には記載しません"
        [log] = _blocked_rows()
        assert log.detail["omitted"] == [f.mother, f.child] and log.detail["refused"] == []


def test_self_request_is_allowed_with_an_alert(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
        # the mother asks for her household's copy: she and her child are 本人 of the measure
        d = selectors.issuance_check(OFFICER, [f.father, f.mother, f.child], requester="self", on=ON, now=NOW,
                                     requested_by=f.mother)
        assert d.allowed == [f.father, f.mother, f.child]
        assert any("本人確認を厳格に" in a for a in d.alerts)
        assert _blocked_rows() == []
        # the same request under "self" by the father is, for the measure, another member's request
        d = selectors.issuance_check(OFFICER, [f.father, f.mother, f.child], requester="self", on=ON, now=NOW,
                                     requested_by=f.father)
        assert d.omitted == [f.mother, f.child]


def test_public_office_refused_until_temporarily_released_then_refused_again(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        mid = _protect(f)
        assert selectors.issuance_check(OFFICER, [f.mother], requester="public_office", on=ON, now=NOW).refused
        suppression.release_measure_temporarily(OFFICER, mid, reason="審査の結果、裁判所からの請求のため交付", minutes=30,
                                                now=NOW)
        during = selectors.issuance_check(OFFICER, [f.mother], requester="public_office", on=ON,
                                          now=NOW + dt.timedelta(minutes=29))
        assert during.allowed == [f.mother]
        assert any("一時解除中" in a for a in during.alerts)
        after = selectors.issuance_check(OFFICER, [f.mother], requester="public_office", on=ON,
                                         now=NOW + dt.timedelta(minutes=30))
        assert after.refused  # back by itself, no job ran


def test_ended_measure_no_longer_protects(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        mid = _protect(f)
        suppression.end_measure(OFFICER, mid, ended_on=dt.date(2026, 5, 1), reason="申出者から終了の申出")
        d = selectors.issuance_check(OFFICER, [f.mother], requester="third_party", on=ON, now=NOW)
        assert d.allowed == [f.mother]


def test_issuance_suppression_error_refuses_even_the_person_themself(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        s = suppression.set_suppression(OFFICER, target_kind="person", target=f.neighbour, process="issuance",
                                        level="error", reason="court_order", start_date=dt.date(2026, 5, 1))
        d = selectors.issuance_check(CLERK, [f.neighbour], requester="self", on=ON, now=NOW)
        assert d.refused
        assert d.of(f.neighbour).reason == "発行抑止（裁判所の命令等）が設定されているため処理できません"
        assert d.of(f.neighbour).suppression_ids == (s.id,)
        # before its start date it does not apply
        assert not selectors.issuance_check(CLERK, [f.neighbour], requester="self", on=dt.date(2026, 4, 30),
                                            now=NOW).refused


def test_issuance_suppression_alert_allows_with_alert(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        suppression.set_suppression(OFFICER, target_kind="household", target=f.household, process="issuance",
                                    level="alert", reason="other", start_date=dt.date(2026, 5, 1), note="要確認")
        d = selectors.issuance_check(CLERK, [f.father, f.child], requester="self", on=ON, now=NOW)
        assert d.allowed == [f.father, f.child]
        assert d.alerts == ["発行抑止（その他）が設定されています。確認の上で処理してください"]
        assert _blocked_rows() == []


def test_refusal_error_keeps_its_log_entry_after_rollback(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _protect(f)
    err = None
    try:
        with tenant_scope(SHUNAN):
            d = selectors.issuance_check(OFFICER, [f.mother], requester="third_party", on=ON, now=NOW)
            raise selectors.issuance_refusal(OFFICER, d)
    except suppression.SuppressionError as exc:
        err = exc
    assert err is not None and err.status == 403
    with tenant_scope(SHUNAN):
        assert _blocked_rows() == []  # rolled back with the work
    err.record()
    with tenant_scope(SHUNAN):
        [log] = _blocked_rows()
        assert _subjects(log) == [f.mother]
