"""交付履歴照会 (2.2.2): the issuances of a period, by person, with their 失効; every query audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from moyai.certificates import history, verification
from moyai.certificates import services as certs
from moyai.certificates.domain import CertificateError, CertificateErrorCode
from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.tenancy.scope import tenant_scope
from tests.certificates.common import NOW, Keys, family, key_store, make_keys
from tests.fixtures import SHUNAN, World

__all__ = ["key_store"]


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


def _q(**kw: object) -> history.IssuanceQuery:
    base: dict[str, object] = {"date_from": dt.date(2026, 5, 1), "date_to": dt.date(2026, 5, 31)}
    return history.IssuanceQuery(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.django_db
def test_issuances_are_listed_by_period_and_person_with_their_revocation(
        world: World, keys: Keys, key_store: Path) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
    one = certs.issue_at_counter(world.clerk, certs.CertificateRequest(atena_no=fam["head"]), now=NOW)
    two = certs.issue_at_counter(world.clerk, certs.CertificateRequest(
        atena_no=fam["child"], members=(fam["child"],)), now=NOW + dt.timedelta(hours=1))
    later = certs.issue_at_counter(world.clerk, certs.CertificateRequest(atena_no=fam["head"]),
                                   now=NOW + dt.timedelta(days=40))
    with tenant_scope(SHUNAN):
        verification.revoke(world.approver, one.serial, "誤交付")
        page = history.issuances(world.clerk, _q())
        assert (page.total, [r.serial for r in page.rows]) == (2, [two.serial, one.serial])
        first = page.rows[1]
        assert first.revocation_reason == "誤交付" and first.revoked_at is not None
        assert page.rows[0].revoked_at is None and page.rows[0].persons == (fam["child"],)
        assert set(first.persons) == set(fam.values()) and first.staff == "staff:clerk1" and first.fee == 300
        mother_only = history.issuances(world.approver, _q(atena_no=fam["mother"], date_to=dt.date(2026, 6, 30)))
        assert [r.serial for r in mother_only.rows] == [later.serial, one.serial]
        assert history.issuances(world.clerk, _q(channel="kiosk")).total == 0
        assert history.issuances(world.clerk, _q(kind="removed_copy")).total == 0
        assert history.issuances(world.clerk, _q(kind="resident_copy", staff="staff:clerk1")).total == 2
        assert AccessLog.objects.filter(operation="certificate.history").count() == 5  # one per query
        logged = AccessLog.objects.get(operation="certificate.history", actor="staff:approver1")
        subjects = AccessLogSubject.objects.filter(log_id=logged.id).values_list("atena_no", flat=True)
        assert sorted(subjects) == sorted(fam.values())


@pytest.mark.django_db
def test_a_query_without_the_right_is_refused_and_logged(world: World) -> None:
    with tenant_scope(SHUNAN):
        with pytest.raises(CertificateError) as raised:
            history.issuances(world.admin, _q())
        assert raised.value.code == CertificateErrorCode.NOT_ALLOWED and raised.value.status == 403
        assert AccessLog.objects.filter(operation="denied:certificate.history", actor="staff:admin1").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"date_to": dt.date(2026, 4, 30)}, "date_to", "期間の終了日が開始日より前です"),
    ({"date_to": dt.date(2027, 6, 1)}, "date_to", "期間は366日以内で指定してください"),
    ({"per_page": 500}, "per_page", "1ページの件数は1〜200件です"),
    ({"kind": "passport"}, "kind", "証明書の種別 passport はありません"),
    ({"channel": "post"}, "channel", "交付の方法は counter（窓口）か kiosk（コンビニ交付）です"),
])
def test_out_of_bounds_queries_name_the_field(world: World, kw: dict[str, object], field: str, message: str) -> None:
    with tenant_scope(SHUNAN), pytest.raises(CertificateError) as raised:
        history.issuances(world.clerk, _q(**kw))
    assert (raised.value.code, raised.value.field, raised.value.message) == (CertificateErrorCode.QUERY, field, message)
