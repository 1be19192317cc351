"""Shared fixtures: a consortium with two 団体 and staff of every role, all real rows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from moyai.platform.identity.services import Principal, staff_principal
from moyai.platform.tenancy.models import Tenant
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services
from tests.factories import MembershipFactory, TenantFactory, UserFactory

SHUNAN = "352152"
KUDAMATSU = "352071"


@dataclass
class World:
    shunan: Tenant
    kudamatsu: Tenant
    clerk: Principal
    approver: Principal
    admin: Principal
    auditor: Principal
    clerk2: Principal
    other_clerk: Principal  # a clerk of 下松市


def _member(username: str, tenant: Tenant, role: str) -> Principal:
    user = UserFactory(username=username)
    MembershipFactory(user=user, tenant=tenant, role=role)
    return staff_principal(user, tenant.code)


@pytest.fixture
def world(db: None) -> World:
    shunan = TenantFactory(code=SHUNAN, name="周南市")
    kudamatsu = TenantFactory(code=KUDAMATSU, name="下松市")
    for t in (shunan, kudamatsu):
        with tenant_scope(t.code):
            services.load_resident_codes(f"{int(t.code) * 100000 + i:011d}" for i in range(50))
    return World(
        shunan=shunan,
        kudamatsu=kudamatsu,
        clerk=_member("clerk1", shunan, "clerk"),
        approver=_member("approver1", shunan, "approver"),
        admin=_member("admin1", shunan, "admin"),
        auditor=_member("auditor1", shunan, "auditor"),
        clerk2=_member("clerk2", shunan, "clerk"),
        other_clerk=_member("kclerk1", kudamatsu, "clerk"),
    )
