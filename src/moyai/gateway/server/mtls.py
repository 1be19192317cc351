"""The client certificate's subject in every request's scope, and a prompt stop (no Django here:
worker processes unpickle these classes before they set Django up).

uvicorn does not put the peer certificate into the ASGI scope, so :class:`MtlsH11Protocol` and
:class:`MtlsHttpToolsProtocol` (subclasses of uvicorn's h11 and httptools protocols) read it once
per connection — a keep-alive connection serves
many messages with one handshake — and puts its CN into ``scope["state"]["tls_client_cn"]``.

**Stopping.** When the server stops, uvicorn closes each idle connection and waits until every
connection is gone before it runs the application's shutdown (the log's last checkpoint). Closing a
TLS connection sends the peer a ``close_notify`` and waits for the peer's: a peer gateway or client
holding an idle keep-alive connection in its pool reads nothing until it sends its next message,
so the wait lasted the event loop's TLS shutdown timeout (30 s), and a supervisor stopping the
gateway killed it first, without its last checkpoint. So at shutdown an idle connection is dropped
without the TLS goodbye (nothing is pending on it; the peer's next message opens a new one), and a
busy one is closed after its response, as uvicorn does, but dropped if it is still open
:data:`SHUTDOWN_GRACE` seconds later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HTTPTOOLS", "SHUTDOWN_GRACE", "MtlsH11Protocol", "client_cn", "http_protocol"]

#: seconds a connection busy when the server stops has to finish its response and close
SHUTDOWN_GRACE: Final = 5.0


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

    def shutdown(self) -> None:
        _shutdown(self, super().shutdown)


def _with_client_cn(protocol: Any, transport: asyncio.Transport) -> None:
    ssl_object = transport.get_extra_info("ssl_object")
    cn = client_cn(ssl_object.getpeercert()) if ssl_object is not None else None
    protocol.app_state = {**protocol.app_state, "tls_client_cn": cn}


def _shutdown(protocol: Any, graceful: Callable[[], None]) -> None:
    """The server is stopping: drop an idle (or already closing) connection at once; let a busy one
    finish its response (uvicorn's ``shutdown``), and drop it after :data:`SHUTDOWN_GRACE` seconds."""
    transport: asyncio.Transport = protocol.transport
    cycle = protocol.cycle
    if cycle is None or cycle.response_complete or transport.is_closing():
        transport.abort()
        return
    graceful()
    protocol.loop.call_later(SHUTDOWN_GRACE, transport.abort)


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

        def shutdown(self) -> None:
            _shutdown(self, super().shutdown)


def http_protocol(name: str = "auto") -> type[asyncio.Protocol]:
    """The HTTP protocol class: ``httptools`` (when installed; ``auto``) or ``h11``."""
    if name == "h11" or (name == "auto" and not HTTPTOOLS):
        return MtlsH11Protocol
    if not HTTPTOOLS:
        raise ValueError("httptools がインストールされていません")
    return MtlsHttpToolsProtocol
