"""宛名連携 pull API under ``/api/v1/tenants/{tenant}/linkage/{consumer}/``.

- ``GET …/full?format=json|csv|fixed`` — every resident and 除票 with the consumer's items, and
  ``upto``: the outbox number the full set is current to (the next pull asks for changes after it).
- ``GET …/changes?after=N&limit=1000&format=…`` — the changes numbered after ``N``; ``upto`` is the
  last number in the answer, ``more`` says whether to ask again at once. The consumer stores
  ``upto`` with what it applied (exactly once, resumable after an outage).

CSV and fixed-length answers carry ``after``/``upto`` in their header record; JSON in its body.
"""
# No "from __future__ import annotations": ninja needs real annotations.
from django.http import HttpRequest, HttpResponse
from ninja import Router

from moyai.platform.http.endpoints import tenant_endpoint

from . import services

router = Router(tags=["宛名連携"])

FORMAT_HELP = "json（既定は連携先の設定）・csv・fixed（固定長 Shift_JIS）"


def _reply(batch: services.Batch, body: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["X-Moyai-Linkage-After"] = str(batch.after)
    response["X-Moyai-Linkage-Upto"] = str(batch.upto)
    response["X-Moyai-Linkage-More"] = "true" if batch.more else "false"
    return response


@router.get("/{tenant}/linkage/{consumer}/full", summary="宛名連携: 全件", response={200: None},
            openapi_extra={"responses": {200: {"content": {"application/json": {}, "text/csv": {},
                                                           "application/octet-stream": {}}}}})
@tenant_endpoint("linkage.pull")
def linkage_full(request: HttpRequest, tenant: str, consumer: str, format: str | None = None) -> HttpResponse:
    batch, body, content_type = services.pull(consumer, request.principal, after=None, full=True,  # type: ignore[attr-defined]
                                              fmt=format)
    return _reply(batch, body, content_type)


@router.get("/{tenant}/linkage/{consumer}/changes", summary="宛名連携: 異動分（連携番号 after より後）",
            response={200: None})
@tenant_endpoint("linkage.pull")
def linkage_changes(request: HttpRequest, tenant: str, consumer: str, after: int, limit: int = 1000,
                    format: str | None = None) -> HttpResponse:
    batch, body, content_type = services.pull(consumer, request.principal, after=after,  # type: ignore[attr-defined]
                                              limit=limit, fmt=format)
    return _reply(batch, body, content_type)
