"""Answering a request received in one protocol through a peer that speaks another.

:func:`forward` takes the bytes a requester sent in its protocol (SOAP here), checks them as the
receiving adapter would (signature, structure), re-expresses the canonical request in the
provider side's protocol (REST/JSON + JWS, signed by this gateway as the forwarding party),
sends it with ``send`` (an HTTP client, or a gateway's ``RestAdapter.handle`` in-process), checks
the answer's signature and returns the response re-signed in the requester's protocol.

The canonical message passes through unchanged (same message id, items, nonce, timestamp), so
both ends log the same exchange. The forwarding gateway's signature replaces the requester's:
the provider side authenticates the *gateway* and must trust it to have checked the requester
(the request carries the requester's id, and ``PeerKeys`` of the provider side then holds the
forwarding gateway's key under the requester's id — the trust the data-centre link has).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..domain import jws
from ..domain.message import ExchangeResponse
from ..domain.signing import Ed25519Signer
from ..rest import request_to_jws, response_from_jws
from . import soap


@dataclass(frozen=True)
class Forwarded:
    response: ExchangeResponse
    body: bytes


def soap_to_rest(body: bytes, *, soap_peers: soap.XmlPeers, rest_signer: Ed25519Signer,
                 send: Callable[[bytes], bytes], provider_keys: jws.PeerKeys,
                 soap_key: soap.XmlSigningKey) -> Forwarded:
    """A SOAP request answered by a REST provider; the answer returned as a signed SOAP envelope.

    Raises :class:`~.soap.SoapError` when the SOAP request is not authentic, and
    :class:`~moyai.gateway.domain.jws.JwsError` when the provider's answer is not.
    """
    request, org_id, _ = soap.parse_request(body, soap_peers)
    if request.requester != org_id:
        raise soap.SoapError("requester_mismatch", f"照会者 {request.requester} の照会が団体 {org_id} の鍵で署名されています")
    answer = send(request_to_jws(request, rest_signer, request.requester))
    response = response_from_jws(answer, provider_keys)
    return Forwarded(response, soap.render_response(response, soap_key))
