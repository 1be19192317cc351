"""A requesting organisation's side: mutual TLS with its certificate, JWS with the same key.

Used by the tests, the benchmark and as the reference for peers. One client keeps its
connections alive (httpx's pool), so the TLS handshake is paid once per connection.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from ..domain import jws
from ..domain.log import format_time
from ..domain.message import ExchangeRequest, ExchangeResponse, new_message_id, new_nonce
from .pki import Pki

__all__ = ["CONTENT_TYPE", "GatewayClient", "Sent", "tls_context"]

CONTENT_TYPE = "application/jose"  # as moyai.gateway.rest (which needs Django; this module does not)


def tls_context(pki: Pki, org: str | None) -> ssl.SSLContext:
    """Trust the test CA; present ``org``'s certificate (None: no client certificate)."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if org is not None:
        party = pki.party(org)
        context.load_cert_chain(str(party.cert), str(party.tls_key))
    return context


@dataclass(frozen=True)
class Sent:
    request: ExchangeRequest
    body: bytes
    status: int
    reply: bytes
    content_type: str
    headers: httpx.Headers

    def response(self, gateway_keys: jws.PeerKeys) -> ExchangeResponse:
        return ExchangeResponse.from_bytes(jws.verify(self.reply, gateway_keys).payload)


class GatewayClient:
    def __init__(self, pki: Pki, org: str, base_url: str, *, cert_org: str | None = None,
                 max_connections: int = 10, timeout: float = 10.0) -> None:
        """``cert_org``: whose client certificate to present (default: ``org``'s own)."""
        self.pki = pki
        self.org = org
        self.signer = pki.party(org).signer()
        self.base_url = base_url.rstrip("/")
        self.gateway_keys = pki.peer_keys()
        self.http = httpx.AsyncClient(
            verify=tls_context(pki, cert_org or org), timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections))

    def request(self, provider: str, subject: str, *, affair: str = "HI-01",
                items: Sequence[str] = ("resident_record.name", "resident_record.address"),
                timestamp: dt.datetime | None = None, requester: str | None = None) -> ExchangeRequest:
        return ExchangeRequest(message_id=new_message_id(), requester=requester or self.org, provider=provider,
                               affair=affair, items=tuple(items), subject=subject, nonce=new_nonce(),
                               timestamp=format_time(timestamp or dt.datetime.now(dt.UTC)))

    def sign(self, request: ExchangeRequest) -> bytes:
        return jws.sign(request.to_bytes(), self.signer, self.org)

    async def post(self, body: bytes, path: str = "/exchange", content_type: str = CONTENT_TYPE) -> httpx.Response:
        return await self.http.post(f"{self.base_url}{path}", content=body, headers={"content-type": content_type})

    async def send(self, request: ExchangeRequest, body: bytes | None = None) -> Sent:
        body = body if body is not None else self.sign(request)
        r = await self.post(body)
        return Sent(request, body, r.status_code, r.content, r.headers.get("content-type", ""), r.headers)

    async def close(self) -> None:
        await self.http.aclose()
