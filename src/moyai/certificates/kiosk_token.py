"""The コンビニ交付 request token: what a kiosk sends on behalf of the resident's card (no Django).

In production the kiosk reads the マイナンバーカード and the 利用者証明用電子証明書 signs the request
(through J-LIS's 証明書交付センター). Here a *card key* stands in for it: an Ed25519 key pair
whose public half is registered per resident (:class:`~.models.KioskCard`). The token is::

    base64url(body) "." base64url(Ed25519 signature over the body's bytes)

with ``body`` the canonical JSON (UTF-8, sorted keys, no spaces) of::

    {"v": 1, "tenant": "352152", "card": "<card id>", "nonce": "<16–64 of A–Z a–z 0–9 _ ->",
     "ts": <Unix seconds>, "request": {"kind": "resident_copy", "scope": "self" | "household",
                                        "items": ["head_relationship", …]}}

:func:`parse_token` checks the form only; the signature, the time window and the nonce are
checked against the registered card by :mod:`.kiosk`. :func:`make_token` is the card side (tests,
the demo kiosk).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from .domain import canonical_json

MAX_TOKEN_CHARS: Final = 2048
_NONCE: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CARD: Final = re.compile(r"[A-Za-z0-9_-]{4,64}")
SCOPES: Final = ("self", "household")


class TokenError(ValueError):
    """A token that is not well formed or not genuine; ``message`` in Japanese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class KioskRequest:
    kind: str
    scope: str  # self: the cardholder's 個人票; household: the whole 世帯 (世帯連記式)
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class KioskToken:
    tenant: str
    card: str
    nonce: str
    ts: int  # Unix seconds
    request: KioskRequest
    body: bytes  # the signed bytes
    signature: bytes


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str, what: str) -> bytes:
    if not text or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text) or len(text) % 4 == 1:
        raise TokenError(f"{what}の符号化が正しくありません")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError(f"{what}の符号化が正しくありません") from None
    if b64(raw) != text:  # unused low bits set: another spelling of the same bytes
        raise TokenError(f"{what}の符号化が正規形ではありません")
    return raw


def _str(obj: dict[str, Any], key: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str):
        raise TokenError(f"トークンの {key} がありません")
    return v


def parse_token(text: str) -> KioskToken:
    """The token's fields, checked for form only (not the signature)."""
    if not isinstance(text, str) or len(text) > MAX_TOKEN_CHARS or text.count(".") != 1:
        raise TokenError("コンビニ交付の要求の形式が正しくありません")
    body_b64, sig_b64 = text.split(".")
    body, sig = unb64(body_b64, "要求"), unb64(sig_b64, "署名")
    if len(sig) != 64:
        raise TokenError("署名の長さが正しくありません")
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise TokenError("要求の内容が JSON ではありません") from None
    if not isinstance(obj, dict) or obj.get("v") != 1:
        raise TokenError("要求の版が正しくありません")
    if canonical_json(obj) != body:
        raise TokenError("要求が正規化された JSON ではありません")
    tenant, card, nonce = _str(obj, "tenant"), _str(obj, "card"), _str(obj, "nonce")
    if not (len(tenant) == 6 and tenant.isascii() and tenant.isdigit()):
        raise TokenError("団体コードが正しくありません")
    if not _CARD.fullmatch(card):
        raise TokenError("カードIDが正しくありません")
    if not _NONCE.fullmatch(nonce):
        raise TokenError("ノンスが正しくありません（英数字16〜64文字）")
    ts = obj.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 < ts < 2**40:
        raise TokenError("要求の時刻が正しくありません")
    req = obj.get("request")
    if not isinstance(req, dict):
        raise TokenError("請求の内容がありません")
    kind, scope = _str(req, "kind"), _str(req, "scope")
    if scope not in SCOPES:
        raise TokenError("請求の範囲は self か household です")
    items = req.get("items", [])
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items) or len(items) > 20:
        raise TokenError("記載事項の指定が正しくありません")
    if set(obj) - {"v", "tenant", "card", "nonce", "ts", "request"} or set(req) - {"kind", "scope", "items"}:
        raise TokenError("要求に不明な項目があります")
    return KioskToken(tenant, card, nonce, ts, KioskRequest(kind, scope, tuple(items)), body, sig)


def verify_signature(token: KioskToken, public_key: bytes) -> None:
    """Raises :class:`TokenError` unless the card key ``public_key`` (32 raw bytes) signed the body."""
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(token.signature, token.body)
    except (InvalidSignature, ValueError):
        raise TokenError("カードの署名が正しくありません") from None


def make_token(card_key: ed25519.Ed25519PrivateKey, *, tenant: str, card: str, nonce: str, ts: int,
               kind: str = "resident_copy", scope: str = "self", items: tuple[str, ...] = ()) -> str:
    """The card side: sign a request (tests and the demo kiosk)."""
    body = canonical_json({"v": 1, "tenant": tenant, "card": card, "nonce": nonce, "ts": ts,
                           "request": {"kind": kind, "scope": scope, "items": list(items)}})
    return b64(body) + "." + b64(card_key.sign(body))


def public_key_text(card_key: ed25519.Ed25519PrivateKey) -> str:
    """The card's public key as registered (raw 32 bytes, base64url)."""
    from cryptography.hazmat.primitives import serialization

    return b64(card_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def parse_public_key(text: str) -> bytes:
    raw = unb64(text.strip(), "公開鍵")
    if len(raw) != 32:
        raise TokenError("公開鍵は Ed25519 の32バイトです")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise TokenError("公開鍵が正しくありません") from None
    return raw
