"""Onboarding of a late joiner (後乗り団体): a new 団体 in an existing consortium, its first admin,
and its data from a 中間標準レイアウト file set — all in one transaction.

The files are checked first (no database write).  Only when they have no problem is the
transaction opened: the 団体 is created in the consortium (so the consortium's default
parameters apply to it, :func:`moyai.platform.tenancy.services.parameter`), the admin account is
created (or, if it exists, given the admin role of the new 団体), and the data written.  Any
failure — a problem found, an error, a killed process — leaves no 団体, no membership and no row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from moyai.platform.identity.services import create_staff, grant_role
from moyai.platform.tenancy.errors import TenancyError
from moyai.platform.tenancy.models import Consortium, Tenant
from moyai.platform.tenancy.services import create_tenant

from .importer import GaijiMap, GaijiMapError, ImportResult, ProgressCallback, load_gaiji_map, prepare_fileset
from .importer.pipeline import SystemActor, _no_progress, no_gc, write_prepared

__all__ = ["ADMIN_ROLE", "OnboardingError", "OnboardingOutcome", "onboard"]

ADMIN_ROLE = "admin"


class OnboardingError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class OnboardingOutcome:
    tenant_code: str
    consortium: str
    admin: str | None
    result: ImportResult
    created: bool  # the 団体 was created (False when the files had problems)


class _Rollback(Exception):
    """Raised inside the transaction to undo it."""


def _consortium(code: str | None) -> Consortium:
    if code is not None:
        c = Consortium.objects.filter(code=code).first()
        if c is None:
            raise OnboardingError(f"協議会 {code} は登録されていません")
        return c
    all_ = list(Consortium.objects.all()[:2])
    if not all_:
        raise OnboardingError("協議会が登録されていません")
    if len(all_) > 1:
        raise OnboardingError("協議会が複数あります。--consortium で指定してください")
    return all_[0]


def _prefecture(consortium: Consortium, given: str | None) -> str:
    if given:
        return given
    prefs = Counter(Tenant.objects.filter(consortium=consortium).values_list("prefecture", flat=True))
    if not prefs:
        raise OnboardingError("協議会に団体がありません。--prefecture で都道府県を指定してください")
    return prefs.most_common(1)[0][0]


def onboard(
    code: str,
    name: str,
    directory: str | Path,
    *,
    consortium: str | None = None,
    prefecture: str | None = None,
    admin: str | None = None,
    admin_password: str | None = None,
    gaiji_map: GaijiMap | Path | str | None = None,
    progress: ProgressCallback = _no_progress,
) -> OnboardingOutcome:
    """Create the 団体 ``code`` with its first admin and import ``directory`` (all or nothing).

    Raises :class:`OnboardingError` for a wrong request (unknown consortium, existing 団体, bad
    code, a new admin without password, unreadable 外字対応表); problems in the files are returned
    in ``outcome.result`` with ``created`` False.
    """
    from django.contrib.auth import get_user_model

    c = _consortium(consortium)
    if Tenant.objects.filter(code=code).exists():
        raise OnboardingError(f"団体コード {code} の団体はすでに登録されています")
    pref = _prefecture(c, prefecture)
    new_admin = admin is not None and not get_user_model().objects.filter(username=admin).exists()
    if new_admin and not admin_password:
        raise OnboardingError(f"管理者 {admin} を作成するにはパスワードが必要です")
    mapping: GaijiMap | None
    if gaiji_map is None or isinstance(gaiji_map, GaijiMap):
        mapping = gaiji_map
    else:
        try:
            mapping = load_gaiji_map(gaiji_map)
        except GaijiMapError as exc:
            raise OnboardingError("外字対応表を読めません: " + "; ".join(map(str, exc.problems[:5]))) from None
    try:
        from moyai.platform.tenancy.models import validate_tenant_code

        validate_tenant_code(code)
    except Exception as exc:
        raise OnboardingError(f"団体コード {code}: {getattr(exc, 'messages', [str(exc)])[0]}") from None
    with no_gc():
        prepared = prepare_fileset(code, directory, gaiji_map=mapping, progress=progress)
        if prepared.result.problems:
            return OnboardingOutcome(code, c.code, admin, prepared.result, created=False)
        actor = SystemActor()
        result: ImportResult | None = None
        try:
            with transaction.atomic():
                try:
                    create_tenant(code, name, pref, c)
                except TenancyError as exc:
                    raise OnboardingError(exc.message) from None
                if admin is not None:
                    if new_admin:
                        assert admin_password is not None
                        create_staff(admin, admin_password)
                    grant_role(admin, code, ADMIN_ROLE, f"onboard:{actor.ident}")
                result = write_prepared(prepared, actor=actor, progress=progress)
                if result.problems:
                    raise _Rollback()
        except _Rollback:
            assert result is not None
            result.imported = type(result.imported)()
            return OnboardingOutcome(code, c.code, admin, result, created=False)
        return OnboardingOutcome(code, c.code, admin, result, created=True)
