"""From a composed :class:`~.domain.Certificate` to a signed PDF (no Django).

Order matters: the QR payload signs the digest of the certified content, the page shows the QR
code and carries the content as an attachment, and the PAdES signature then covers the whole file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .domain import Certificate
from .render import Renderer, renderer
from .signing import PdfSigner, sign_payload


@dataclass
class Produced:
    pdf: bytes
    payload: str  # the QR code's text
    pages: int
    alerts: list[str] = field(default_factory=list)  # 文字溢れ (5.8)
    render_seconds: float = 0.0
    sign_seconds: float = 0.0


def produce(cert: Certificate, signer: PdfSigner, *, using: Renderer | None = None) -> Produced:
    """Render ``cert`` and sign it with the 団体's key (QR payload and PAdES)."""
    r = using or renderer()
    t0 = time.perf_counter()
    payload = sign_payload(cert, signer.identity)
    rendered = r.render(cert, payload)
    t1 = time.perf_counter()
    location = f"{cert.issuer.prefecture}{cert.issuer.municipality}"
    pdf = signer.sign(rendered.pdf, reason=f"{cert.title}の電子証明", location=location)
    t2 = time.perf_counter()
    return Produced(pdf=pdf, payload=payload, pages=rendered.pages, alerts=rendered.alerts,
                    render_seconds=t1 - t0, sign_seconds=t2 - t1)
