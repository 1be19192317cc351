"""The gateway's ASGI application (plain ASGI: three routes do not need a framework).

Routes:

- ``POST /exchange`` — REST/JSON with JWS (:class:`.exchange.GatewayService`), on the event loop.
- ``POST /<name>`` for each mounted adapter: either asynchronous (``asynchronous = True``,
  ``async handle(body, client_cn) -> HttpReply``: :class:`.mounts.SoapEndpoint`, ``/soap`` over
  this service, routed between data centres), or synchronous with the shape of
  :class:`moyai.gateway.rest.RestAdapter`, wrapped in :class:`.mounts.CertificateBound` (client
  certificate = signer) and run in a worker thread.
- ``GET /health`` — a fixed body: the bare endpoint the benchmark compares the full path with.

The TLS client certificate's subject reaches the application through
:class:`MtlsH11Protocol`: uvicorn does not put the peer certificate into the ASGI scope, so
this protocol (a subclass of uvicorn's h11 protocol) reads it once per connection — a
keep-alive connection serves many messages with one handshake — and puts its CN into
``scope["state"]["tls_client_cn"]``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Protocol

from .exchange import (
    DATABASE_DOWN_DETAIL,
    DATABASE_DOWN_LOG,
    DATABASE_DOWN_TITLE,
    DATABASE_ERRORS,
    PROBLEM_CONTENT_TYPE,
    RETRY_AFTER_SECONDS,
    GatewayService,
    HttpReply,
    RefusalCode,
    problem_document,
)
from .mtls import MtlsH11Protocol, client_cn

__all__ = ["GatewayApp", "MountedAdapter", "MtlsH11Protocol", "client_cn"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY: Final = 1 << 20  # 1 MiB: far above any exchange message


class _Reply(Protocol):
    @property
    def body(self) -> bytes: ...

    @property
    def http_status(self) -> int: ...


class _Mountable(Protocol):
    def handle(self, body: bytes, client_cn: str | None) -> Any:
        """A ``Reply`` (``body``, ``http_status``), e.g. :class:`.mounts.CertificateBound`."""
        ...


@dataclass(frozen=True)
class MountedAdapter:
    adapter: _Mountable
    content_type: str


def _problem(status: int, code: str, title: str) -> HttpReply:
    body = json.dumps({"type": f"urn:moyai:gateway:{code}", "title": title, "status": status, "code": code},
                      ensure_ascii=False).encode("utf-8")
    return HttpReply(status, body, PROBLEM_CONTENT_TYPE, None)


def database_unavailable() -> HttpReply:
    """503 ``database_unavailable`` for a message the service could not even read into a request
    (the service answers the others in their own protocol): nothing provided, nothing logged."""
    body = problem_document(503, RefusalCode.DATABASE_UNAVAILABLE, DATABASE_DOWN_TITLE, DATABASE_DOWN_DETAIL,
                            retryable=True)
    return HttpReply(503, body, PROBLEM_CONTENT_TYPE, None, (("retry-after", str(RETRY_AFTER_SECONDS)),))


class GatewayApp:
    """ASGI callable; ``startup``/``shutdown`` run on lifespan events (pools, checkpoint timer)."""

    def __init__(self, service: GatewayService, *, data_centre: str,
                 startup: Callable[[], Awaitable[None]] | None = None,
                 shutdown: Callable[[], Awaitable[None]] | None = None,
                 adapters: dict[str, MountedAdapter] | None = None,
                 adapter_threads: int = 4) -> None:
        self.service = service
        self.data_centre = data_centre
        self._startup = startup
        self._shutdown = shutdown
        self.adapters = adapters or {}
        self._adapter_executor = ThreadPoolExecutor(adapter_threads, thread_name_prefix="gateway-adapter") \
            if self.adapters else None
        self.health_body = json.dumps({"status": "ok", "data_centre": data_centre}).encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if path == "/health" and method in ("GET", "HEAD"):
            await self._send(send, HttpReply(200, self.health_body, "application/json", None))
            return
        if path == "/exchange" or path.lstrip("/") in self.adapters:
            if method != "POST":
                await self._send(send, _problem(405, "method_not_allowed", "POST で送信してください"))
                return
            body = await self._body(receive)
            if body is None:  # the client went away before its message was complete: nothing to answer
                return
            if len(body) > MAX_BODY:
                await self._send(send, _problem(413, "too_large", "メッセージが大きすぎます"))
                return
            cn = (scope.get("state") or {}).get("tls_client_cn")
            try:
                if path == "/exchange":
                    reply = await self.service.exchange(body, cn)
                else:
                    reply = await self._adapter(self.adapters[path.lstrip("/")], body, cn)
            except DATABASE_ERRORS as exc:  # the error's text may hold statement parameters: not logged
                log.error(DATABASE_DOWN_LOG, type(exc).__name__)
                reply = database_unavailable()
            await self._send(send, reply)
            return
        await self._send(send, _problem(404, "not_found", "見つかりません"))

    async def _adapter(self, mounted: MountedAdapter, body: bytes, cn: str | None) -> HttpReply:
        if getattr(mounted.adapter, "asynchronous", False):  # e.g. .mounts.SoapEndpoint: on the event loop
            answered: HttpReply = await mounted.adapter.handle(body, cn)
            return answered
        loop = asyncio.get_running_loop()
        reply: _Reply = await loop.run_in_executor(self._adapter_executor, mounted.adapter.handle, body, cn)
        return HttpReply(reply.http_status, reply.body, mounted.content_type, getattr(reply, "log_seq", None))

    @staticmethod
    async def _body(receive: Receive) -> bytes | None:
        """The request body; longer than ``MAX_BODY`` when too large (cut there); None on disconnect."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > MAX_BODY or not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _send(send: Send, reply: HttpReply) -> None:
        headers = [(b"content-type", reply.content_type.encode("ascii")),
                   (b"content-length", str(len(reply.body)).encode("ascii"))]
        headers += [(k.encode("ascii"), v.encode("ascii")) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._startup is not None:
                        await self._startup()
                except Exception as exc:  # reported to uvicorn, which stops
                    log.exception("ゲートウェイを起動できません")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._shutdown is not None:
                    await self._shutdown()
                if self._adapter_executor is not None:
                    self._adapter_executor.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return
