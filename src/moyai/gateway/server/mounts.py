"""Protocol adapters mounted on the ASGI gateway beside ``/exchange``.

An adapter has the shape of :class:`moyai.gateway.rest.RestAdapter`: ``handle(body) -> Reply``
over the synchronous :class:`~moyai.gateway.service.ExchangeService` (run in a worker thread by
the app) and ``encode(response) -> bytes``. :class:`CertificateBound` adds the rule of the
service: the TLS client certificate's CN must be the organisation whose key signed the message
(or a gateway relaying it); otherwise the message is refused with ``certificate_mismatch`` and
logged, by the service, as any refusal.

``/soap`` is mounted when :mod:`moyai.gateway.adapters.soap` is installed (SOAP 1.2 +
WS-Security), with the XML-signature certificates of the PKI (ECDSA P-256, ``certs/xml``). The
synchronous service does not route between data centres: a SOAP request for a 団体 of the other
data centre is refused with ``provider_not_hosted``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..domain.message import ExchangeResponse
from ..service import Claimed, ExchangeService, Reply
from .app import MountedAdapter
from .exchange import CERTIFICATE_MISMATCH
from .pki import Pki, gateway_party

__all__ = ["CertificateBound", "soap_mount"]

log = logging.getLogger(__name__)


class _Adapter(Protocol):
    def handle(self, body: bytes) -> Reply: ...

    def encode(self, response: ExchangeResponse) -> bytes: ...


class CertificateBound:
    """An adapter whose messages must come over a connection certified for their signer."""

    def __init__(self, adapter: _Adapter, service: ExchangeService, signer_of: Callable[[bytes], str | None],
                 relays: frozenset[str] = frozenset({"gateway-a", "gateway-b"})) -> None:
        self.adapter = adapter
        self.service = service
        self.signer_of = signer_of
        self.relays = relays

    def handle(self, body: bytes, client_cn: str | None) -> Reply:
        signer = self.signer_of(body)
        if signer is not None and client_cn != signer and client_cn not in self.relays:
            log.warning("クライアント証明書 %s と署名者 %s が一致しません", client_cn, signer)
            reply = self.service.refuse_unauthenticated(
                body, Claimed(requester=signer), CERTIFICATE_MISMATCH,
                f"クライアント証明書の主体（{client_cn or 'なし'}）が署名した団体 {signer} と一致しません",
                self.adapter.encode)
            return dataclasses.replace(reply, http_status=401)  # as /exchange (the log entry is written)
        return self.adapter.handle(body)  # a message without a valid signature is refused (and logged) there


def soap_mount(pki: Pki, dc: str, service: ExchangeService) -> MountedAdapter | None:
    """``/soap`` if the SOAP adapter exists, else None."""
    if importlib.util.find_spec("moyai.gateway.adapters.soap") is None:
        return None
    from moyai.gateway.adapters import soap

    party = gateway_party(dc)
    key_id, key = pki.xml_key(party)
    peers = soap.XmlPeers(pki.xml_certificates())
    adapter = soap.SoapAdapter(service, peers, soap.XmlSigningKey(party, key_id, key))

    def signer_of(body: bytes) -> str | None:
        try:
            verified: Any = soap.verify(body, peers)
        except soap.SoapError:
            return None
        return str(verified.org_id)

    return MountedAdapter(CertificateBound(adapter, service, signer_of), soap.CONTENT_TYPE)
