"""コンビニ交付: a certificate for the holder of a registered card key, at the kiosk's request.

:func:`issue_at_kiosk` takes the token (:mod:`.kiosk_token`) and, in this order, refuses

1. a token that is not well formed (401), for an unknown 団体 (404);
2. a card that is not registered or no longer active, or a signature the card's key did not make
   (401: forgery);
3. a request timestamped outside ``window_seconds`` of now (401: expired, or from the future);
4. outside the 団体's opening hours (parameter ``kiosk_hours``: ``open``/``close`` as HH:MM,
   optional ``closed_dates``) (403);
5. a nonce the card has already used (409: replay);
6. a kind or an optional item a kiosk may not issue (``data/kiosk.yaml``) (400);

then issues the cardholder's 住民票の写し (個人票) or their whole household's (世帯連記式) with the
``kiosk_fee`` from the parameters, recorded in the 交付履歴 with channel コンビニ交付. Refusals of
steps 2–6 are written to the 団体's access log (``denied:kiosk.issue``) in their own transaction.
The checks (and the nonce) are committed before the issuance: a request that then fails has used
its nonce. 支援措置 and 抑止 apply as at the counter, with the cardholder as 本人 (a refusal is a
``blocked:issuance`` entry of the access log, shown to the 団体's admin).

Cards are registered by staff with :func:`register_card` (permission ``kiosk.cards``).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from moyai.platform.audit import services as audit
from moyai.platform.codes import datafiles
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.errors import TenancyError
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import get_tenant, parameter
from moyai.residents import selectors
from moyai.residents.domain.model import JST

from .domain import PACKAGE, CertificateError, CertificateErrorCode, CertificateKind, Form, Requester, parse_items
from .kiosk_token import KioskToken, TokenError, parse_public_key, parse_token, verify_signature
from .models import Channel, KioskCard, KioskNonce
from .services import CertificateRequest, IssuedCertificate, issue_certificate, signer_for

CARDS_PERMISSION = "kiosk.cards"


@dataclass(frozen=True)
class KioskRules:
    kinds: frozenset[str]
    items: frozenset[str]
    window: dt.timedelta
    purpose: str


@functools.cache
def kiosk_rules() -> KioskRules:
    df = datafiles.load(PACKAGE, "kiosk")
    e = df.entries
    if not isinstance(e, dict):
        raise datafiles.DataFileError(f"{df.path}: entries はマッピングです")
    return KioskRules(frozenset(e["kinds"]), frozenset(e["items"]), dt.timedelta(seconds=int(e["window_seconds"])),
                      str(e["purpose"]))


def _refuse(message: str, status: int, field: str | None = None) -> CertificateError:
    return CertificateError(CertificateErrorCode.KIOSK, message, status=status, field=field)


def _hhmm(value: Any, key: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise CertificateError(CertificateErrorCode.PARAMETER, f"団体パラメータ kiosk_hours の {key} が正しくありません"
                               ) from None


def check_hours(now: dt.datetime) -> None:
    """Refuse outside the 団体's opening hours (parameter ``kiosk_hours``, in force today)."""
    local = now.astimezone(JST)
    try:
        hours = parameter("kiosk_hours", local.date())
    except KeyError:
        raise CertificateError(CertificateErrorCode.PARAMETER, "団体パラメータ kiosk_hours が設定されていません") from None
    if not isinstance(hours, dict):
        raise CertificateError(CertificateErrorCode.PARAMETER, "団体パラメータ kiosk_hours が正しくありません")
    opens, closes = _hhmm(hours.get("open"), "open"), _hhmm(hours.get("close"), "close")
    closed = {str(d) for d in hours.get("closed_dates", [])}
    span = f"{opens:%H:%M}〜{closes:%H:%M}"
    if local.date().isoformat() in closed:
        raise _refuse(f"本日（{local:%Y年%m月%d日}）はコンビニ交付を休止しています", 403)
    if not opens <= local.time().replace(tzinfo=None) < closes:
        raise _refuse(f"コンビニ交付の利用時間外です（利用時間 {span}）", 403)


def _request_of(token: KioskToken, atena_no: str) -> CertificateRequest:
    rules = kiosk_rules()
    if token.request.kind not in rules.kinds:
        raise _refuse("この証明書はコンビニ交付では発行できません", 400, "kind")
    refused = sorted(set(token.request.items) - rules.items)
    if refused:
        raise _refuse(f"コンビニ交付では記載できない事項が指定されています（{'、'.join(refused)}）", 400, "items")
    household = token.request.scope == "household"
    items = parse_items(token.request.items)
    return CertificateRequest(
        atena_no=atena_no, kind=CertificateKind(token.request.kind), form=Form.HOUSEHOLD if household else Form.INDIVIDUAL,
        requester=Requester.SELF, items=items, purpose=rules.purpose if items else "",
        requester_name="本人（コンビニ交付）", requested_by=atena_no,
    )


def issue_at_kiosk(token_text: str, *, now: dt.datetime | None = None,
                   expect_tenant: str | None = None) -> IssuedCertificate:
    """Check the kiosk token and issue the cardholder's certificate (see the module's docstring).

    ``expect_tenant``: the 団体 the kiosk addressed (the URL); the signed token must name it."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        token = parse_token(token_text)
    except TokenError as exc:
        raise _refuse(exc.message, 401, "token") from None
    if expect_tenant is not None and token.tenant != expect_tenant:
        raise _refuse("要求の団体コードが宛先の団体と一致しません", 401, "token")
    try:
        get_tenant(token.tenant)
    except TenancyError:
        raise _refuse("この団体はコンビニ交付を行っていません", 404, "token") from None
    actor = Principal("kiosk", token.card, token.tenant, frozenset(), frozenset())
    try:
        with tenant_scope(token.tenant):  # committed on its own: a used nonce stays used
            req = _checked_request(token, now)
    except CertificateError as exc:
        if exc.code == CertificateErrorCode.KIOSK:
            audit.record_denied(token.tenant, actor, "denied:kiosk.issue", exc.message)
        raise
    # 支援措置 and 抑止 apply as at the counter; a refusal is kept as a blocked attempt
    return issue_certificate(actor, req, signer_for(token.tenant), sequence=None, now=now.astimezone(JST),
                             channel=Channel.KIOSK)


def _checked_request(token: KioskToken, now: dt.datetime) -> CertificateRequest:
    card = KioskCard.objects.filter(card_id=token.card, active=True).first()
    if card is None:
        raise _refuse("このカードはコンビニ交付に登録されていません", 401, "token")
    try:
        verify_signature(token, parse_public_key(card.public_key))
    except TokenError as exc:
        raise _refuse(exc.message, 401, "token") from None
    window = kiosk_rules().window
    sent = dt.datetime.fromtimestamp(token.ts, dt.UTC)
    if abs(now - sent) > window:
        raise _refuse(f"要求の有効時間（{int(window.total_seconds())}秒）を過ぎています。もう一度カードをかざしてください",
                      401, "token")
    check_hours(now)
    KioskNonce.objects.filter(seen_at__lt=now - 2 * window).delete()  # older ones fail the window anyway
    try:
        with transaction.atomic():
            KioskNonce.objects.create(card_id=token.card, nonce=token.nonce, seen_at=now)
    except IntegrityError:
        raise _refuse("この要求は既に使われています（再送は受け付けません）", 409, "token") from None
    return _request_of(token, card.atena_no)


# --- cards ----------------------------------------------------------------------------------------


def register_card(actor: Principal, atena_no: str, card_id: str, public_key: str) -> KioskCard:
    """Register (or replace) a resident's card key; the resident must be on the registry."""
    if CARDS_PERMISSION not in actor.permissions:
        audit.record_denied(actor.tenant_code, actor, f"denied:{CARDS_PERMISSION}", "権限がありません")
        raise CertificateError(CertificateErrorCode.NOT_ALLOWED, "カードを登録する権限がありません", status=403)
    try:
        raw = parse_public_key(public_key)
    except TokenError as exc:
        raise CertificateError(CertificateErrorCode.FORM, exc.message, field="public_key") from None
    if not card_id or len(card_id) > 64 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in card_id) \
            or len(card_id) < 4:
        raise CertificateError(CertificateErrorCode.FORM, "カードIDは英数字・-・_ の4〜64文字です", field="card_id")
    from .kiosk_token import b64

    with tenant_scope(actor.tenant_code):
        view = selectors.resident_view(actor, atena_no, purpose="コンビニ交付の利用登録")
        if not view.record.is_resident:
            raise CertificateError(CertificateErrorCode.WRONG_STATUS, "住民票が消除されている人は登録できません",
                                   field="atena_no")
        KioskCard.objects.filter(card_id=card_id).delete()
        card = KioskCard.objects.create(card_id=card_id, atena_no=atena_no, public_key=b64(raw), active=True,
                                        registered_at=dt.datetime.now(dt.UTC), registered_by=actor.label)
        audit.record(actor, "kiosk.card.register", [atena_no], purpose="コンビニ交付の利用登録",
                     detail={"card_id": card_id})
    return card
