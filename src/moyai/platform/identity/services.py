"""Authentication and authorisation: who is acting, for which 団体, with which rights.

Deny by default: a principal has exactly the permissions of its roles in the 団体 it acts for,
and nothing in any other 団体.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from .models import ApiToken, Membership
from .roles import permissions_of, roles


class IdentityErrorCode(StrEnum):
    NOT_AUTHENTICATED = "identity.not_authenticated"
    FORBIDDEN = "identity.forbidden"
    NOT_MEMBER = "identity.not_member"
    UNKNOWN_ROLE = "identity.unknown_role"


class IdentityError(PermissionError):
    def __init__(self, code: IdentityErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Principal:
    """The actor of a request: a staff member or a system token, acting for one 団体."""

    kind: str  # "staff" | "token"
    ident: str  # username or token prefix (never the secret)
    tenant_code: str
    roles: frozenset[str]
    permissions: frozenset[str]

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.ident}"

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            from .roles import permissions as perm_table

            what = perm_table().get(permission, permission)
            raise IdentityError(IdentityErrorCode.FORBIDDEN, f"この操作（{what}）を行う権限がありません")


def staff_principal(user: AbstractBaseUser | AnonymousUser, tenant_code: str) -> Principal:
    if not user.is_authenticated:
        raise IdentityError(IdentityErrorCode.NOT_AUTHENTICATED, "ログインしてください")
    role_codes = frozenset(
        Membership.objects.filter(user_id=user.pk, tenant_id=tenant_code).values_list("role", flat=True)
    )
    if not role_codes:
        raise IdentityError(IdentityErrorCode.NOT_MEMBER, f"団体 {tenant_code} の業務を行う権限がありません")
    return Principal("staff", user.get_username(), tenant_code, role_codes, permissions_of(role_codes))


def tenants_of(user: AbstractBaseUser) -> list[str]:
    return sorted(set(Membership.objects.filter(user_id=user.pk).values_list("tenant_id", flat=True)))


def grant_role(username: str, tenant_code: str, role: str, granted_by: str = "") -> Membership:
    if role not in roles():
        raise IdentityError(IdentityErrorCode.UNKNOWN_ROLE, f"役割 {role} は定義されていません")
    user = get_user_model().objects.get(username=username)
    m, _ = Membership.objects.get_or_create(
        user=user, tenant_id=tenant_code, role=role, defaults={"granted_by": granted_by}
    )
    return m


def create_staff(username: str, password: str, full_name: str = "") -> AbstractBaseUser:
    User = get_user_model()
    user = User.objects.create_user(username=username, password=password)
    if full_name:
        user.last_name = full_name  # type: ignore[attr-defined]
        user.save(update_fields=["last_name"])
    return user


TOKEN_PREFIX = "moyai"  # noqa: S105 - the visible prefix of every token, not a secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(tenant_code: str, role: str, name: str, created_by: str = "") -> tuple[ApiToken, str]:
    """Create a token; the plain value is returned once and never stored."""
    if role not in roles():
        raise IdentityError(IdentityErrorCode.UNKNOWN_ROLE, f"役割 {role} は定義されていません")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        tenant_id=tenant_code, role=role, name=name, prefix=prefix, token_hash=_hash(secret), created_by=created_by
    )
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def token_principal(raw: str, tenant_code: str) -> Principal:
    """Resolve a bearer token; it works only for the 団体 it was issued for."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise IdentityError(IdentityErrorCode.NOT_AUTHENTICATED, "APIトークンの形式が正しくありません")
    _, prefix, secret = parts
    token = ApiToken.objects.filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.token_hash, _hash(secret)):
        raise IdentityError(IdentityErrorCode.NOT_AUTHENTICATED, "APIトークンが無効です")
    now = timezone.now()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        raise IdentityError(IdentityErrorCode.NOT_AUTHENTICATED, "APIトークンは失効しています")
    if token.tenant_id != tenant_code:
        raise IdentityError(IdentityErrorCode.NOT_MEMBER, f"このAPIトークンでは団体 {tenant_code} にアクセスできません")
    return Principal("token", prefix, tenant_code, frozenset({token.role}), permissions_of({token.role}))


def revoke_token(prefix: str) -> None:
    ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True).update(revoked_at=timezone.now())


def memberships(tenant_code: str) -> list[tuple[str, str]]:
    return list(
        Membership.objects.filter(tenant_id=tenant_code)
        .order_by("user__username", "role")
        .values_list("user__username", "role")
    )


def memberships_of(user: AbstractBaseUser | AnonymousUser) -> list[tuple[str, list[str]]]:
    """(団体コード, [role codes]) of a staff member, by 団体コード."""
    out: dict[str, list[str]] = {}
    if user.pk is None:
        return []
    for tenant, role in Membership.objects.filter(user_id=user.pk).order_by("tenant_id", "role").values_list(
        "tenant_id", "role"
    ):
        out.setdefault(tenant, []).append(role)
    return list(out.items())
