"""Public verification of issued certificates, and their 失効 (revocation) by staff.

Anyone — a bank, a landlord, the resident — may check a certificate without logging in, by its QR
code's text or by the PDF itself. The answer is one of

- ``genuine`` (真正): signed by the 団体's key, in the 交付履歴 with the same digest, not revoked;
- ``revoked`` (失効): as above, but revoked by the 団体 since;
- ``unknown`` (確認できません): anything else — a forged or changed code, a changed PDF, a
  certificate the 交付履歴 does not know.

It shows no more than the certificate did, and less: the kind, the issue date, the issuer and the
serial; never a name or an address (a PDF upload is compared with the 交付履歴 by its digest).

No enumeration: a serial alone is never looked up. The lookup happens only after the QR text's
signature has been checked with the 団体's public key (or the PDF's PAdES signature with a trusted
root), so guessing serials gets nothing but ``unknown`` — and that answer costs one signature
check and no database read, which keeps the endpoints cheap to rate-limit at the proxy.

Every verification is logged in :class:`~.models.VerificationLog`: method, outcome, reason code,
and (only when the signature held) the 団体コード and serial. No IP address, no personal data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cryptography.hazmat.primitives.asymmetric import ec

from moyai.platform.audit import services as audit
from moyai.platform.audit.context import current_request_id
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.errors import TenancyError
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import get_tenant

from .domain import CertificateError, CertificateErrorCode, CertificateKind, canonical_json
from .models import IssuanceRecord, Revocation, VerificationLog
from .signing import FileIdentityStore, QrPayload, VerificationError, verify_payload, verify_pdf

MAX_PAYLOAD_CHARS: Final = 400
MAX_PDF_BYTES: Final = 5 * 1024 * 1024
REVOKE_PERMISSION: Final = "certificate.revoke"


class Outcome(StrEnum):
    GENUINE = "genuine"
    REVOKED = "revoked"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return {"genuine": "真正な証明書です", "revoked": "この証明書は失効しています",
                "unknown": "確認できません"}[self.value]


@dataclass(frozen=True)
class Answer:
    """What a verifier is told: nothing personal."""

    outcome: Outcome
    message: str  # Japanese, for the verifier
    reason: str = ""  # short code, logged (bad_payload, bad_signature, no_key, not_issued, tampered …)
    tenant_code: str = ""
    issuer: str = ""  # 山口県周南市
    kind: str = ""
    kind_label: str = ""
    serial: str = ""
    issued_on: dt.date | None = None
    revoked_on: dt.date | None = None
    content_checked: bool = False  # the digest of the certified content was compared with the 交付履歴


def _public_keys(tenant_code: str) -> list[ec.EllipticCurvePublicKey]:
    try:
        return [FileIdentityStore().load(tenant_code).public_key]
    except (LookupError, ValueError):
        return []


def _unknown(reason: str, message: str) -> Answer:
    return Answer(Outcome.UNKNOWN, message, reason)


def _log(method: str, answer: Answer) -> Answer:
    VerificationLog.objects.create(
        at=dt.datetime.now(dt.UTC), method=method, outcome=answer.outcome.value, issuer_code=answer.tenant_code,
        serial=answer.serial, reason=answer.reason[:200], request_id=current_request_id()[:64],
    )
    return answer


def _against_history(payload: QrPayload, *, content_checked: bool) -> Answer:
    """The 交付履歴 and the 失効 of a certificate whose signature already checked."""
    try:
        tenant = get_tenant(payload.tenant)
    except TenancyError:
        return _unknown("unknown_tenant", "この団体の証明書は確認できません")
    with tenant_scope(tenant.code):
        record = IssuanceRecord.objects.filter(serial=payload.serial).first()
        if record is None or record.digest != payload.digest.hex() or record.issued_at.astimezone(
                _JST).date() != payload.issued_on:
            return Answer(Outcome.UNKNOWN, "交付履歴にこの証明書はありません", "not_issued", tenant.code,
                          serial=payload.serial)
        revocation = Revocation.objects.filter(serial=payload.serial).first()
    kind = CertificateKind(record.kind)
    common = {"tenant_code": tenant.code, "issuer": f"{tenant.prefecture}{tenant.name}", "kind": kind.value,
              "kind_label": kind.label, "serial": record.serial, "issued_on": payload.issued_on,
              "content_checked": content_checked}
    if revocation is not None:
        return Answer(Outcome.REVOKED, "この証明書は発行した団体により失効しています", "revoked",
                      revoked_on=revocation.revoked_at.astimezone(_JST).date(), **common)  # type: ignore[arg-type]
    return Answer(Outcome.GENUINE, "この証明書は発行した団体の交付履歴と一致します", "ok", **common)  # type: ignore[arg-type]


def check_payload(text: str) -> Answer:
    """Verify a QR code's text (``MYC1|…``) and log the verification."""
    return _log("payload", _check_payload(text))


def _check_payload(text: str) -> Answer:
    text = text.strip()
    if not text or len(text) > MAX_PAYLOAD_CHARS:
        return _unknown("bad_payload", "検証用コードの形式が正しくありません")
    try:
        tenant = text.split("|")[1] if text.count("|") == 6 else ""
        payload = verify_payload(text, _public_keys(tenant) if tenant.isdigit() and len(tenant) == 6 else [])
    except VerificationError as exc:
        return _unknown("bad_payload", exc.message)
    return _against_history(payload, content_checked=False)


def check_pdf(data: bytes) -> Answer:
    """Verify a certificate PDF (PAdES signature to a trusted root, QR payload, attached content)
    and compare it with the 交付履歴; log the verification."""
    return _log("pdf", _check_pdf(data))


def _check_pdf(data: bytes) -> Answer:
    if not data or len(data) > MAX_PDF_BYTES:
        return _unknown("bad_pdf", f"PDFファイル（{MAX_PDF_BYTES // (1024 * 1024)}MB以下）を指定してください")
    result = verify_pdf(data)
    if not result.genuine or result.tenant is None or result.serial is None or result.issued_on is None:
        return _unknown("tampered", "署名を確認できません（変更されたか、この団体が発行したものではありません）")
    # verify_pdf checked that the attached content hashes to the digest the QR payload signs; the
    # 交付履歴 must hold that same digest for that serial.
    digest = hashlib.sha256(canonical_json(result.content or {})).digest()
    payload = QrPayload(result.tenant, result.serial, result.issued_on, digest, "")
    return _against_history(payload, content_checked=True)


# --- 失効 ------------------------------------------------------------------------------------------


def revoke(actor: Principal, serial: str, reason: str, *, now: dt.datetime | None = None) -> Revocation:
    """Revoke an issued certificate of the actor's 団体 (needs ``certificate.revoke``); audited."""
    if REVOKE_PERMISSION not in actor.permissions:
        audit.record_denied(actor.tenant_code, actor, f"denied:{REVOKE_PERMISSION}", "権限がありません")
        raise CertificateError(CertificateErrorCode.NOT_ALLOWED, "証明書を失効させる権限がありません", status=403)
    reason = reason.strip()
    if not reason:
        raise CertificateError(CertificateErrorCode.FORM, "失効の理由を入力してください", field="reason")
    with tenant_scope(actor.tenant_code):
        record = IssuanceRecord.objects.filter(serial=serial).first()
        if record is None:
            raise CertificateError(CertificateErrorCode.NOT_FOUND, f"証明書番号 {serial} の交付履歴はありません",
                                   field="serial", status=404)
        if Revocation.objects.filter(serial=serial).exists():
            raise CertificateError(CertificateErrorCode.ALREADY_REVOKED, f"証明書番号 {serial} は既に失効しています",
                                   field="serial", status=409)
        revocation = Revocation.objects.create(serial=serial, reason=reason[:200], revoked_by=actor.label,
                                               revoked_at=now or dt.datetime.now(dt.UTC))
        audit.record(actor, "certificate.revoke", record.persons, purpose="証明書の失効",
                     detail={"serial": serial, "reason": reason[:200]})
    return revocation


_JST: Final = dt.timezone(dt.timedelta(hours=9), "JST")
