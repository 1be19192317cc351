"""Certificates from the registry: as of a date, household order, issuer parameters, access log."""

from __future__ import annotations

import datetime as dt

import pytest

from moyai.certificates import services as certs
from moyai.certificates import signing
from moyai.certificates.domain import CertificateError, CertificateErrorCode, CertificateKind, Form, OptionalItem
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import set_parameter
from moyai.residents import services
from moyai.residents.services import SubjectInput
from tests.certificates.common import ADDR1, ADDR2, NOW, Keys, family, make_keys
from tests.fixtures import SHUNAN, World


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.mark.django_db
def test_household_certificate_issued_signed_and_logged(world: World, keys: Keys) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
        req = certs.CertificateRequest(atena_no=fam["child"], terminal="本庁1", printer="プリンタ001",
                                       items=frozenset({OptionalItem.HEAD_RELATIONSHIP}), purpose="旅券申請")
        cert, produced = certs.issue(world.clerk, req, keys.signer, sequence=7, now=NOW)
        assert [m.name for m in cert.members] == ["𠮷田　太郎", "𠮷田　花子", "𠮷田　一", "𠮷田　トメ"]
        assert cert.address == ADDR2 and cert.head_name == "𠮷田　太郎"
        assert cert.whole_household and "世帯全員" in cert.certification_text
        assert cert.issuer.title == "山口県周南市長" and cert.issuer.name == "周南　太郎"
        assert cert.issue_number.text() == "20260502 周南市 本庁1 プリンタ001 007"
        assert cert.serial == "352152-20260502-000007"
        assert "個人番号" in cert.omitted and "本籍・筆頭者" in cert.omitted
        result = signing.verify_pdf(produced.pdf, [keys.ca])
        assert result.genuine, result.problems
        log = AccessLog.objects.filter(operation="certificate.issue").get()
        assert log.purpose == "旅券申請" and not log.individual_number
        assert log.detail["serial"] == cert.serial and log.detail["issue_number"] == cert.issue_number.text()
        assert log.subject_count == 4


@pytest.mark.django_db
def test_as_of_date_uses_the_history(world: World) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
        req = certs.CertificateRequest(atena_no=fam["wife"], form=Form.INDIVIDUAL, as_of=dt.date(2015, 1, 1),
                                       items=frozenset({OptionalItem.INDIVIDUAL_NUMBER}), purpose="年金手続")
        cert = certs.compose_certificate(world.clerk, req, sequence=1, now=NOW)
        assert cert.address == ADDR1  # before the 転居 of 2020
        assert [m.name for m in cert.members] == ["𠮷田　花子"]
        assert "世帯全員" not in cert.certification_text
        head = certs.compose_certificate(world.clerk, certs.CertificateRequest(
            atena_no=fam["head"], form=Form.INDIVIDUAL, items=frozenset({OptionalItem.INDIVIDUAL_NUMBER}),
            purpose="年金手続"), sequence=2, now=NOW)
        assert dict((e.label, e.value) for e in head.members[0].entries)["個人番号"] == "123456789018"
        part = certs.compose_certificate(world.clerk, certs.CertificateRequest(
            atena_no=fam["head"], members=(fam["mother"], fam["head"])), sequence=3, now=NOW)
        assert [m.name for m in part.members] == ["𠮷田　太郎", "𠮷田　トメ"] and not part.whole_household
        with pytest.raises(CertificateError) as e:
            certs.compose_certificate(world.clerk, certs.CertificateRequest(
                atena_no=fam["head"], kind=CertificateKind.REMOVED_COPY, form=Form.INDIVIDUAL), sequence=4, now=NOW)
        assert e.value.code == CertificateErrorCode.WRONG_STATUS
        with pytest.raises(CertificateError) as e:
            certs.compose_certificate(world.clerk, certs.CertificateRequest(
                atena_no=fam["head"], as_of=dt.date(2027, 1, 1)), sequence=5, now=NOW)


@pytest.mark.django_db
def test_missing_issuer_name_and_foreign_tenant_key_are_refused(world: World) -> None:
    with tenant_scope(SHUNAN):
        req = services.record_now(world.clerk, "move_in", dt.date(2010, 4, 1), [SubjectInput(None, {
            "family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ", "given_kana": "イチロウ",
            "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主", "address": ADDR1,
            "household_no": "new"})], notified_date=dt.date(2010, 4, 2))
        atena = req.moves[0]["atena_no"]
        with pytest.raises(CertificateError) as e:
            certs.compose_certificate(world.clerk, certs.CertificateRequest(atena_no=atena), sequence=1, now=NOW)
        assert e.value.code == CertificateErrorCode.PARAMETER and "issuer_name" in e.value.message
        set_parameter("issuer_name", "周南　太郎", dt.date(2020, 1, 1), "admin1")
        ca_key, ca = signing.make_test_ca()
        other = signing.PdfSigner(signing.issue_identity("352071", "下松市", ca_key, ca))
        with pytest.raises(CertificateError):
            certs.issue(world.clerk, certs.CertificateRequest(atena_no=atena), other, sequence=1, now=NOW)
        assert not AccessLog.objects.filter(operation="certificate.issue").exists()
