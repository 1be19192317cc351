"""Compact JWS (RFC 7515) with EdDSA / Ed25519 (RFC 8037) for the REST/JSON adapter.

``BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(Ed25519(header_b64 "." payload_b64))``

- The header is ``{"alg": "EdDSA", "kid": "<organisation id>/<key id>", "typ": "moyai-exchange+jws"}``.
  Only ``EdDSA`` is accepted: ``none``, HMAC and every other algorithm are refused, whatever the
  header says, and a header with other members (``jwk``, ``x5u``, ``crit`` …) is refused, so a
  message can never bring its own key.
- ``kid`` names the signing organisation; the key is looked up in the verifier's registry of
  peer public keys (:class:`PeerKeys`), never taken from the message. The organisation the key
  belongs to is the authenticated sender; the adapter then requires the payload's ``requester``
  to be that organisation.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .signing import ED25519, Ed25519Signer, _verify_ed25519

__all__ = ["JWS_TYPE", "JwsError", "PeerKeys", "Verified", "sign", "verify"]

JWS_TYPE: Final = "moyai-exchange+jws"
KID_RE: Final = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})/(k[0-9]{4,9})$")
MAX_JWS_BYTES: Final = 1 << 20


class JwsError(ValueError):
    """A message that is not a valid signed message (reason in Japanese)."""

    def __init__(self, reason_ja: str, *, kid: str | None = None) -> None:
        super().__init__(reason_ja)
        self.reason_ja = reason_ja
        self.kid = kid


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise JwsError("JWS の base64url が正しくありません")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise JwsError("JWS の base64url が正しくありません") from None


class PeerKeys:
    """Public keys of the organisations (organisation id → key id → raw 32-byte Ed25519 key)."""

    def __init__(self, keys: Mapping[str, Mapping[str, bytes]] | None = None) -> None:
        self._keys: dict[str, dict[str, bytes]] = {org: dict(ks) for org, ks in (keys or {}).items()}

    def add(self, org_id: str, key_id: str, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise ValueError("Ed25519 の公開鍵は32バイトです")
        self._keys.setdefault(org_id, {})[key_id] = public_key

    def get(self, org_id: str, key_id: str) -> bytes | None:
        return self._keys.get(org_id, {}).get(key_id)


@functools.lru_cache(maxsize=256)
def _protected_header(org_id: str, key_id: str) -> str:
    """The base64url protected header of a signer's JWS (the same for every message it signs)."""
    return _b64u(json.dumps({"alg": ED25519, "kid": f"{org_id}/{key_id}", "typ": JWS_TYPE},
                            separators=(",", ":"), sort_keys=True).encode("ascii"))


def sign(payload: bytes, signer: Ed25519Signer, org_id: str) -> bytes:
    """Compact JWS of ``payload`` signed by ``org_id`` with ``signer`` (kid ``org/key id``)."""
    signing_input = f"{_protected_header(org_id, signer.key_id)}.{_b64u(payload)}".encode("ascii")
    return signing_input + b"." + _b64u(signer.sign(signing_input)).encode("ascii")


@dataclass(frozen=True)
class Verified:
    #: the organisation whose key made the signature (the authenticated sender)
    org_id: str
    key_id: str
    payload: bytes


def unverified_payload(message: bytes) -> bytes | None:
    """The payload of a compact JWS without checking anything (only to log who claimed to send it)."""
    parts = message.split(b".")
    if len(parts) != 3:
        return None
    try:
        return _unb64u(parts[1].decode("ascii"))
    except (JwsError, UnicodeDecodeError):
        return None


def verify(message: bytes, keys: PeerKeys) -> Verified:
    """Check a compact JWS against the registered peer keys; :class:`JwsError` if anything is wrong."""
    if len(message) > MAX_JWS_BYTES:
        raise JwsError("メッセージが大きすぎます")
    parts = message.split(b".")
    if len(parts) != 3:
        raise JwsError("署名付きメッセージ（JWS コンパクト形式）ではありません")
    try:
        header_b64, payload_b64, sig_b64 = (p.decode("ascii") for p in parts)
    except UnicodeDecodeError:
        raise JwsError("JWS に ASCII 以外の文字があります") from None
    header_bytes = _unb64u(header_b64)
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise JwsError("JWS のヘッダーが JSON ではありません") from None
    if not isinstance(header, dict) or set(header) - {"alg", "kid", "typ"}:
        raise JwsError("JWS のヘッダーに受け付けない項目があります")
    kid = header.get("kid")
    if header.get("alg") != ED25519:
        raise JwsError(f"署名方式 {header.get('alg')!r} は受け付けません（EdDSA のみ）",
                       kid=kid if isinstance(kid, str) else None)
    if header.get("typ") not in (None, JWS_TYPE):
        raise JwsError("JWS の typ が違います")
    m = KID_RE.match(kid) if isinstance(kid, str) else None
    if m is None:
        raise JwsError("JWS の kid（団体/鍵）が正しくありません")
    org_id, key_id = m.group(1), m.group(2)
    public_key = keys.get(org_id, key_id)
    if public_key is None:
        raise JwsError(f"団体 {org_id} の鍵 {key_id} は登録されていません", kid=kid)
    signature = _unb64u(sig_b64)
    if not _verify_ed25519(public_key, f"{header_b64}.{payload_b64}".encode("ascii"), signature):
        raise JwsError(f"署名が正しくありません（団体 {org_id} の鍵 {key_id} で検証できません。偽造または改変）", kid=kid)
    return Verified(org_id, key_id, _unb64u(payload_b64))
