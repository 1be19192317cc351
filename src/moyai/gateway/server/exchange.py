"""The exchange service of the ASGI gateway: the synchronous service's steps, awaited, plus routing.

Same order and same outcomes as :class:`moyai.gateway.service.ExchangeService` (authenticate →
sender = signer → time window → nonce → organisations → legal basis → 符号 → registry read →
sign → durable log → reply), with two additions that only exist once the gateway is a network
service:

- **The client certificate.** The TLS client certificate's subject (CN) must be the
  organisation whose key signed the message, or the other data centre's gateway relaying it;
  otherwise the message is refused (``certificate_mismatch``, 401) and logged.
- **Routing between data centres.** A request for a provider attached to the other data centre
  is checked here (signature, time, nonce, legal basis) and forwarded, as received, to that
  data centre's gateway over mutual TLS (:class:`Forwarder`, a keep-alive pool). The far
  gateway checks and answers it and logs it in its own log; this gateway logs a ``forward``
  entry with the far side's outcome and the digest of its reply, and relays the reply
  unchanged. When the far side cannot be reached, the requester gets 503 with
  ``Retry-After`` and an RFC 9457 problem (``peer_unavailable``, in Japanese), and this log
  records the forward with outcome ``unavailable`` — never ``provided``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from django.db.utils import InterfaceError as DjangoInterfaceError
from django.db.utils import OperationalError as DjangoOperationalError
from psycopg import OperationalError as PgOperationalError

from ..domain import jws
from ..domain.codes import CodeError
from ..domain.legal_basis import Decision, LegalBasisTable, legal_basis_table
from ..domain.log import Outcome, body_digest, format_time, parse_time
from ..domain.message import ExchangeRequest, ExchangeResponse, MessageError
from ..domain.organisations import Directory, Organisation, directory
from ..domain.signing import Ed25519Signer
from ..registry import gateway_actor
from ..rest import CONTENT_TYPE, _claimed
from ..service import (
    DEFAULT_WINDOW,
    HTTP_STATUS,
    JST,
    Claimed,
    RefusalCode,
    compose_response,
    log_fields,
    unavailable_response,
)
from ..store import LogUnavailable
from .ports import CodePort, LogPort, NoncePort, PendingAccess, RegistryPort

__all__ = [
    "CERTIFICATE_MISMATCH",
    "PROBLEM_CONTENT_TYPE",
    "RETRY_AFTER_SECONDS",
    "Forwarder",
    "GatewayService",
    "HttpReply",
    "PeerUnavailable",
    "Wire",
]

log = logging.getLogger(__name__)

CERTIFICATE_MISMATCH: Final = "certificate_mismatch"
PEER_UNAVAILABLE: Final = "peer_unavailable"
PEER_FAILED: Final = "peer_failed"
FORWARD: Final = "forward"  # log-entry kind of a request relayed to the other data centre
PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
RETRY_AFTER_SECONDS: Final = 5
#: the database could not be reached or cut the connection (server down or restarting, the pool's
#: wait exhausted, SQLite locked): the message was not answered and may be sent again
DATABASE_ERRORS: Final = (PgOperationalError, DjangoOperationalError, DjangoInterfaceError)
DATABASE_DOWN_LOG: Final = "データベースに接続できないため照会に応答できません（%s）"
DATABASE_DOWN_TITLE: Final = "ゲートウェイのデータベースに接続できません"
DATABASE_DOWN_DETAIL: Final = (f"照会は処理されず、提供されていません。{RETRY_AFTER_SECONDS}秒以上待ってから、"
                               "新しいメッセージ（新しいノンスと時刻）で再送してください。")
_STATUS: Final = {**HTTP_STATUS, CERTIFICATE_MISMATCH: 401}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class HttpReply:
    """What goes back on the wire (only ever after its log entry is durable, or carrying no data)."""

    status: int
    body: bytes
    content_type: str
    log_seq: int | None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Wire:
    """How one protocol's messages travel: REST/JWS on ``/exchange`` or SOAP on ``/soap``.

    ``encode`` signs a response as this gateway; ``open_reply`` checks a reply of the other data
    centre's gateway and returns (signing organisation, response), raising ``ValueError`` (or a
    subclass) when it is not a signed reply. ``problems``: errors of the relay itself go out as
    RFC 9457 problem documents (REST) rather than as signed responses (SOAP Faults).
    """

    path: str
    content_type: str
    encode: Callable[[ExchangeResponse], bytes]
    open_reply: Callable[[bytes], tuple[str, ExchangeResponse]]
    problems: bool = False


class PeerUnavailable(Exception):
    """The other data centre's gateway did not answer (connection refused, timeout …): retryable."""


class PeerFailed(Exception):
    """It answered, but not with a reply signed by that gateway to this request."""


@dataclass(frozen=True)
class Forwarded:
    status: int
    body: bytes
    response: ExchangeResponse


class Forwarder:
    """Relays a request to the other data centre's gateway over mutual TLS, on a keep-alive pool."""

    def __init__(self, routes: Mapping[str, str], *, ca_file: str, cert_file: str, key_file: str,
                 gateway_keys: jws.PeerKeys, timeout: float = 5.0, max_connections: int = 64) -> None:
        self.routes = {dc: url.rstrip("/") for dc, url in routes.items()}
        context = ssl.create_default_context(cafile=ca_file)
        context.load_cert_chain(cert_file, key_file)
        self.gateway_keys = gateway_keys
        self.client = httpx.AsyncClient(
            verify=context, timeout=httpx.Timeout(timeout, connect=min(2.0, timeout)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections))

    def serves(self, dc: str) -> bool:
        return dc in self.routes

    def open_jws(self, data: bytes) -> tuple[str, ExchangeResponse]:
        """A REST reply of a gateway: (signer, response)."""
        verified = jws.verify(data, self.gateway_keys)
        return verified.org_id, ExchangeResponse.from_bytes(verified.payload)

    async def forward(self, dc: str, body: bytes, request: ExchangeRequest, wire: Wire | None = None) -> Forwarded:
        path, content_type = (wire.path, wire.content_type) if wire is not None else ("/exchange", CONTENT_TYPE)
        open_reply = wire.open_reply if wire is not None else self.open_jws
        try:
            r = await self.client.post(f"{self.routes[dc]}{path}", content=body, headers={"content-type": content_type})
        except httpx.HTTPError as exc:
            raise PeerUnavailable(type(exc).__name__) from exc
        try:
            signer, response = open_reply(r.content)
        except (jws.JwsError, MessageError, ValueError) as exc:
            if r.status_code >= 500:
                raise PeerUnavailable(f"HTTP {r.status_code}") from exc
            raise PeerFailed(f"署名を検証できない応答（HTTP {r.status_code}）") from exc
        if signer != f"gateway-{dc}" or response.in_reply_to != request.message_id:
            raise PeerFailed("この照会への応答ではありません")
        return Forwarded(r.status_code, r.content, response)

    async def close(self) -> None:
        await self.client.aclose()


def problem_document(status: int, code: str, title: str, detail: str, **extra: Any) -> bytes:
    """An RFC 9457 problem document (Japanese title and detail)."""
    doc = {"type": f"urn:moyai:gateway:{code}", "title": title, "status": status, "detail": detail, "code": code,
           **extra}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")


@dataclass
class GatewayService:
    """One data centre's gateway on asynchronous ports (:mod:`.ports`)."""

    data_centre: str
    nonces: NoncePort
    codes: CodePort
    registry: RegistryPort
    log: LogPort
    peers: jws.PeerKeys
    signer: Ed25519Signer
    gateway_id: str
    forwarder: Forwarder | None = None
    #: certificate subjects of the gateways allowed to relay other organisations' messages
    relays: frozenset[str] = frozenset({"gateway-a", "gateway-b"})
    window: dt.timedelta = DEFAULT_WINDOW
    clock: Any = _utcnow
    directory: Directory = field(default_factory=directory)
    table: LegalBasisTable = field(default_factory=legal_basis_table)

    def encode(self, response: ExchangeResponse) -> bytes:
        return jws.sign(response.to_bytes(), self.signer, self.gateway_id)

    @property
    def rest(self) -> Wire:
        return Wire("/exchange", CONTENT_TYPE, self.encode, self._open_jws, problems=True)

    def _open_jws(self, data: bytes) -> tuple[str, ExchangeResponse]:
        verified = jws.verify(data, self.peers)
        return verified.org_id, ExchangeResponse.from_bytes(verified.payload)

    # -- the REST/JWS entry point -----------------------------------------------------------------

    async def exchange(self, body: bytes, client_subject: str | None) -> HttpReply:
        """``POST /exchange``: a compact JWS in, a compact JWS (or a problem) out."""
        try:
            verified = jws.verify(body, self.peers)
        except jws.JwsError as exc:
            return await self.refuse_unauthenticated(body, _claimed(jws.unverified_payload(body)),
                                                     RefusalCode.FORGED, exc.reason_ja)
        if client_subject is None or (client_subject != verified.org_id and client_subject not in self.relays):
            claimed = _claimed(verified.payload)  # read again only for a refusal's log entry
            log.warning("クライアント証明書 %s と署名者 %s が一致しません", client_subject, verified.org_id)
            return await self.refuse_unauthenticated(
                body, Claimed(verified.org_id, claimed.provider, claimed.affair, claimed.items, claimed.message_id),
                CERTIFICATE_MISMATCH,
                f"クライアント証明書の主体（{client_subject or 'なし'}）が署名した団体 {verified.org_id} と一致しません")
        try:
            request = ExchangeRequest.from_bytes(verified.payload)
        except MessageError as exc:
            claimed = _claimed(verified.payload)
            return await self.refuse_unauthenticated(
                body, Claimed(verified.org_id, claimed.provider, claimed.affair, claimed.items, claimed.message_id),
                RefusalCode.MALFORMED, f"照会の形式が正しくありません: {exc}")
        relayed = client_subject in self.relays and client_subject != verified.org_id
        return await self.handle(body, request, verified.org_id, relayed=relayed)

    async def refuse_unauthenticated(self, raw: bytes, claimed: Claimed, code: str, reason_ja: str,
                                     wire: Wire | None = None) -> HttpReply:
        return await self._finish(raw, claimed.requester, claimed.provider, claimed.affair, claimed.items,
                                  claimed.message_id, None, Outcome.REFUSED, code, reason_ja, wire=wire)

    async def receive(self, raw: bytes, request: ExchangeRequest | None, signer: str | None,
                      refusal: tuple[Claimed, str, str] | None, client_subject: str | None, wire: Wire) -> HttpReply:
        """A message read by a protocol adapter (``/soap``): the certificate rule, then :meth:`handle`.

        ``signer`` is whose registered key verified the message (None if none did); ``refusal``
        what the adapter refuses it with (claimed fields, code, reason) when it could not be read.
        """
        if signer is not None and client_subject != signer and client_subject not in self.relays:
            log.warning("クライアント証明書 %s と署名者 %s が一致しません", client_subject, signer)
            if request is not None:
                claimed = Claimed(signer, request.provider, request.affair, request.items, request.message_id)
            else:
                c = refusal[0] if refusal is not None else Claimed()
                claimed = Claimed(signer, c.provider, c.affair, c.items, c.message_id)
            return await self.refuse_unauthenticated(
                raw, claimed, CERTIFICATE_MISMATCH,
                f"クライアント証明書の主体（{client_subject or 'なし'}）が署名した団体 {signer} と一致しません", wire)
        if refusal is not None or request is None or signer is None:
            claimed, code, reason_ja = refusal or (Claimed(), RefusalCode.MALFORMED, "照会を読み取れません")
            return await self.refuse_unauthenticated(raw, claimed, code, reason_ja, wire)
        relayed = client_subject in self.relays and client_subject != signer
        return await self.handle(raw, request, signer, relayed=relayed, wire=wire)

    async def handle(self, raw: bytes, request: ExchangeRequest, authenticated_org: str, *,
                     relayed: bool = False, wire: Wire | None = None) -> HttpReply:
        """An authenticated request, answered in its protocol. When the database cannot be reached,
        503 ``database_unavailable`` (retryable; a SOAP Fault on ``/soap``): nothing was provided,
        and nothing is in the exchange log (there is nowhere to write it)."""
        try:
            return await self._handle(raw, request, authenticated_org, relayed=relayed, wire=wire)
        except DATABASE_ERRORS as exc:  # the error's text may hold statement parameters: not logged
            log.error(DATABASE_DOWN_LOG, type(exc).__name__)
            return self._unavailable(request, RefusalCode.DATABASE_UNAVAILABLE, DATABASE_DOWN_TITLE,
                                     DATABASE_DOWN_DETAIL, wire or self.rest)

    async def _handle(self, raw: bytes, request: ExchangeRequest, authenticated_org: str, *,
                      relayed: bool = False, wire: Wire | None = None) -> HttpReply:
        async def refuse(code: str, reason: str, basis_id: str | None = None,
                         items: Iterable[str] = request.items) -> HttpReply:
            return await self._finish(raw, request.requester, request.provider, request.affair, tuple(items),
                                      request.message_id, request, Outcome.REFUSED, code, reason, basis_id=basis_id,
                                      wire=wire)

        if request.requester != authenticated_org:
            return await refuse(RefusalCode.REQUESTER_MISMATCH,
                                f"照会者 {request.requester} の照会が団体 {authenticated_org} の鍵で署名されています（なりすまし）")
        now = self.clock()
        if abs(now - parse_time(request.timestamp)) > self.window:
            return await refuse(RefusalCode.EXPIRED,
                                f"照会の時刻 {request.timestamp} がゲートウェイの時刻 {format_time(now)} から"
                                f"{int(self.window.total_seconds())}秒以上ずれています（期限切れ）")
        requester = self.directory.organisation(request.requester)
        provider = self.directory.organisation(request.provider)
        today = now.astimezone(JST).date()
        # Decided here, acted on after the nonce (a replay is refused as a replay first), so that
        # an allowed exchange answered by this data centre can have its registry read in the same
        # round trip as its nonce and 符号 lookup (PgRegistry.remember_and_read).
        decision = None if requester is None or provider is None else \
            self.table.authorise(requester.kind, request.affair, provider.kind, request.items, today)
        items: frozenset[str] = frozenset()
        if decision is not None and decision.allowed:
            items, _ = self.directory.expand_items(request.items)
        answered_here = decision is not None and decision.allowed and provider is not None \
            and provider.tenant_code is not None and provider.data_centre == self.data_centre
        # The nonce and, where the ports offer it, the 符号 lookup (and the registry read) in one
        # round trip; the looked-up row is checked only if the message gets that far.
        with_read = getattr(self.registry, "remember_and_read", None)
        both = getattr(self.nonces, "remember_and_translate", None)
        translated: Callable[[], tuple[str | None, str | None]] | None = None
        prefetched: Any = None
        if answered_here and with_read is not None and both is not None:
            assert provider is not None and provider.tenant_code is not None
            fresh, translated, prefetched = await with_read(self.nonces, request.requester, request.nonce, now,
                                                            request.subject, request.provider, provider.tenant_code,
                                                            items, today)
        elif both is not None:
            fresh, translated = await both(request.requester, request.nonce, now, request.subject, request.provider)
        else:
            fresh = await self.nonces.remember(request.requester, request.nonce, now)
        if not fresh:
            return await refuse(RefusalCode.REPLAYED, f"ノンス {request.nonce} はすでに使われています（再送攻撃の可能性）")
        if requester is None:
            return await refuse(RefusalCode.UNKNOWN_REQUESTER, f"照会者 {request.requester} は登録されていません")
        if provider is None:
            return await refuse(RefusalCode.UNKNOWN_PROVIDER, f"提供者 {request.provider} は登録されていません")
        assert decision is not None
        if not decision.allowed:
            return await refuse(decision.code, decision.reason_ja, decision.basis_id)
        granted = tuple(sorted(items))
        if provider.tenant_code is not None and provider.data_centre != self.data_centre and not relayed \
                and self.forwarder is not None and self.forwarder.serves(provider.data_centre):
            return await self._forward(raw, request, provider, decision, granted, wire or self.rest)
        if provider.tenant_code is None or provider.data_centre != self.data_centre:
            return await refuse(RefusalCode.NOT_HOSTED,
                                f"提供者 {provider.name_ja}（{provider.id}）はこのデータセンター（{self.data_centre}）の"
                                "団体ではありません", decision.basis_id, granted)
        return await self._answer(raw, request, requester, provider, decision, items, granted, today, wire,
                                  translated, prefetched)

    async def _answer(self, raw: bytes, request: ExchangeRequest, requester: Organisation, provider: Organisation,
                      decision: Decision, items: frozenset[str], granted: tuple[str, ...],
                      today: dt.date, wire: Wire | None,
                      translated: Callable[[], tuple[str | None, str | None]] | None = None,
                      prefetched: Any = None) -> HttpReply:
        assert provider.tenant_code is not None
        disclose_after = today + dt.timedelta(days=decision.secrecy_days) if decision.secrecy_days else None

        async def answer(outcome: Outcome, code: str, reason: str, subject: str | None = None,
                         values: dict[str, Any] | None = None, not_held: Iterable[str] = (),
                         access: PendingAccess | None = None) -> HttpReply:
            return await self._finish(raw, request.requester, request.provider, request.affair, granted,
                                      request.message_id, request, outcome, code, reason,
                                      basis_id=decision.basis_id, subject=subject, values=values or {},
                                      not_held=tuple(not_held), disclose_after=disclose_after, wire=wire,
                                      access=access)

        translate = getattr(self.codes, "translate", None)  # one round trip where the port offers it
        subject: str | None = None
        try:
            if translated is not None:
                person_key, subject = translated()
            elif translate is not None:
                person_key, subject = await translate(request.requester, request.subject, provider.id)
            else:
                person_key = await self.codes.resolve(request.requester, request.subject)
        except CodeError:
            log.error("符号の対応表が鍵と一致しません（照会者 %s）", request.requester)
            return await answer(Outcome.FAILED, RefusalCode.CODE_MISMATCH, "符号の対応を確認できません（処理を中止しました）")
        if person_key is None:
            return await answer(Outcome.NOT_FOUND, RefusalCode.UNKNOWN_CODE, "この符号は照会者に発行されたものではありません")
        if subject is None:
            subject = await self.codes.code_for(provider.id, person_key)
        purpose = f"情報連携 {request.affair}（照会者 {requester.id}、根拠 {decision.basis_id}）"
        # Where the port offers it, the read's access-log entry is stored with this exchange's log
        # entry, in the same commit (GroupCommitLog), rather than in a commit of its own.
        deferred = getattr(self.registry, "read_deferred", None)
        access: PendingAccess | None = None
        actor = gateway_actor(provider.tenant_code, requester.id)
        if deferred is not None:
            extra = {} if prefetched is None else {"prefetched": prefetched}
            (found, values, not_held), access = await deferred(provider.tenant_code, person_key, items, today, actor,
                                                               purpose, request.message_id, **extra)
        else:
            found, values, not_held = await self.registry.read(provider.tenant_code, person_key, items, today, actor,
                                                               purpose, request.message_id)
        if not found:
            return await answer(Outcome.NOT_FOUND, RefusalCode.NOT_RESIDENT,
                                f"{provider.name_ja}の住民記録に該当者はありません", subject)
        if not values:
            return await answer(Outcome.NOT_FOUND, RefusalCode.NOT_HELD,
                                f"{provider.name_ja}は照会された項目を保有していません", subject, not_held=not_held,
                                access=access)
        return await answer(Outcome.PROVIDED, "provided", decision.reason_ja, subject, values, not_held, access)

    # -- the other data centre --------------------------------------------------------------------

    async def _forward(self, raw: bytes, request: ExchangeRequest, provider: Organisation, decision: Decision,
                       granted: tuple[str, ...], wire: Wire) -> HttpReply:
        assert self.forwarder is not None
        dc = provider.data_centre
        status: int
        failure: tuple[Outcome, str, str, str] | None = None  # outcome, code, title, detail
        try:
            forwarded = await self.forwarder.forward(dc, raw, request, wire)
        except PeerUnavailable as exc:
            log.warning("データセンター %s のゲートウェイに接続できません: %s", dc, exc)
            status = 503
            failure = (Outcome.UNAVAILABLE, PEER_UNAVAILABLE, "提供者のデータセンターに接続できません",
                       f"提供者 {provider.name_ja}（{provider.id}）のデータセンター {dc} のゲートウェイが応答しません。"
                       f"照会は提供されていません。{RETRY_AFTER_SECONDS}秒以上待ってから、新しいメッセージ"
                       "（新しいノンスと時刻）で再送してください。")
        except PeerFailed as exc:
            log.error("データセンター %s のゲートウェイの応答を検証できません: %s", dc, exc)
            status = 502
            failure = (Outcome.FAILED, PEER_FAILED, "提供者のデータセンターの応答を確認できません",
                       f"データセンター {dc} のゲートウェイの応答を検証できませんでした（{exc}）。照会は提供されていません。")
        if failure is not None:
            outcome, code, title, detail = failure
            retryable = outcome == Outcome.UNAVAILABLE
            if wire.problems:
                content_type = PROBLEM_CONTENT_TYPE
                body = problem_document(status, code, title, detail, retryable=retryable,
                                        in_reply_to=request.message_id, data_centre=dc)
            else:  # a signed response of this gateway (a SOAP Fault), as for any other failure
                content_type = wire.content_type
                body = wire.encode(compose_response(
                    request.requester, request.provider, request.affair, request.message_id, request, outcome, code,
                    f"{title}: {detail}", None, (), self.clock()))
        else:
            status, body, content_type = forwarded.status, forwarded.body, wire.content_type
            try:
                outcome = Outcome(forwarded.response.status)
            except ValueError:
                outcome = Outcome.FAILED
        try:
            entry = await self.log.append(
                requester=request.requester, provider=request.provider, affair=request.affair, items=granted,
                outcome=outcome, request_digest=body_digest(raw), response_digest=body_digest(body),
                basis_id=decision.basis_id, message_id=request.message_id, kind=FORWARD, time=self.clock())
        except LogUnavailable as exc:
            return self._unavailable(request, RefusalCode.LOG_UNAVAILABLE, "情報連携ログに記録できません", str(exc), wire)
        headers = (("retry-after", str(RETRY_AFTER_SECONDS)),) if status == 503 else ()
        return HttpReply(status, body, content_type, entry.seq, headers)

    # -- log, then answer ---------------------------------------------------------------------------

    def _unavailable(self, request: ExchangeRequest, code: str, title: str, reason_ja: str, wire: Wire) -> HttpReply:
        """503, retryable, carrying no data and in no log entry: a problem, or (``wire.problems``
        false: SOAP) the wire's signed response with status ``unavailable``."""
        retry = (("retry-after", str(RETRY_AFTER_SECONDS)),)
        if not wire.problems:
            body = wire.encode(compose_response(
                request.requester, request.provider, request.affair, request.message_id, request, Outcome.UNAVAILABLE,
                code, reason_ja, None, (), self.clock()))
            return HttpReply(503, body, wire.content_type, None, retry)
        body = problem_document(503, code, title, reason_ja, retryable=True, in_reply_to=request.message_id)
        return HttpReply(503, body, PROBLEM_CONTENT_TYPE, None, retry)

    async def _finish(self, raw: bytes, requester: str, provider: str, affair: str | None, items: tuple[str, ...],
                      message_id: str | None, request: ExchangeRequest | None, outcome: Outcome, code: str,
                      reason_ja: str, *, basis_id: str | None = None, subject: str | None = None,
                      values: dict[str, Any] | None = None, not_held: tuple[str, ...] = (),
                      disclose_after: dt.date | None = None, wire: Wire | None = None,
                      access: PendingAccess | None = None) -> HttpReply:
        encode, content_type = (wire.encode, wire.content_type) if wire is not None else (self.encode, CONTENT_TYPE)
        now = self.clock()
        response = compose_response(requester, provider, affair, message_id, request, outcome, code, reason_ja,
                                    values, not_held, now)
        body = encode(response)
        try:
            fields = log_fields(raw, body, requester, provider, affair, items, message_id, outcome, basis_id=basis_id,
                                subject=subject, disclose_after=disclose_after, now=now)
            if access is not None:  # the registry read's access-log entry, stored in the same commit
                fields["access"] = access
            entry = await self.log.append(**fields)
        except LogUnavailable as exc:
            # Nothing is released: a signed "unavailable" reply without data, as the synchronous service.
            unavailable = unavailable_response(response, str(exc), now)
            return HttpReply(503, encode(unavailable), content_type, None,
                             (("retry-after", str(RETRY_AFTER_SECONDS)),))
        status = _STATUS.get(code, 200 if outcome in (Outcome.PROVIDED, Outcome.NOT_FOUND) else 403)
        return HttpReply(status, body, content_type, entry.seq)
