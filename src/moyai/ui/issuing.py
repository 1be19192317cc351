"""Certificate issuance from the counter, through ``moyai.certificates.services`` only."""

from __future__ import annotations

from moyai.certificates import services as certs
from moyai.certificates.domain import Certificate
from moyai.platform.identity.services import Principal

PREVIEW_SEQUENCE = 0  # a preview takes no 発行番号: its sequence shows 000


def preview(actor: Principal, req: certs.CertificateRequest) -> Certificate:
    """What would be printed (for the on-screen preview): the registry view is logged, nothing issued."""
    return certs.compose_certificate(actor, req, sequence=PREVIEW_SEQUENCE)


def preview_pdf(actor: Principal, req: certs.CertificateRequest) -> bytes:
    """The unsigned 見本 PDF (watermarked, no 発行番号, nothing in the 交付履歴)."""
    return certs.preview(actor, req)


def issue(actor: Principal, req: certs.CertificateRequest) -> certs.IssuedCertificate:
    """窓口交付: the signed PDF with the next 発行番号, recorded in the 交付履歴 and the access log."""
    return certs.issue_at_counter(actor, req)
