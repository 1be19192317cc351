"""交付履歴 and the 発行番号 counter; the counter service (issue_at_counter, preview); every kind and form."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from moyai.certificates import services as certs
from moyai.certificates import signing
from moyai.certificates.domain import (
    BasicItem,
    CertificateError,
    CertificateErrorCode,
    CertificateKind,
    Form,
    OptionalItem,
    Requester,
)
from moyai.certificates.models import IssuanceRecord, IssueCounter
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import set_parameter
from moyai.residents import services
from moyai.residents.services import SubjectInput
from tests.certificates.common import ADDR1, ADDR2, NOW, Keys, family, key_store, make_keys
from tests.certificates.test_cert_pdf import POPPLER, needs_poppler, page_texts
from tests.fixtures import SHUNAN, World

__all__ = ["key_store"]  # the fixture, imported for use here

PG = os.environ.get("MOYAI_DB") == "postgresql"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


def _entries(cert: certs.Certificate, i: int = 0) -> dict[str, str]:
    return {e.label: e.value for e in cert.members[i].entries}


@pytest.mark.django_db
def test_counter_issuance_is_recorded_with_a_daily_serial(world: World, keys: Keys, key_store: Path) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
    req = certs.CertificateRequest(atena_no=fam["child"], terminal="本庁1", printer="プリンタ001",
                                   items=frozenset({OptionalItem.HEAD_RELATIONSHIP}), purpose="旅券申請",
                                   requester_name="𠮷田　一")
    first = certs.issue_at_counter(world.clerk, req, now=NOW)
    second = certs.issue_at_counter(world.clerk, req, now=NOW + dt.timedelta(minutes=5))
    next_day = certs.issue_at_counter(world.clerk, req, now=NOW + dt.timedelta(days=1))
    assert (first.serial, second.serial, next_day.serial) == (
        "352152-20260502-000001", "352152-20260502-000002", "352152-20260503-000001")
    assert first.issue_number == "20260502 周南市 本庁1 プリンタ001 001" and first.fee == 300
    assert signing.verify_pdf(first.pdf, [keys.ca]).genuine
    with tenant_scope(SHUNAN):
        row = IssuanceRecord.objects.get(serial=first.serial)
        assert row.kind == "resident_copy" and row.form == "household" and row.whole_household
        assert sorted(row.persons) == sorted(fam.values())
        assert (row.requester_kind, row.requester_name, row.purpose) == ("self", "𠮷田　一", "旅券申請")
        assert row.items == ["head_relationship"] and row.as_of == dt.date(2026, 5, 2)
        assert (row.channel, row.fee, row.staff, row.pages) == ("counter", 300, "staff:clerk1", 1)
        assert row.digest == first.certificate.digest().hex() and row.key_id == keys.signer.identity.key_id
        assert IssuanceRecord.objects.count() == 3
        assert [r["serial"] for r in certs.records()][:1] == [next_day.serial]
        log = AccessLog.objects.filter(operation="certificate.issue").order_by("id").first()
        assert log is not None and log.detail["serial"] == first.serial and log.detail["fee"] == 300


@pytest.mark.django_db
def test_the_history_is_append_only(world: World, keys: Keys, key_store: Path) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
    issued = certs.issue_at_counter(world.clerk, certs.CertificateRequest(atena_no=fam["head"]), now=NOW)
    with pytest.raises(Exception, match=r"append-only|permission denied"), tenant_scope(SHUNAN):
        IssuanceRecord.objects.filter(serial=issued.serial).update(fee=0)
    with pytest.raises(Exception, match=r"append-only|permission denied"), tenant_scope(SHUNAN):
        IssuanceRecord.objects.filter(serial=issued.serial).delete()
    with tenant_scope(SHUNAN):
        assert IssuanceRecord.objects.get(serial=issued.serial).fee == 300


@pytest.mark.django_db
def test_fee_from_parameters_by_kind_and_exemption(world: World, key_store: Path, tmp_path: Path) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
        set_parameter("certificate_fee", {"resident_copy": 350, "default": 400}, dt.date(2026, 4, 1), "admin1")
    a = certs.issue_at_counter(world.clerk, certs.CertificateRequest(atena_no=fam["head"]), now=NOW)
    b = certs.issue_at_counter(world.clerk, certs.CertificateRequest(
        atena_no=fam["head"], kind=CertificateKind.ITEM_CERTIFICATE, basic_items=frozenset({BasicItem.ADDRESS})),
        now=NOW)
    c = certs.issue_at_counter(world.clerk, certs.CertificateRequest(
        atena_no=fam["head"], requester=Requester.PUBLIC_BODY, fee_exempt=True, requester_name="山口県警察"),
        now=NOW)
    assert (a.fee, b.fee, c.fee) == (350, 400, 0)
    # 公用 (5.7): a public body's certificate says so, and the mark is certified content
    assert c.certificate.official_use and c.certificate.content()["official_use"] is True
    assert not a.certificate.official_use and "official_use" not in a.certificate.content()
    if POPPLER:
        assert "公用" in "".join(page_texts(c.pdf, tmp_path)) and "公用" not in "".join(page_texts(a.pdf, tmp_path))
    with tenant_scope(SHUNAN):
        set_parameter("certificate_fee", {"removed_copy": 300}, dt.date(2026, 5, 1), "admin1")
    with pytest.raises(CertificateError) as e:
        certs.issue_at_counter(world.clerk, certs.CertificateRequest(atena_no=fam["head"]), now=NOW)
    assert e.value.code == CertificateErrorCode.PARAMETER and "certificate_fee" in e.value.message
    with tenant_scope(SHUNAN):
        assert IssuanceRecord.objects.count() == 3


@pytest.mark.django_db
@needs_poppler
def test_preview_is_marked_and_never_recorded(world: World, keys: Keys, key_store: Path, tmp_path: Path) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
    pdf = certs.preview(world.clerk, certs.CertificateRequest(atena_no=fam["head"]), now=NOW)
    assert pdf.startswith(b"%PDF")
    assert not signing.verify_pdf(pdf, [keys.ca]).genuine
    with tenant_scope(SHUNAN):
        assert not IssuanceRecord.objects.exists() and not IssueCounter.objects.exists()
        assert AccessLog.objects.filter(operation="certificate.preview").count() == 1
    text = "".join(page_texts(pdf, tmp_path))
    assert "見" in text  # 「見本」 across the page (set at an angle, so extracted a character at a time)
    assert "20260502 周南市 000 1/1" in text


@pytest.mark.django_db
def test_without_the_right_nothing_is_issued_and_the_refusal_is_logged(world: World, key_store: Path) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
    with pytest.raises(CertificateError) as e:
        certs.issue_at_counter(world.auditor, certs.CertificateRequest(atena_no=fam["head"]), now=NOW)
    assert e.value.code == CertificateErrorCode.NOT_ALLOWED and e.value.status == 403
    with tenant_scope(SHUNAN):
        assert not IssuanceRecord.objects.exists()
        assert AccessLog.objects.filter(operation="denied:certificate.issue", actor="staff:auditor1").count() == 1


@pytest.mark.django_db
def test_no_signing_key_is_a_clear_error(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOYAI_CERT_KEY_DIR", str(tmp_path / "empty"))
    with tenant_scope(SHUNAN):
        fam = family(world)
    with pytest.raises(CertificateError) as e:
        certs.issue_at_counter(world.clerk, certs.CertificateRequest(atena_no=fam["head"]), now=NOW)
    assert e.value.code == CertificateErrorCode.PARAMETER and "署名鍵" in e.value.message


# --- kinds and forms ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_item_certificate_prints_only_the_items_asked_for(world: World) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
        cert = certs.compose_certificate(world.clerk, certs.CertificateRequest(
            atena_no=fam["wife"], kind=CertificateKind.ITEM_CERTIFICATE, form=Form.INDIVIDUAL,
            basic_items=frozenset({BasicItem.BIRTH_DATE, BasicItem.ADDRESS})), sequence=1, now=NOW)
        assert cert.title == "住民票記載事項証明書" and cert.address == ADDR2
        assert _entries(cert) == {"生年月日": "昭和47年2月3日"}
        assert cert.omitted == () and "記載されていることを証明" in cert.certification_text
        # 世帯連記式, no address asked for: the address is not printed; optional items need a purpose
        cert = certs.compose_certificate(world.clerk, certs.CertificateRequest(
            atena_no=fam["head"], kind=CertificateKind.ITEM_CERTIFICATE, form=Form.HOUSEHOLD,
            basic_items=frozenset({BasicItem.SEX}), items=frozenset({OptionalItem.HONSEKI}), purpose="相続手続"),
            sequence=2, now=NOW)
        assert cert.address == "" and len(cert.members) == 4 and cert.whole_household
        assert _entries(cert) == {"性別": "男", "本籍": "山口県周南市毛利町一丁目1番地", "筆頭者": "𠮷田　太郎"}
        assert _entries(cert, 1) == {"性別": "女", "本籍": "", "筆頭者": ""}
        with pytest.raises(CertificateError) as e:
            certs.compose_certificate(world.clerk, certs.CertificateRequest(
                atena_no=fam["head"], kind=CertificateKind.ITEM_CERTIFICATE), sequence=3, now=NOW)
        assert e.value.code == CertificateErrorCode.NO_ITEMS
        with pytest.raises(CertificateError) as e:
            certs.compose_certificate(world.clerk, certs.CertificateRequest(
                atena_no=fam["head"], basic_items=frozenset({BasicItem.SEX})), sequence=3, now=NOW)
        assert e.value.code == CertificateErrorCode.FORM and e.value.field == "basic_items"
        with pytest.raises(CertificateError) as e:
            certs.compose_certificate(world.clerk, certs.CertificateRequest(
                atena_no=fam["head"], kind=CertificateKind.ITEM_CERTIFICATE, basic_items=frozenset({BasicItem.SEX}),
                items=frozenset({OptionalItem.INDIVIDUAL_NUMBER}), requester=Requester.THIRD_PARTY,
                purpose="債権回収"), sequence=3, now=NOW)
        assert e.value.code == CertificateErrorCode.ITEM_NOT_ALLOWED


@pytest.mark.django_db
def test_removed_copy_and_removed_item_certificate(world: World, keys: Keys, key_store: Path) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
        services.record_now(world.clerk, "death", dt.date(2025, 1, 10),
                            [SubjectInput(fam["mother"], {"death_date": "令和7年1月10日"})])
        copy = certs.compose_certificate(world.clerk, certs.CertificateRequest(
            atena_no=fam["mother"], kind=CertificateKind.REMOVED_COPY, form=Form.INDIVIDUAL), sequence=1, now=NOW)
        assert copy.title == "住民票の除票の写し"
        assert _entries(copy)["消除事由"] == "死亡" and _entries(copy)["消除の年月日"] == "令和7年1月10日"
        item = certs.compose_certificate(world.clerk, certs.CertificateRequest(
            atena_no=fam["mother"], kind=CertificateKind.REMOVED_ITEM_CERTIFICATE, form=Form.INDIVIDUAL,
            basic_items=frozenset({BasicItem.REMOVAL, BasicItem.ADDRESS})), sequence=2, now=NOW)
        assert item.title == "住民票の除票記載事項証明書" and item.address == ADDR2
        assert _entries(item) == {"消除事由": "死亡", "消除の年月日": "令和7年1月10日"}
        assert "除票に記載されている" in item.certification_text
        # as of a date before the death, she is on her household's 住民票の写し
        before = certs.compose_certificate(world.clerk, certs.CertificateRequest(
            atena_no=fam["head"], as_of=dt.date(2024, 12, 31)), sequence=3, now=NOW)
        assert len(before.members) == 4 and before.whole_household
        now = certs.compose_certificate(world.clerk, certs.CertificateRequest(atena_no=fam["head"]),
                                        sequence=4, now=NOW)
        assert len(now.members) == 3 and "トメ" not in "".join(m.name for m in now.members)
        with pytest.raises(CertificateError) as e:
            certs.compose_certificate(world.clerk, certs.CertificateRequest(
                atena_no=fam["mother"], form=Form.INDIVIDUAL), sequence=5, now=NOW)
        assert e.value.code == CertificateErrorCode.WRONG_STATUS
        with pytest.raises(CertificateError) as e:
            certs.compose_certificate(world.clerk, certs.CertificateRequest(
                atena_no=fam["head"], kind=CertificateKind.REMOVED_ITEM_CERTIFICATE, form=Form.INDIVIDUAL,
                basic_items=frozenset({BasicItem.REMOVAL})), sequence=5, now=NOW)
        assert e.value.code == CertificateErrorCode.WRONG_STATUS
    issued = certs.issue_at_counter(world.clerk, certs.CertificateRequest(
        atena_no=fam["mother"], kind=CertificateKind.REMOVED_COPY, form=Form.INDIVIDUAL), now=NOW)
    assert signing.verify_pdf(issued.pdf, [keys.ca]).genuine


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [CertificateKind.RESIDENT_COPY, CertificateKind.ITEM_CERTIFICATE])
@pytest.mark.parametrize("form", list(Form))
def test_each_kind_and_form_issues_a_genuine_pdf(world: World, keys: Keys, key_store: Path,
                                                 kind: CertificateKind, form: Form) -> None:
    with tenant_scope(SHUNAN):
        fam = family(world)
    basic = frozenset({BasicItem.ADDRESS, BasicItem.BIRTH_DATE}) if kind.items_only else frozenset()
    issued = certs.issue_at_counter(world.clerk, certs.CertificateRequest(
        atena_no=fam["wife"], kind=kind, form=form, basic_items=basic,
        members=(fam["head"], fam["wife"]) if form == Form.HOUSEHOLD else None), now=NOW)
    result = signing.verify_pdf(issued.pdf, [keys.ca])
    assert result.genuine, result.problems
    assert result.content is not None and result.content["kind"] == kind.value and result.content["form"] == form.value
    assert len(result.content["members"]) == (2 if form == Form.HOUSEHOLD else 1)
    assert result.content["address"] == ADDR2
    # the 前住所 (ADDR1) is on a 写し, and not on a 記載事項証明書 that did not ask for it
    assert (ADDR1 in str(result.content)) == (not kind.items_only)


# --- the counter under concurrency (PostgreSQL) ---------------------------------------------------


@pytest.mark.postgresql
@pytest.mark.skipif(not PG, reason="row locks: run with MOYAI_DB=postgresql")
@pytest.mark.django_db
def test_concurrent_issuances_never_share_a_number() -> None:
    """Four threads, each with its own connection (as the application role, under RLS), take 40
    numbers of one day at once: all distinct, none skipped. The 団体 is committed by a superuser
    connection (the test's own transaction is invisible to the threads) and removed afterwards."""
    import psycopg

    from moyai.platform.tenancy.pgroles import superuser_dsn

    code = "352101"
    dsn = superuser_dsn().replace("dbname=test", f"dbname={connection.settings_dict['NAME']}")
    with psycopg.connect(dsn, autocommit=True) as su:
        su.execute("INSERT INTO tenancy_consortium (code, name, default_parameters, created_at) "
                   "VALUES ('cert-race', '試験', '{}', now()) ON CONFLICT DO NOTHING")
        su.execute("INSERT INTO tenancy_tenant (code, name, prefecture, consortium_id, joined_on, active) "
                   "VALUES (%s, '光市', '山口県', 'cert-race', current_date, true)", [code])
    got: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                with tenant_scope(code):
                    got.append(certs.next_sequence(dt.date(2026, 5, 2)))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        with psycopg.connect(dsn, autocommit=True) as su:
            su.execute("DELETE FROM certificates_issuecounter WHERE tenant_code = %s", [code])
            su.execute("DELETE FROM tenancy_tenant WHERE code = %s", [code])
            su.execute("DELETE FROM tenancy_consortium WHERE code = 'cert-race'")
    assert not errors, errors
    assert sorted(got) == list(range(1, 41))
