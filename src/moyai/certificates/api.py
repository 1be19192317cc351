"""証明書 REST API: counter issuance and 失効 under ``/tenants/{tenant}/``, the public verification
(``/public/certificates/…``, no log-in) and the kiosk (``/kiosk/{tenant}/certificates``, card-signed).
"""
# No "from __future__ import annotations": ninja resolves the annotations of views wrapped by
# tenant_endpoint through the wrapper's globals, so they must be real objects.

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from moyai.platform.http.endpoints import tenant_endpoint
from moyai.platform.http.problems import problem

from . import kiosk, services, verification
from .domain import (
    CertificateError,
    CertificateKind,
    Form,
    Requester,
    parse_basic_items,
    parse_items,
)

router = Router(tags=["証明書"])
public_router = Router(tags=["証明書の検証（公開）"])
kiosk_router = Router(tags=["コンビニ交付"])


class CertificateIn(Schema):
    atena_no: str = Field(description="宛名番号（世帯連記式ではその人の世帯）")
    kind: CertificateKind = Field(CertificateKind.RESIDENT_COPY, description="証明書の種類")
    form: Form = Field(Form.HOUSEHOLD, description="household 世帯連記式 / individual 個人票")
    members: list[str] | None = Field(None, description="記載する世帯員の宛名番号（省略時は世帯全員）")
    requester: Requester = Field(Requester.SELF, description="請求者の種別")
    requester_name: str = Field("", max_length=200, description="請求者の氏名・名称（交付履歴に記録）")
    items: list[str] = Field(default_factory=list, description="記載する省略可能事項（目的が必要）")
    basic_items: list[str] = Field(default_factory=list, description="記載事項証明書で証明する事項")
    purpose: str = Field("", max_length=200, description="請求の目的")
    as_of: dt.date | None = Field(None, description="基準日（省略時は交付日）")
    terminal: str = Field("", max_length=20, description="発行端末")
    printer: str = Field("", max_length=20, description="発行プリンタ")
    fee_exempt: bool = Field(False, description="手数料を免除する（公用請求など）")


class RevokeIn(Schema):
    reason: str = Field(min_length=1, max_length=200, description="失効の理由")


class RevokedOut(Schema):
    serial: str
    revoked_at: dt.datetime


class CardIn(Schema):
    atena_no: str
    card_id: str = Field(min_length=4, max_length=64)
    public_key: str = Field(description="Ed25519 公開鍵（32バイト, base64url）")


class CardOut(Schema):
    card_id: str
    atena_no: str
    registered_at: dt.datetime


class PayloadIn(Schema):
    payload: str = Field(max_length=verification.MAX_PAYLOAD_CHARS, description="QRコードの文字列（MYC1|…）")


class VerificationOut(Schema):
    outcome: str = Field(description="genuine 真正 / revoked 失効 / unknown 確認できません")
    label: str
    message: str
    issuer: str = ""
    kind: str = ""
    kind_label: str = ""
    serial: str = ""
    issued_on: dt.date | None = None
    revoked_on: dt.date | None = None
    content_checked: bool = False


class KioskIn(Schema):
    token: str = Field(max_length=4096, description="カード鍵で署名した要求（docs/certificates.md）")


def _problem(request: HttpRequest, exc: CertificateError) -> HttpResponse:
    """The RFC 9457 answer of a refusal, returned (not raised) so that the endpoint's transaction
    commits the audit entry of the refused attempt."""
    from moyai.api import api  # the API object mounts this module's routers

    return problem(api, request, exc.status, str(exc.code), exc.message, field=exc.field)


def _pdf(issued: services.IssuedCertificate) -> HttpResponse:
    response = HttpResponse(issued.pdf, content_type="application/pdf", status=201)
    response["Content-Disposition"] = f'attachment; filename="{issued.serial}.pdf"'
    response["X-Moyai-Serial"] = issued.serial
    response["X-Moyai-Fee"] = str(issued.fee)
    return response


def request_of(body: CertificateIn) -> services.CertificateRequest:
    return services.CertificateRequest(
        atena_no=body.atena_no, kind=body.kind, form=body.form,
        members=tuple(body.members) if body.members else None, requester=body.requester,
        items=parse_items(body.items), basic_items=parse_basic_items(body.basic_items), purpose=body.purpose,
        as_of=body.as_of, terminal=body.terminal, printer=body.printer, requester_name=body.requester_name,
        fee_exempt=body.fee_exempt,
    )


@router.post("/{tenant}/certificates", summary="証明書の交付（署名付きPDF）",
             response={201: None}, openapi_extra={"responses": {201: {"content": {"application/pdf": {}}}}})
@tenant_endpoint("certificate.issue")
def issue_certificate(request: HttpRequest, tenant: str, body: CertificateIn) -> HttpResponse:
    try:
        return _pdf(services.issue_at_counter(request.principal, request_of(body)))  # type: ignore[attr-defined]
    except CertificateError as exc:  # answered here, so that the audit of a refusal is committed
        return _problem(request, exc)


@router.post("/{tenant}/certificates/{serial}/revoke", response={200: RevokedOut}, summary="証明書の失効")
@tenant_endpoint("certificate.revoke")
def revoke_certificate(request: HttpRequest, tenant: str, serial: str, body: RevokeIn) -> Any:
    try:
        r = verification.revoke(request.principal, serial, body.reason)  # type: ignore[attr-defined]
    except CertificateError as exc:
        return _problem(request, exc)
    return Status(200, RevokedOut(serial=r.serial, revoked_at=r.revoked_at))


@router.post("/{tenant}/kiosk-cards", response={201: CardOut}, summary="コンビニ交付の利用者証明用鍵の登録")
@tenant_endpoint("kiosk.cards")
def register_kiosk_card(request: HttpRequest, tenant: str, body: CardIn) -> Any:
    try:
        card = kiosk.register_card(request.principal, body.atena_no, body.card_id, body.public_key)  # type: ignore[attr-defined]
    except CertificateError as exc:
        return _problem(request, exc)
    return Status(201, CardOut(card_id=card.card_id, atena_no=card.atena_no, registered_at=card.registered_at))


def answer_out(a: verification.Answer) -> VerificationOut:
    return VerificationOut(outcome=a.outcome.value, label=a.outcome.label, message=a.message, issuer=a.issuer,
                           kind=a.kind, kind_label=a.kind_label, serial=a.serial, issued_on=a.issued_on,
                           revoked_on=a.revoked_on, content_checked=a.content_checked)


@public_router.post("/certificates/verify", response=VerificationOut, summary="証明書の検証（QRコードの文字列）",
                    auth=None)
def verify_payload(request: HttpRequest, body: PayloadIn) -> VerificationOut:
    return answer_out(verification.check_payload(body.payload))


@public_router.post("/certificates/verify-pdf", response=VerificationOut, summary="証明書の検証（PDFファイル）",
                    auth=None)
def verify_pdf(request: HttpRequest, file: File[UploadedFile]) -> VerificationOut:
    if file.size is not None and file.size > verification.MAX_PDF_BYTES:
        return answer_out(verification.check_pdf(b""))
    return answer_out(verification.check_pdf(file.read(verification.MAX_PDF_BYTES + 1)))


@kiosk_router.post("/{tenant}/certificates", summary="コンビニ交付（カード鍵で署名した要求）", auth=None,
                   response={201: None}, openapi_extra={"responses": {201: {"content": {"application/pdf": {}}}}})
def kiosk_issue(request: HttpRequest, tenant: str, body: KioskIn) -> HttpResponse:
    try:
        issued = kiosk.issue_at_kiosk(body.token, expect_tenant=tenant)
    except CertificateError as exc:
        return _problem(request, exc)
    return _pdf(issued)
