"""The exchange service: authenticate → check time and nonce → authorise → convert 符号 → fetch → log → answer.

Protocol-independent: an adapter (:mod:`.rest` for REST/JSON + JWS) turns the bytes it received
into an :class:`~.domain.message.ExchangeRequest` and the name of the organisation whose
signature it verified, and gives an ``encode`` function that turns the response into the bytes
it will send. The service logs every outcome — provided, not found, refused (forged, expired,
replayed, no legal basis …) — with the SHA-256 of the received bytes and of the bytes to be
sent, **before** returning them; when the log entry cannot be written it returns a retryable
"unavailable" reply that carries no data instead (:class:`~.store.LogUnavailable`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo

from moyai.platform.tenancy.scope import tenant_scope

from .domain.codes import CodeError, CodeService, is_code
from .domain.legal_basis import LegalBasisTable, legal_basis_table
from .domain.log import Outcome, body_digest, format_time, parse_time
from .domain.message import ExchangeRequest, ExchangeResponse, new_message_id, new_nonce
from .domain.organisations import Directory, directory
from .nonces import NonceCache
from .registry import RegistryReadModel, gateway_actor
from .store import LogStore, LogUnavailable

__all__ = ["DEFAULT_WINDOW", "ExchangeService", "RefusalCode", "Reply"]

log = logging.getLogger(__name__)

JST: Final = ZoneInfo("Asia/Tokyo")
DEFAULT_WINDOW: Final = dt.timedelta(minutes=5)
UNKNOWN: Final = "unknown"


class RefusalCode:
    """Machine-readable reasons (``ExchangeResponse.code``) besides the legal-basis ones."""

    FORGED: Final = "forged"  # no valid signature of a registered key
    MALFORMED: Final = "malformed"  # signed, but not a canonical request
    REQUESTER_MISMATCH: Final = "requester_mismatch"  # signed by another organisation than the requester
    EXPIRED: Final = "expired"  # timestamp outside the window
    REPLAYED: Final = "replayed"  # nonce seen before
    UNKNOWN_REQUESTER: Final = "unknown_requester"
    UNKNOWN_PROVIDER: Final = "unknown_provider"
    NOT_HOSTED: Final = "provider_not_hosted"  # provider is not a 団体 of this data centre
    UNKNOWN_CODE: Final = "unknown_code"  # the requester's 符号 is not one it was issued
    NOT_RESIDENT: Final = "not_in_registry"
    NOT_HELD: Final = "not_held"
    CODE_MISMATCH: Final = "code_mismatch"
    LOG_UNAVAILABLE: Final = "log_unavailable"
    DATABASE_UNAVAILABLE: Final = "database_unavailable"  # the gateway's database could not be reached


#: HTTP status of a reply by response code (default: 200 provided / not found, 403 other refusals)
HTTP_STATUS: Final = {RefusalCode.FORGED: 401, RefusalCode.REQUESTER_MISMATCH: 401, RefusalCode.EXPIRED: 401,
                      RefusalCode.MALFORMED: 400, RefusalCode.REPLAYED: 409, RefusalCode.CODE_MISMATCH: 500,
                      RefusalCode.LOG_UNAVAILABLE: 503, RefusalCode.DATABASE_UNAVAILABLE: 503}


def compose_response(requester: str, provider: str, affair: str | None, message_id: str | None,
                     request: ExchangeRequest | None, outcome: Outcome, code: str, reason_ja: str,
                     values: dict[str, Any] | None, not_held: tuple[str, ...], now: dt.datetime) -> ExchangeResponse:
    """The answer to an exchange (provided or refused), before it is logged: shared by this
    synchronous service and the ASGI server (``server/exchange.py``)."""
    return ExchangeResponse(
        message_id=new_message_id(), in_reply_to=message_id, requester=requester, provider=provider,
        affair=affair, subject=request.subject if request is not None else None, status=str(outcome),
        code=code, reason_ja=reason_ja, nonce=new_nonce(), timestamp=format_time(now), items=values or {},
        not_held=not_held, retryable=outcome == Outcome.UNAVAILABLE)


def unavailable_response(response: ExchangeResponse, reason_ja: str, now: dt.datetime) -> ExchangeResponse:
    """What replaces ``response`` when its log entry cannot be written: no data, retry with a new message."""
    return ExchangeResponse(
        message_id=new_message_id(), in_reply_to=response.in_reply_to, requester=response.requester,
        provider=response.provider, affair=response.affair, subject=response.subject,
        status=str(Outcome.UNAVAILABLE), code=RefusalCode.LOG_UNAVAILABLE, reason_ja=reason_ja, nonce=new_nonce(),
        timestamp=format_time(now), retryable=True)


def log_fields(raw: bytes, body: bytes, requester: str, provider: str, affair: str | None, items: tuple[str, ...],
               message_id: str | None, outcome: Outcome, *, basis_id: str | None, subject: str | None,
               disclose_after: dt.date | None, now: dt.datetime) -> dict[str, Any]:
    """The log entry's fields of an exchange and its answer (both log stores take them)."""
    return {"requester": requester or UNKNOWN, "provider": provider or UNKNOWN, "affair": affair, "items": items,
            "outcome": outcome, "request_digest": body_digest(raw), "response_digest": body_digest(body),
            "basis_id": basis_id, "subject": subject if subject is not None and is_code(subject) else None,
            "message_id": message_id, "disclose_after": disclose_after, "time": now}


@dataclass(frozen=True)
class Reply:
    """What the adapter sends back: the response, its bytes, and the log entry (None: nothing logged)."""

    response: ExchangeResponse
    body: bytes
    http_status: int
    log_seq: int | None


@dataclass(frozen=True)
class Claimed:
    """What an unauthenticated message claims (only for the log of its refusal)."""

    requester: str = UNKNOWN
    provider: str = UNKNOWN
    affair: str | None = None
    items: tuple[str, ...] = ()
    message_id: str | None = None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ExchangeService:
    """One data centre's gateway (``data_centre``: ``a`` or ``b``)."""

    data_centre: str
    log_store: LogStore
    codes: CodeService
    nonces: NonceCache
    registry: RegistryReadModel
    window: dt.timedelta = DEFAULT_WINDOW
    clock: Callable[[], dt.datetime] = _utcnow
    directory: Directory = field(default_factory=directory)
    table: LegalBasisTable = field(default_factory=legal_basis_table)

    # -- entry points for adapters ---------------------------------------------------------------

    def refuse_unauthenticated(self, raw: bytes, claimed: Claimed, code: str, reason_ja: str,
                               encode: Callable[[ExchangeResponse], bytes]) -> Reply:
        """A message that could not be authenticated or parsed: refused and logged."""
        return self._finish(raw, claimed.requester, claimed.provider, claimed.affair, claimed.items,
                            claimed.message_id, None, Outcome.REFUSED, code, reason_ja, encode)

    def handle(self, raw: bytes, request: ExchangeRequest, authenticated_org: str,
               encode: Callable[[ExchangeResponse], bytes]) -> Reply:
        """An authenticated request: check sender, time, nonce, legal basis, then answer."""
        def refuse(code: str, reason: str, basis_id: str | None = None, items: Iterable[str] = request.items) -> Reply:
            return self._finish(raw, request.requester, request.provider, request.affair, tuple(items),
                                request.message_id, request, Outcome.REFUSED, code, reason, encode, basis_id=basis_id)

        if request.requester != authenticated_org:
            return refuse(RefusalCode.REQUESTER_MISMATCH,
                          f"照会者 {request.requester} の照会が団体 {authenticated_org} の鍵で署名されています（なりすまし）")
        now = self.clock()
        sent = parse_time(request.timestamp)
        if abs(now - sent) > self.window:
            return refuse(RefusalCode.EXPIRED,
                          f"照会の時刻 {request.timestamp} がゲートウェイの時刻 {format_time(now)} から"
                          f"{int(self.window.total_seconds())}秒以上ずれています（期限切れ）")
        if not self.nonces.remember(request.requester, request.nonce, now):
            return refuse(RefusalCode.REPLAYED, f"ノンス {request.nonce} はすでに使われています（再送攻撃の可能性）")
        requester = self.directory.organisation(request.requester)
        provider = self.directory.organisation(request.provider)
        if requester is None:
            return refuse(RefusalCode.UNKNOWN_REQUESTER, f"照会者 {request.requester} は登録されていません")
        if provider is None:
            return refuse(RefusalCode.UNKNOWN_PROVIDER, f"提供者 {request.provider} は登録されていません")
        today = now.astimezone(JST).date()
        decision = self.table.authorise(requester.kind, request.affair, provider.kind, request.items, today)
        if not decision.allowed:
            return refuse(decision.code, decision.reason_ja, decision.basis_id)
        items, _ = self.directory.expand_items(request.items)
        granted = tuple(sorted(items))
        if provider.tenant_code is None or provider.data_centre != self.data_centre:
            return refuse(RefusalCode.NOT_HOSTED,
                          f"提供者 {provider.name_ja}（{provider.id}）はこのデータセンター（{self.data_centre}）の"
                          "団体ではありません", decision.basis_id, granted)
        disclose_after = today + dt.timedelta(days=decision.secrecy_days) if decision.secrecy_days else None

        def answer(outcome: Outcome, code: str, reason: str, subject: str | None = None,
                   values: dict[str, Any] | None = None, not_held: Iterable[str] = ()) -> Reply:
            return self._finish(raw, request.requester, request.provider, request.affair, granted,
                                request.message_id, request, outcome, code, reason, encode,
                                basis_id=decision.basis_id, subject=subject, values=values or {},
                                not_held=tuple(not_held), disclose_after=disclose_after)

        try:
            person_key = self.codes.resolve(request.requester, request.subject)
        except CodeError:
            log.error("符号の対応表が鍵と一致しません（照会者 %s）", request.requester)
            return answer(Outcome.FAILED, RefusalCode.CODE_MISMATCH, "符号の対応を確認できません（処理を中止しました）")
        if person_key is None:
            return answer(Outcome.NOT_FOUND, RefusalCode.UNKNOWN_CODE, "この符号は照会者に発行されたものではありません")
        subject = self.codes.code_for(provider.id, person_key)
        purpose = f"情報連携 {request.affair}（照会者 {requester.id}、根拠 {decision.basis_id}）"
        actor = gateway_actor(provider.tenant_code, requester.id)
        with tenant_scope(provider.tenant_code):
            atena_no = self.registry.atena_no_for(person_key)
            values, not_held = ({}, list(granted)) if atena_no is None else \
                self.registry.fetch(atena_no, items, today, actor, purpose)
        if atena_no is None:
            return answer(Outcome.NOT_FOUND, RefusalCode.NOT_RESIDENT,
                          f"{provider.name_ja}の住民記録に該当者はありません", subject)
        if not values:
            return answer(Outcome.NOT_FOUND, RefusalCode.NOT_HELD,
                          f"{provider.name_ja}は照会された項目を保有していません", subject, not_held=not_held)
        return answer(Outcome.PROVIDED, "provided", decision.reason_ja, subject, values, not_held)

    # -- log, then answer ------------------------------------------------------------------------------

    def _finish(self, raw: bytes, requester: str, provider: str, affair: str | None, items: tuple[str, ...],
                message_id: str | None, request: ExchangeRequest | None, outcome: Outcome, code: str,
                reason_ja: str, encode: Callable[[ExchangeResponse], bytes], *, basis_id: str | None = None,
                subject: str | None = None, values: dict[str, Any] | None = None, not_held: tuple[str, ...] = (),
                disclose_after: dt.date | None = None) -> Reply:
        now = self.clock()
        response = compose_response(requester, provider, affair, message_id, request, outcome, code, reason_ja,
                                    values, not_held, now)
        body = encode(response)
        try:
            entry = self.log_store.append(**log_fields(
                raw, body, requester, provider, affair, items, message_id, outcome, basis_id=basis_id,
                subject=subject, disclose_after=disclose_after, now=now))
        except LogUnavailable as exc:
            # Nothing is released: the reply carries no data and says to retry with a new message.
            unavailable = unavailable_response(response, str(exc), now)
            return Reply(unavailable, encode(unavailable), 503, None)
        status = HTTP_STATUS.get(code, 200 if outcome in (Outcome.PROVIDED, Outcome.NOT_FOUND) else 403)
        return Reply(response, body, status, entry.seq)
