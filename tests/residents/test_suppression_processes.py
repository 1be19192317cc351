"""抑止 per process (3.1) through the real services: 異動 (propose/register), 照会 (views);
setting and releasing are logged; 支援措置 lifecycle (仮 → 開始 → 延長 → 終了) and the admin's list."""

from __future__ import annotations

import datetime as dt

import pytest

from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.identity.services import IdentityError
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import selectors, services, suppression
from moyai.residents.errors import RegistryError, ResidentsErrorCode
from moyai.residents.models import SupportMeasure, Suppression
from moyai.residents.services import SubjectInput
from moyai.residents.suppression import Accompanying, SuppressionError
from tests.fixtures import SHUNAN, World
from tests.residents.suppression_fixtures import CLERK, MONITOR, OFFICER, Family, register_family

pytestmark = pytest.mark.django_db

JST = dt.timezone(dt.timedelta(hours=9))
NEW_ADDR = "山口県周南市遠石一丁目2番3号"


@pytest.fixture
def family(world: World) -> Family:
    return register_family(world)


def _move(f: Family) -> list[SubjectInput]:
    return [SubjectInput(f.neighbour, {"address": NEW_ADDR})]


def _suppress(f: Family, process: str, level: str, **kw: object) -> Suppression:
    args: dict[str, object] = dict(target_kind="person", target=f.neighbour, process=process, level=level,
                                   reason="other", start_date=dt.date(2026, 1, 1))
    args.update(kw)
    return suppression.set_suppression(OFFICER, **args)  # type: ignore[arg-type]


def test_move_error_is_a_finding_at_proposal_and_refuses_registration(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _suppress(f, "move", "error")
        req = services.propose(CLERK, "move_within", dt.date(2026, 5, 1), _move(f), notified_date=dt.date(2026, 5, 1))
        found = [x for x in req.findings if x["rule"] == "suppression"]
        assert found == [{"rule": "suppression", "level": "error", "atena_no": f.neighbour, "field": None,
                          "message": "異動抑止（その他）が設定されているため処理できません"}]
        [log] = AccessLog.objects.filter(operation="blocked:move")
        assert (log.outcome, log.detail) == ("blocked", {"kind": "move_within"})
    with pytest.raises(SuppressionError) as exc:
        with tenant_scope(SHUNAN):
            services.register(CLERK, req.id, confirm_alerts=True)
    assert (exc.value.code, exc.value.status) == (ResidentsErrorCode.RULE_ERRORS, 422)
    assert "異動抑止（その他）" in exc.value.message
    exc.value.record()  # as the API does once the work is rolled back
    with tenant_scope(SHUNAN):
        assert AccessLog.objects.filter(operation="blocked:move").count() == 2


def test_move_alert_needs_confirmation(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _suppress(f, "move", "alert")
        req = services.propose(CLERK, "move_within", dt.date(2026, 5, 1), _move(f), notified_date=dt.date(2026, 5, 1))
    with pytest.raises(RegistryError) as exc:
        with tenant_scope(SHUNAN):
            services.register(CLERK, req.id)
    assert exc.value.code == ResidentsErrorCode.ALERTS_NOT_CONFIRMED
    assert "異動抑止（その他）が設定されています。確認の上で処理してください" in exc.value.message
    with tenant_scope(SHUNAN):
        assert services.register(CLERK, req.id, confirm_alerts=True).status == "registered"
        assert not AccessLog.objects.filter(outcome="blocked").exists()


def test_other_processes_and_other_people_are_not_stopped(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _suppress(f, "issuance", "error")
        _suppress(f, "move", "error", target=f.father)
        req = services.record_now(CLERK, "move_within", dt.date(2026, 5, 1), _move(f),
                                  notified_date=dt.date(2026, 5, 1), confirm_alerts=True)
        assert req.status == "registered", req.findings


def test_household_suppression_stops_each_member(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        _suppress(f, "move", "error", target_kind="household", target=f.household)
        d = selectors.process_check(CLERK, "move", [f.father, f.child, f.neighbour], dt.date(2026, 5, 1))
        assert sorted(b.atena_no for b in d.errors) == sorted([f.father, f.child])
        [log] = AccessLog.objects.filter(operation="blocked:move")
        assert sorted(AccessLogSubject.objects.filter(log_id=log.id).values_list("atena_no", flat=True)) == sorted(
            [f.father, f.child])


def test_temporary_release_then_back_by_itself(family: Family) -> None:
    f = family
    t0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=JST)
    with tenant_scope(SHUNAN):
        s = _suppress(f, "move", "error")
        suppression.release_suppression_temporarily(OFFICER, s.id, reason="本人確認の上で転居届を受理", minutes=15, now=t0)
        on = t0.date()
        assert not suppression.check_process(suppression.Process.MOVE, [f.neighbour], on=on, now=t0).blocked
        assert not suppression.check_process(suppression.Process.MOVE, [f.neighbour], on=on,
                                             now=t0 + dt.timedelta(minutes=14, seconds=59)).blocked
        assert suppression.check_process(suppression.Process.MOVE, [f.neighbour], on=on,
                                         now=t0 + dt.timedelta(minutes=15)).blocked
        log = AccessLog.objects.get(operation="suppression.release_temporarily")
        assert log.detail["until"] == (t0 + dt.timedelta(minutes=15)).isoformat()
        with pytest.raises(RegistryError) as exc:
            suppression.release_suppression_temporarily(OFFICER, s.id, reason="x", minutes=481, now=t0)
        assert exc.value.field == "minutes"


def test_release_is_final_logged_and_needs_a_reason(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        s = _suppress(f, "move", "error", end_date=dt.date(2026, 3, 31))
        assert AccessLog.objects.get(operation="suppression.set").detail["process"] == "move"
        with pytest.raises(RegistryError) as exc:
            suppression.release_suppression(OFFICER, s.id, note=" ")
        assert exc.value.message == "解除理由を入力してください"
        # the end date has passed but the 抑止 still stops 異動 (3.1) until it is released
        assert suppression.check_process(suppression.Process.MOVE, [f.neighbour]).blocked
        suppression.release_suppression(OFFICER, s.id, note="期間満了を確認")
        assert not suppression.check_process(suppression.Process.MOVE, [f.neighbour]).blocked
        assert AccessLog.objects.get(operation="suppression.release").detail["note"] == "期間満了を確認"
        with pytest.raises(RegistryError) as exc:
            suppression.release_suppression(OFFICER, s.id, note="again")
        assert exc.value.status == 409


def test_setting_needs_the_right_and_valid_codes(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        with pytest.raises(IdentityError):
            suppression.set_suppression(CLERK, target_kind="person", target=f.neighbour, process="move", level="error",
                                        reason="other", start_date=dt.date(2026, 1, 1))
        with pytest.raises(RegistryError) as exc:
            _suppress(f, "print", "error")
        assert exc.value.field == "process" and "move（異動）" in exc.value.message
        with pytest.raises(RegistryError) as exc:
            _suppress(f, "move", "error", start_date=dt.date(2026, 5, 1), end_date=dt.date(2026, 4, 1))
        assert exc.value.message == "抑止の終了日（令和8年4月1日）が開始日（令和8年5月1日）より前です"
        with pytest.raises(RegistryError) as exc:
            _suppress(f, "move", "error", target="999999999")
        assert exc.value.status == 404
        assert not Suppression.objects.exists()


def test_inquiry_error_refuses_the_view_and_alert_is_shown(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        s = _suppress(f, "inquiry", "error")
    with pytest.raises(SuppressionError) as exc:
        with tenant_scope(SHUNAN):
            selectors.resident_view(CLERK, f.neighbour)
    assert (exc.value.status, exc.value.message) == (403, "照会抑止（その他）が設定されているため処理できません")
    with tenant_scope(SHUNAN):
        # the 発行 path leaves the 照会 抑止 to issuance_check
        assert selectors.resident_view(CLERK, f.neighbour, process="issuance").record.atena_no == f.neighbour
        suppression.release_suppression(OFFICER, s.id, note="解除")
        _suppress(f, "inquiry", "alert")
        view = selectors.resident_view(CLERK, f.neighbour)
        assert "照会抑止（その他）が設定されています。確認の上で処理してください" in view.notices
        assert "照会抑止（アラート）" in view.notices


def test_measure_lifecycle_provisional_start_renew_end(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        m = suppression.register_measure(OFFICER, applicant=f.mother, received_on=dt.date(2025, 3, 20),
                                         accompanying=[Accompanying(f.child, "子")], today=dt.date(2025, 3, 20))
        assert (m.status, m.provisional_from, m.start_date, m.end_date) == ("provisional", dt.date(2025, 3, 20), None,
                                                                             None)
        with pytest.raises(RegistryError) as exc:
            suppression.renew_measure(OFFICER, m.id, on=dt.date(2025, 4, 1))
        assert exc.value.field == "status"
        m = suppression.start_measure(OFFICER, m.id, start_date=dt.date(2025, 4, 1), today=dt.date(2025, 4, 2))
        assert (m.status, m.start_date, m.end_date) == ("active", dt.date(2025, 4, 1), dt.date(2026, 3, 31))
        with pytest.raises(RegistryError) as exc:
            suppression.renew_measure(OFFICER, m.id, on=dt.date(2026, 2, 27))
        assert "1か月前（令和8年2月28日）から" in exc.value.message
        m = suppression.renew_measure(OFFICER, m.id, on=dt.date(2026, 3, 1))
        assert (m.start_date, m.end_date) == (dt.date(2026, 4, 1), dt.date(2027, 3, 31))
        assert m.periods == [{"start": "2025-04-01", "end": "2026-03-31"}]
        with pytest.raises(RegistryError) as exc:
            suppression.end_measure(OFFICER, m.id, ended_on=dt.date(2027, 1, 1), reason="")
        assert exc.value.field == "reason"
        m = suppression.end_measure(OFFICER, m.id, ended_on=dt.date(2027, 1, 1), reason="申出者から終了の申出")
        assert m.status == "ended"
        ops = list(AccessLog.objects.filter(operation__startswith="support_measure.").order_by("at", "id")
                   .values_list("operation", flat=True))
        assert ops == ["support_measure.register", "support_measure.start", "support_measure.renew",
                       "support_measure.end"]
        with pytest.raises(RegistryError) as exc:
            suppression.end_measure(OFFICER, m.id, ended_on=dt.date(2027, 1, 2), reason="again")
        assert exc.value.status == 409


def test_measure_validation(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        with pytest.raises(RegistryError) as exc:
            suppression.register_measure(OFFICER, applicant=f.mother, received_on=dt.date(2026, 4, 1),
                                         provisional=False, start_date=dt.date(2026, 4, 1),
                                         end_date=dt.date(2027, 4, 1), today=dt.date(2026, 4, 1))
        assert exc.value.message == "支援措置の期間は1年以内です（令和8年4月1日からは令和9年3月31日まで）"
        with pytest.raises(RegistryError) as exc:
            suppression.register_measure(OFFICER, applicant=f.mother, received_on=dt.date(2026, 4, 1),
                                         accompanying=[Accompanying(f.mother)], today=dt.date(2026, 4, 1))
        assert exc.value.field == "accompanying"
        with pytest.raises(RegistryError) as exc:
            suppression.register_measure(OFFICER, applicant="000000019", received_on=dt.date(2026, 4, 1),
                                         today=dt.date(2026, 4, 1))
        assert exc.value.status == 404
        with pytest.raises(RegistryError) as exc:
            suppression.register_measure(OFFICER, applicant=f.mother, received_on=dt.date(2026, 4, 2),
                                         today=dt.date(2026, 4, 1))
        assert exc.value.field == "received_on"
        with pytest.raises(IdentityError):
            suppression.register_measure(CLERK, applicant=f.mother, received_on=dt.date(2026, 4, 1))
        assert not SupportMeasure.objects.exists()


def test_due_list_for_the_admin(family: Family) -> None:
    f = family
    with tenant_scope(SHUNAN):
        expiring = suppression.register_measure(OFFICER, applicant=f.mother, received_on=dt.date(2025, 6, 1),
                                                provisional=False, today=dt.date(2025, 6, 1))
        far = suppression.register_measure(OFFICER, applicant=f.father, received_on=dt.date(2026, 5, 1),
                                           provisional=False, today=dt.date(2026, 5, 1))
        prov = suppression.register_measure(OFFICER, applicant=f.neighbour, received_on=dt.date(2026, 5, 10),
                                            today=dt.date(2026, 5, 10))
        overdue = _suppress(f, "issuance", "error", target=f.child, end_date=dt.date(2026, 4, 30))
        items = selectors.due_for_attention(MONITOR, on=dt.date(2026, 5, 15))
        assert [(d.kind, d.id, d.phase) for d in items] == [
            ("support_measure", prov.id, "provisional"),
            ("suppression", overdue.id, "overdue"),
            ("support_measure", expiring.id, "expiring"),
        ]
        assert far.id not in {d.id for d in items}
        assert items[2].message == "支援措置の期間が1か月以内（令和8年5月31日）に終了します。延長の要否を確認してください"
        later = selectors.due_for_attention(MONITOR, on=dt.date(2026, 6, 1))
        assert next(d for d in later if d.id == expiring.id).phase == "expired"
        with pytest.raises(IdentityError):
            selectors.due_for_attention(CLERK)
