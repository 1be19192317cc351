"""The client certificate's subject in every request's scope (no Django here: worker processes
unpickle these classes before they set Django up).

uvicorn does not put the peer certificate into the ASGI scope, so :class:`MtlsH11Protocol` and
:class:`MtlsHttpToolsProtocol` (subclasses of uvicorn's h11 and httptools protocols) read it once
per connection — a keep-alive connection serves
many messages with one handshake — and puts its CN into ``scope["state"]["tls_client_cn"]``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HTTPTOOLS", "MtlsH11Protocol", "client_cn", "http_protocol"]


def client_cn(peercert: Any) -> str | None:
    """The CN of a certificate as returned by ``SSLSocket.getpeercert()``."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class MtlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with the client certificate's CN in every request's scope state."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _with_client_cn(self, transport)



def _with_client_cn(protocol: Any, transport: asyncio.Transport) -> None:
    ssl_object = transport.get_extra_info("ssl_object")
    cn = client_cn(ssl_object.getpeercert()) if ssl_object is not None else None
    protocol.app_state = {**protocol.app_state, "tls_client_cn": cn}


try:  # uvicorn's C parser (httptools), when installed
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a locked dependency
    HTTPTOOLS = False
else:
    HTTPTOOLS = True

    class MtlsHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, with the client certificate's CN in every request's scope state."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            _with_client_cn(self, transport)


def http_protocol(name: str = "auto") -> type[asyncio.Protocol]:
    """The HTTP protocol class: ``httptools`` (when installed; ``auto``) or ``h11``."""
    if name == "h11" or (name == "auto" and not HTTPTOOLS):
        return MtlsH11Protocol
    if not HTTPTOOLS:
        raise ValueError("httptools がインストールされていません")
    return MtlsHttpToolsProtocol
