"""Protocol adapters mounted on the ASGI gateway beside ``/exchange``.

An adapter has the shape of :class:`moyai.gateway.rest.RestAdapter`: ``handle(body) -> Reply``
over the synchronous :class:`~moyai.gateway.service.ExchangeService` (run in a worker thread by
the app) and ``encode(response) -> bytes``. :class:`CertificateBound` adds the rule of the
service: the TLS client certificate's CN must be the organisation whose key signed the message
(or a gateway relaying it); otherwise the message is refused with ``certificate_mismatch`` and
logged, by the service, as any refusal.

``/soap`` is mounted when :mod:`moyai.gateway.adapters.soap` is installed (SOAP 1.2 +
WS-Security), with the XML-signature certificates of the PKI (ECDSA P-256, ``certs/xml``). The
served gateway mounts :class:`SoapEndpoint` over its asynchronous service, which routes a SOAP
request for a 団体 of the other data centre there as ``/exchange`` does; :class:`CertificateBound`
keeps the synchronous service usable on its own (it refuses such a request with
``provider_not_hosted``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ..domain.message import ExchangeResponse
from ..service import Claimed, ExchangeService, Reply
from .app import MountedAdapter
from .exchange import CERTIFICATE_MISMATCH, GatewayService, HttpReply, Wire
from .pki import Pki, gateway_party

__all__ = ["CertificateBound", "SoapEndpoint", "soap_mount"]

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


class SoapEndpoint:
    """``/soap`` on the asynchronous service: same checks, same log, and routing to the other data centre.

    The envelope is verified and read in a worker thread (XML canonicalisation and ECDSA are the
    expensive part); the request then takes :meth:`.exchange.GatewayService.receive` — the
    certificate rule, nonce, legal basis, 符号, registry read, group-committed log entry — like
    ``/exchange``. A request for a 団体 of the other data centre is forwarded, as received, to
    that data centre's ``/soap`` and logged here as a ``forward`` entry; when the far side is
    down the requester gets 503 with ``Retry-After`` and a Fault signed by this gateway
    (``peer_unavailable``, ``Retryable`` true), never a ``provided`` entry.
    """

    asynchronous = True

    def __init__(self, service: GatewayService, peers: Any, key: Any, executor: ThreadPoolExecutor) -> None:
        from moyai.gateway.adapters import soap

        self._soap = soap
        self.service = service
        self.peers = peers
        self.key = key
        self.executor = executor
        self.wire = Wire("/soap", soap.CONTENT_TYPE, self.encode, self.open_reply)

    def encode(self, response: ExchangeResponse) -> bytes:
        return bytes(self._soap.render_response(response, self.key))

    def open_reply(self, data: bytes) -> tuple[str, ExchangeResponse]:
        org, response = self._soap.open_reply(data, self.peers)
        return str(org), response

    async def handle(self, body: bytes, client_cn: str | None) -> HttpReply:
        loop = asyncio.get_running_loop()
        received = await loop.run_in_executor(self.executor, self._soap.receive, body, self.peers, self.service.clock())
        return await self.service.receive(body, received.request, received.signer, received.refusal, client_cn,
                                          self.wire)


def soap_mount(pki: Pki, dc: str, service: ExchangeService | GatewayService,
               executor: ThreadPoolExecutor | None = None) -> MountedAdapter | None:
    """``/soap`` if the SOAP adapter exists, else None.

    Over the asynchronous :class:`.exchange.GatewayService` (what ``moyai gateway serve`` mounts):
    :class:`SoapEndpoint`, routed between data centres. Over the synchronous ``ExchangeService``:
    :class:`CertificateBound` around the SOAP adapter (no routing: ``provider_not_hosted``).
    """
    if importlib.util.find_spec("moyai.gateway.adapters.soap") is None:
        return None
    from moyai.gateway.adapters import soap

    party = gateway_party(dc)
    key_id, key = pki.xml_key(party)
    peers = soap.XmlPeers(pki.xml_certificates())
    signing_key = soap.XmlSigningKey(party, key_id, key)
    if isinstance(service, GatewayService):
        endpoint = SoapEndpoint(service, peers, signing_key,
                                executor or ThreadPoolExecutor(4, thread_name_prefix="gateway-soap"))
        return MountedAdapter(endpoint, soap.CONTENT_TYPE)
    adapter = soap.SoapAdapter(service, peers, signing_key)

    def signer_of(body: bytes) -> str | None:
        try:
            verified: Any = soap.verify(body, peers)
        except soap.SoapError:
            return None
        return str(verified.org_id)

    return MountedAdapter(CertificateBound(adapter, service, signer_of), soap.CONTENT_TYPE)
