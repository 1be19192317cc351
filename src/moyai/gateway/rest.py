"""REST/JSON adapter: a compact JWS over the canonical request in, a compact JWS over the response out.

``POST /exchange`` with ``Content-Type: application/jose`` and the JWS as the body (see
:mod:`.domain.jws` and :mod:`.domain.message`). The reply is a JWS signed by this gateway's
key (kid ``<gateway id>/<key id>``), with the HTTP status of :data:`.service.HTTP_STATUS`.
"""

from __future__ import annotations

import re
from typing import Any

from .domain import canonical, jws
from .domain.message import ID_RE, ExchangeRequest, ExchangeResponse, MessageError
from .domain.signing import Ed25519Signer
from .service import Claimed, ExchangeService, RefusalCode, Reply

__all__ = ["CONTENT_TYPE", "RestAdapter", "request_to_jws", "response_from_jws"]

CONTENT_TYPE = "application/jose"
ITEM_RE = re.compile(r"^[a-z_]{1,40}(\.[a-z_]{1,40})?$")
AFFAIR_RE = re.compile(r"^[A-Z][A-Z0-9-]{0,31}$")


def _claimed(payload: bytes | None) -> Claimed:
    """Best-effort reading of who an unauthenticated message claims to be from (sanitised for the log)."""
    if payload is None:
        return Claimed()
    try:
        data: Any = canonical.loads(payload)
    except canonical.CanonicalJSONError:
        return Claimed()
    if not isinstance(data, dict):
        return Claimed()

    def ident(key: str) -> str | None:
        v = data.get(key)
        return v if isinstance(v, str) and ID_RE.match(v) else None

    affair = data.get("affair")
    items = data.get("items")
    return Claimed(requester=ident("requester") or "unknown", provider=ident("provider") or "unknown",
                   affair=affair if isinstance(affair, str) and AFFAIR_RE.match(affair) else None,
                   items=tuple(i for i in items if isinstance(i, str) and ITEM_RE.match(i))[:50]
                   if isinstance(items, list) else (),
                   message_id=ident("message_id"))


class RestAdapter:
    def __init__(self, service: ExchangeService, peers: jws.PeerKeys, signer: Ed25519Signer, gateway_id: str) -> None:
        self.service = service
        self.peers = peers
        self.signer = signer
        self.gateway_id = gateway_id

    def encode(self, response: ExchangeResponse) -> bytes:
        return jws.sign(response.to_bytes(), self.signer, self.gateway_id)

    def handle(self, body: bytes) -> Reply:
        try:
            verified = jws.verify(body, self.peers)
        except jws.JwsError as exc:
            return self.service.refuse_unauthenticated(body, _claimed(jws.unverified_payload(body)),
                                                       RefusalCode.FORGED, exc.reason_ja, self.encode)
        try:
            request = ExchangeRequest.from_bytes(verified.payload)
        except MessageError as exc:
            claimed = _claimed(verified.payload)
            return self.service.refuse_unauthenticated(
                body, Claimed(verified.org_id, claimed.provider, claimed.affair, claimed.items, claimed.message_id),
                RefusalCode.MALFORMED, f"照会の形式が正しくありません: {exc}", self.encode)
        return self.service.handle(body, request, verified.org_id, self.encode)


def request_to_jws(request: ExchangeRequest, signer: Ed25519Signer, org_id: str) -> bytes:
    """What a requester sends (used by tests, the benchmark and the cross-DC client)."""
    return jws.sign(request.to_bytes(), signer, org_id)


def response_from_jws(body: bytes, gateway_keys: jws.PeerKeys) -> ExchangeResponse:
    """What a requester does with the reply: verify the gateway's signature, then parse."""
    return ExchangeResponse.from_bytes(jws.verify(body, gateway_keys).payload)
