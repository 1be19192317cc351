"""Public verification (page and API): genuine / revoked / unknown, minimal answers, the log; 失効."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from moyai.certificates import services as certs
from moyai.certificates import verification
from moyai.certificates.domain import CertificateError, CertificateErrorCode, OptionalItem
from moyai.certificates.models import Revocation, VerificationLog
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from tests.certificates.common import NOW, Keys, family, key_store, make_keys
from tests.fixtures import SHUNAN, World

__all__ = ["key_store"]

VERIFY = "/api/v1/public/certificates/verify"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return make_keys()


@pytest.fixture
def issued(world: World, key_store: Path) -> certs.IssuedCertificate:
    with tenant_scope(SHUNAN):
        fam = family(world)
    return certs.issue_at_counter(world.clerk, certs.CertificateRequest(
        atena_no=fam["head"], items=frozenset({OptionalItem.HEAD_RELATIONSHIP}), purpose="旅券申請"), now=NOW)


def _post(client: Client, payload: str) -> dict[str, object]:
    r = client.post(VERIFY, json.dumps({"payload": payload}), content_type="application/json")
    assert r.status_code == 200, r.content
    body: dict[str, object] = r.json()
    return body


@pytest.mark.django_db
def test_genuine_then_revoked_through_the_api(world: World, issued: certs.IssuedCertificate) -> None:
    client = Client()
    body = _post(client, issued.payload)
    assert body["outcome"] == "genuine" and body["label"] == "真正な証明書です"
    assert (body["serial"], body["issued_on"], body["issuer"], body["kind_label"]) == (
        issued.serial, "2026-05-02", "山口県周南市", "住民票の写し")
    assert "𠮷田" not in json.dumps(body, ensure_ascii=False)  # nothing personal
    with pytest.raises(CertificateError) as e:
        verification.revoke(world.clerk, issued.serial, "誤交付")
    assert e.value.code == CertificateErrorCode.NOT_ALLOWED
    verification.revoke(world.approver, issued.serial, "誤交付のため回収")
    body = _post(client, issued.payload)
    assert body["outcome"] == "revoked" and body["revoked_on"] is not None
    with pytest.raises(CertificateError) as e:
        verification.revoke(world.approver, issued.serial, "二度目")
    assert e.value.code == CertificateErrorCode.ALREADY_REVOKED and e.value.status == 409
    with tenant_scope(SHUNAN):
        assert Revocation.objects.get(serial=issued.serial).revoked_by == "staff:approver1"
        log = AccessLog.objects.get(operation="certificate.revoke")
        assert log.detail["serial"] == issued.serial and log.subject_count == 4
        assert AccessLog.objects.filter(operation="denied:certificate.revoke", actor="staff:clerk1").count() == 1
    rows = list(VerificationLog.objects.order_by("id").values_list("method", "outcome", "issuer_code", "serial"))
    assert rows == [("payload", "genuine", SHUNAN, issued.serial), ("payload", "revoked", SHUNAN, issued.serial)]


@pytest.mark.django_db
def test_forged_changed_and_unknown_payloads(world: World, issued: certs.IssuedCertificate) -> None:
    client = Client()
    parts = issued.payload.split("|")
    other_serial = "|".join([*parts[:2], parts[2][:-1] + ("9" if parts[2][-1] != "9" else "8"), *parts[3:]])
    tampered_digest = "|".join([*parts[:4], ("A" if parts[4][0] != "A" else "B") + parts[4][1:], *parts[5:]])
    for text in (other_serial, tampered_digest, "MYC1|352152|x|20260502|AA|k|AA", "hello", "", "|" * 500):
        body = _post(client, text) if len(text) <= verification.MAX_PAYLOAD_CHARS else None
        if body is None:
            r = client.post(VERIFY, json.dumps({"payload": text}), content_type="application/json")
            assert r.status_code == 400  # too long for the schema
            continue
        assert body["outcome"] == "unknown" and body["serial"] == "" and body["issuer"] == "", text
    logs = list(VerificationLog.objects.values_list("outcome", "serial", "issuer_code"))
    assert logs and all(o == "unknown" and s == "" and c == "" for o, s, c in logs)  # unverified: nothing kept


@pytest.mark.django_db
def test_a_genuine_signature_not_in_the_history_is_unknown(world: World, keys: Keys, key_store: Path) -> None:
    """Signed with the 団体's key but never issued (e.g. a preview signed by someone with the key
    file, or a record from another system): the 交付履歴 decides."""
    with tenant_scope(SHUNAN):
        fam = family(world)
        cert = certs.compose_certificate(world.clerk, certs.CertificateRequest(atena_no=fam["head"]),
                                         sequence=77, now=NOW)
    from moyai.certificates.signing import sign_payload

    a = verification.check_payload(sign_payload(cert, keys.signer.identity))
    assert a.outcome == verification.Outcome.UNKNOWN and a.reason == "not_issued"


@pytest.mark.django_db
def test_pdf_upload_genuine_and_one_byte_changed(world: World, issued: certs.IssuedCertificate) -> None:
    client = Client()
    r = client.post("/api/v1/public/certificates/verify-pdf", {"file": _file(issued.pdf)})
    assert r.status_code == 200, r.content
    assert r.json()["outcome"] == "genuine" and r.json()["content_checked"] is True
    changed = bytearray(issued.pdf)
    changed[len(changed) // 3] ^= 0x01
    r = client.post("/api/v1/public/certificates/verify-pdf", {"file": _file(bytes(changed))})
    assert r.json()["outcome"] == "unknown" and r.json()["serial"] == ""
    assert list(VerificationLog.objects.order_by("id").values_list("method", "outcome")) == [
        ("pdf", "genuine"), ("pdf", "unknown")]


def _file(data: bytes) -> object:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("c.pdf", data, content_type="application/pdf")


@pytest.mark.django_db
def test_the_public_page_needs_no_login(world: World, issued: certs.IssuedCertificate) -> None:
    client = Client()
    r = client.get("/verify/")
    assert r.status_code == 200 and "証明書の検証" in r.content.decode()
    r = client.post("/verify/", {"payload": issued.payload})
    page = r.content.decode()
    assert r.status_code == 200 and "真正な証明書です" in page and issued.serial in page and "2026年5月2日" in page
    assert "𠮷田" not in page
    r = client.post("/verify/", {"pdf": _file(issued.pdf)})
    assert "交付時の内容と一致しています" in r.content.decode()
    r = client.post("/verify/", {})
    assert r.status_code == 400 and "QRコードの文字列を入力" in r.content.decode()


@pytest.mark.django_db
def test_revoke_through_the_api(world: World, issued: certs.IssuedCertificate) -> None:
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username="approver1"))
    url = f"/api/v1/tenants/{SHUNAN}/certificates/{issued.serial}/revoke"
    r = client.post(url, json.dumps({"reason": "記載誤り"}), content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["serial"] == issued.serial
    r = client.post(url, json.dumps({"reason": "記載誤り"}), content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "already_revoked"
    r = client.post(f"/api/v1/tenants/{SHUNAN}/certificates/352152-20260502-999999/revoke",
                    json.dumps({"reason": "x"}), content_type="application/json")
    assert r.status_code == 404 and "交付履歴はありません" in r.json()["detail"]
