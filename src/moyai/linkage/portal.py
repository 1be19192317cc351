"""Credentials of the portal API (情報提供等記録): portal client tokens and card tokens.

- Portal: ``Authorization: Bearer moyaiportal_<portal id>_<secret>``; the hash of the secret is in
  :class:`PortalClient`.
- Resident: ``X-Moyai-Card: moyaicard_<団体コード>_<prefix>_<secret>``, standing in for what a
  real portal gets from the 個人番号カード (the 利用者証明用電子証明書 and, through 住基ネット
  (標準仕様書 7.1.2.4), its serial number mapped to the person). The 団体 issues it to the
  resident; the platform maps it to the 宛名番号 inside the 団体's scope.
Both secrets are compared by hash in constant time; neither is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

from django.utils import timezone

from moyai.platform.codes.checkdigits import check_local_government_code
from moyai.platform.errors import DomainError
from moyai.platform.tenancy.scope import tenant_scope

from .models import CardToken, PortalClient

__all__ = ["PortalError", "Resident", "authenticate_portal", "issue_card_token", "register_portal", "resident_of"]

PORTAL_RE: Final = re.compile(r"^moyaiportal_([a-z0-9-]{1,40})_([A-Za-z0-9_-]{20,100})$")
CARD_RE: Final = re.compile(r"^moyaicard_([0-9]{6})_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")


class PortalError(DomainError):
    pass


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def register_portal(portal_id: str, name_ja: str) -> str:
    """Register a portal; returns its token (shown once, only the hash is kept)."""
    secret = secrets.token_urlsafe(32)
    PortalClient.objects.update_or_create(id=portal_id, defaults={"name_ja": name_ja, "token_hash": _hash(secret),
                                                                  "active": True})
    return f"moyaiportal_{portal_id}_{secret}"


def authenticate_portal(header: str) -> PortalClient:
    m = PORTAL_RE.match(header.removeprefix("Bearer ").strip()) if header.startswith("Bearer ") else None
    client = PortalClient.objects.filter(id=m.group(1), active=True).first() if m else None
    if m is None or client is None or not hmac.compare_digest(client.token_hash, _hash(m.group(2))):
        raise PortalError("portal_unauthenticated", "ポータルの認証に失敗しました（トークンが無効です）", status=401)
    return client


def issue_card_token(atena_no: str) -> str:
    """A card token for a resident of the active 団体 (returned once)."""
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    token = CardToken.objects.create(prefix=prefix, token_hash=_hash(secret), atena_no=atena_no)
    return f"moyaicard_{token.tenant_id}_{prefix}_{secret}"


@dataclass(frozen=True)
class Resident:
    tenant_code: str
    atena_no: str


def resident_of(card: str) -> Resident:
    """The resident a card token stands for (refused: unknown, revoked, malformed)."""
    m = CARD_RE.match(card.strip())
    if m is None or check_local_government_code(m.group(1)):
        raise PortalError("card_invalid", "カードの情報が正しくありません", status=401)
    tenant, prefix, secret = m.groups()
    from moyai.platform.tenancy.models import Tenant

    if not Tenant.objects.filter(code=tenant, active=True).exists():
        raise PortalError("card_invalid", "カードの情報が正しくありません", status=401)
    with tenant_scope(tenant):
        token = CardToken.objects.filter(prefix=prefix).first()
        ok = token is not None and token.revoked_at is None and hmac.compare_digest(token.token_hash, _hash(secret))
        if not ok or token is None:
            raise PortalError("card_invalid", "カードの情報が正しくないか、失効しています", status=401)
        return Resident(tenant, token.atena_no)


def revoke_card_token(prefix: str) -> None:
    CardToken.objects.filter(prefix=prefix, revoked_at__isnull=True).update(revoked_at=timezone.now())
