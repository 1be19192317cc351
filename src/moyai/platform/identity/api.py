"""Staff roles and API tokens (管理 role)."""


from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from moyai.platform.audit import services as audit
from moyai.platform.http.endpoints import tenant_endpoint

from . import services
from .roles import roles

router = Router(tags=["職員・APIトークン"])


class MembershipIn(Schema):
    username: str
    role: str = Field(description="clerk 窓口 / approver 審査 / admin 管理 / auditor 監査")


class MembershipOut(Schema):
    username: str
    role: str
    role_label: str


class TokenIn(Schema):
    name: str = Field(min_length=1)
    role: str


class TokenOut(Schema):
    prefix: str
    role: str
    token: str = Field(description="この応答でのみ表示されます。保存してください")


@router.get("/{tenant}/staff", response=list[MembershipOut], summary="職員と役割の一覧")
@tenant_endpoint("staff.manage")
def list_staff(request: HttpRequest, tenant: str) -> list[MembershipOut]:
    table = roles()
    return [
        MembershipOut(username=u, role=r, role_label=table[r].label if r in table else r)
        for u, r in services.memberships(tenant)
    ]


@router.post("/{tenant}/staff", response={201: MembershipOut}, summary="職員に役割を付与")
@tenant_endpoint("staff.manage")
def grant(request: HttpRequest, tenant: str, payload: MembershipIn) -> Status[MembershipOut]:
    services.grant_role(payload.username, tenant, payload.role, request.principal.label)  # type: ignore[attr-defined]
    audit.record(request.principal, "settings.grant_role",  # type: ignore[attr-defined]
                 detail={"username": payload.username, "role": payload.role})
    return Status(201, MembershipOut(username=payload.username, role=payload.role, role_label=roles()[payload.role].label))


@router.post("/{tenant}/tokens", response={201: TokenOut}, summary="APIトークンの発行")
@tenant_endpoint("staff.manage")
def issue(request: HttpRequest, tenant: str, payload: TokenIn) -> Status[TokenOut]:
    token, raw = services.issue_token(tenant, payload.role, payload.name, request.principal.label)  # type: ignore[attr-defined]
    audit.record(request.principal, "settings.issue_token",  # type: ignore[attr-defined]
                 detail={"prefix": token.prefix, "role": token.role, "name": token.name})
    return Status(201, TokenOut(prefix=token.prefix, role=token.role, token=raw))
