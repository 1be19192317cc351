"""交付履歴照会 REST API (``GET /tenants/{tenant}/certificate-issuances``)."""
# No "from __future__ import annotations": ninja resolves the annotations of views wrapped by
# tenant_endpoint through the wrapper's globals, so they must be real objects.

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from moyai.platform.http.endpoints import tenant_endpoint

from . import history
from .api import _problem
from .domain import CertificateError

router = Router(tags=["交付履歴"])


class IssuanceFilter(Schema):
    date_from: dt.date = Field(description="交付日の開始（この日を含む）")
    date_to: dt.date = Field(description="交付日の終了（この日を含む、開始から366日未満）")
    atena_no: str = Field("", max_length=16, description="この宛名番号の人を記載した証明書だけ")
    channel: str = Field("", description="counter（窓口）/ kiosk（コンビニ交付）")
    staff: str = Field("", max_length=150, description="交付者")
    kind: str = Field("", description="証明書の種別（resident_copy 住民票の写し など）")
    page: int = 1
    per_page: int = 50


class IssuanceOut(Schema):
    serial: str
    issue_number: str
    kind: str
    form: str
    persons: list[str]
    whole_household: bool
    requester_kind: str
    requester_name: str
    purpose: str
    items: list[str]
    as_of: dt.date
    channel: str
    fee: int
    staff: str
    pages: int
    issued_at: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str


class IssuancePageOut(Schema):
    total: int
    page: int
    per_page: int
    items: list[IssuanceOut]


@router.get("/{tenant}/certificate-issuances", response={200: IssuancePageOut}, summary="交付履歴照会")
@tenant_endpoint(history.PERMISSION)
def list_issuances(request: HttpRequest, tenant: str, filters: Query[IssuanceFilter]) -> Any:
    q = history.IssuanceQuery(date_from=filters.date_from, date_to=filters.date_to, atena_no=filters.atena_no,
                              channel=filters.channel, staff=filters.staff, kind=filters.kind, page=filters.page,
                              per_page=filters.per_page)
    try:
        found = history.issuances(request.principal, q)  # type: ignore[attr-defined]
    except CertificateError as exc:
        return _problem(request, exc)
    return Status(200, IssuancePageOut(
        total=found.total, page=found.page, per_page=found.per_page,
        items=[IssuanceOut(**{**vars(r), "persons": list(r.persons), "items": list(r.items)}) for r in found.rows],
    ))
