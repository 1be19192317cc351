"""支援措置 at issuance (residents.selectors.issuance_check): refused to third parties, omitted from a
household certificate asked for by someone else, allowed to the person; blocked attempts kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from moyai.certificates import kiosk
from moyai.certificates import services as certs
from moyai.certificates.domain import CertificateError, CertificateErrorCode, Form, Requester
from moyai.certificates.kiosk_token import make_token, public_key_text
from moyai.certificates.models import IssuanceRecord
from moyai.platform.audit.models import AccessLog
from moyai.platform.identity.services import staff_principal
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import set_parameter
from moyai.residents import suppression
from tests.certificates.common import NOW, Keys, family, key_store, make_keys
from tests.certificates.test_cert_kiosk import CARD_KEY
from tests.factories import MembershipFactory
from tests.fixtures import SHUNAN, World

__all__ = ["key_store"]


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.fixture
def protected(world: World, key_store: Path) -> dict[str, str]:
    """The family of four; the wife under a 支援措置 since 2026-04-01."""
    with tenant_scope(SHUNAN):
        fam = family(world)
        suppression.register_measure(world.approver, applicant=fam["wife"], received_on=dt.date(2026, 4, 1),
                                     provisional=False, start_date=dt.date(2026, 4, 1))
    return fam


def _blocked() -> list[AccessLog]:
    with tenant_scope(SHUNAN):
        return list(AccessLog.objects.filter(outcome="blocked").order_by("id"))


@pytest.mark.django_db
def test_third_party_is_refused_and_the_attempt_kept(world: World, protected: dict[str, str]) -> None:
    with pytest.raises(CertificateError) as e:
        certs.issue_at_counter(world.clerk, certs.CertificateRequest(
            atena_no=protected["head"], requester=Requester.THIRD_PARTY, requester_name="債権者A", purpose="債権回収"),
            now=NOW)
    assert e.value.code == CertificateErrorCode.SUPPRESSED and e.value.status == 403
    assert e.value.message == "交付が制限されている方が含まれるため交付できません"  # neutral: the clerk lacks the right
    with tenant_scope(SHUNAN):
        assert not IssuanceRecord.objects.exists()
    rows = _blocked()
    assert len(rows) == 1 and rows[0].operation == "blocked:issuance" and rows[0].actor == "staff:clerk1"
    # the preview is refused the same way
    with pytest.raises(CertificateError) as e:
        certs.preview(world.clerk, certs.CertificateRequest(
            atena_no=protected["head"], requester=Requester.THIRD_PARTY, purpose="債権回収"), now=NOW)
    assert e.value.code == CertificateErrorCode.SUPPRESSED and len(_blocked()) == 2


@pytest.mark.django_db
def test_household_member_gets_the_household_without_the_protected_person(world: World,
                                                                          protected: dict[str, str]) -> None:
    issued = certs.issue_at_counter(world.clerk, certs.CertificateRequest(
        atena_no=protected["head"], requested_by=protected["head"]), now=NOW)
    names = [m.name for m in issued.certificate.members]
    assert names == ["𠮷田　太郎", "𠮷田　一", "𠮷田　トメ"] and not issued.certificate.whole_household
    assert "世帯の一部" in issued.certificate.certification_text
    with tenant_scope(SHUNAN):
        row = IssuanceRecord.objects.get(serial=issued.serial)
        assert protected["wife"] not in row.persons and len(row.persons) == 3
    # the omission is logged with the issuance (and the view's hiding of her from the 世帯 as an inquiry)
    assert sorted(r.operation for r in _blocked()) == ["blocked:inquiry", "blocked:issuance"]
    # without the requester's 宛名番号, a 本人等 request is treated as one from the 世帯: omitted too
    anonymous = certs.issue_at_counter(world.clerk, certs.CertificateRequest(atena_no=protected["head"]), now=NOW)
    assert len(anonymous.certificate.members) == 3


@pytest.mark.django_db
def test_the_protected_person_gets_their_own(world: World, protected: dict[str, str]) -> None:
    # a clerk without support_measure.view does not find her at all (as if not found)
    with pytest.raises(CertificateError) as e:
        certs.issue_at_counter(world.clerk, certs.CertificateRequest(
            atena_no=protected["wife"], form=Form.INDIVIDUAL, requested_by=protected["wife"]), now=NOW)
    assert e.value.status == 404 and "住民記録はありません" in e.value.message
    # staff with the right (窓口 and 審査) issue hers to her
    user = get_user_model().objects.get(username="clerk1")
    MembershipFactory(user=user, tenant=world.shunan, role="approver")
    both = staff_principal(user, SHUNAN)
    issued = certs.issue_at_counter(both, certs.CertificateRequest(
        atena_no=protected["wife"], form=Form.INDIVIDUAL, requested_by=protected["wife"]), now=NOW)
    assert [m.name for m in issued.certificate.members] == ["𠮷田　花子"]


@pytest.mark.django_db
def test_kiosk_applies_the_same_rules(world: World, protected: dict[str, str]) -> None:
    with tenant_scope(SHUNAN):
        set_parameter("kiosk_fee", 200, dt.date(2026, 4, 1), "admin1")
        set_parameter("kiosk_hours", {"open": "06:30", "close": "23:00"}, dt.date(2026, 4, 1), "admin1")
    kiosk.register_card(world.clerk, protected["head"], "card-head", public_key_text(CARD_KEY))
    token = make_token(CARD_KEY, tenant=SHUNAN, card="card-head", nonce="k" * 16, ts=int(NOW.timestamp()),
                       scope="household")
    issued = kiosk.issue_at_kiosk(token, now=NOW)
    assert len(issued.certificate.members) == 3 and "花子" not in "".join(m.name for m in issued.certificate.members)


@pytest.mark.django_db
def test_refusal_over_http_keeps_the_blocked_attempt(world: World, protected: dict[str, str]) -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username="clerk1"))
    r = client.post(f"/api/v1/tenants/{SHUNAN}/certificates", json.dumps(
        {"atena_no": protected["head"], "requester": "third_party", "purpose": "調査"}),
        content_type="application/json")
    assert r.status_code == 403 and r.json()["code"] == "suppressed" and r.json()["field"] == "atena_no"
    assert len(_blocked()) == 1
