"""The REST API: django-ninja, OpenAPI at /api/v1/docs, problem+json errors."""

from __future__ import annotations

from ninja import NinjaAPI

from moyai.certificates.api import kiosk_router, public_router
from moyai.certificates.api import router as certificates_router
from moyai.certificates.history_api import router as issuance_history_router
from moyai.gateway.portal_api import router as portal_router
from moyai.linkage.api import router as linkage_router
from moyai.platform.audit.api import router as audit_router
from moyai.platform.http import problems
from moyai.platform.identity.api import router as identity_router
from moyai.platform.tenancy.api import router as tenancy_router
from moyai.residents import suppression_api
from moyai.residents.api import router as residents_router

api = NinjaAPI(
    title="Moyai API",
    version="1",
    description="自治体クラウド Moyai の API。団体ごとに /api/v1/tenants/{団体コード}/ の下にあります。",
    urls_namespace="api-v1",
)
problems.install(api)
suppression_api.install(api)

TENANT = "/tenants"
api.add_router(TENANT, residents_router)
api.add_router(TENANT, suppression_api.router)
api.add_router(TENANT, tenancy_router)
api.add_router(TENANT, identity_router)
api.add_router(TENANT, audit_router)
api.add_router(TENANT, linkage_router)
api.add_router("/portal", portal_router)
api.add_router(TENANT, certificates_router)
api.add_router(TENANT, issuance_history_router)
api.add_router("/public", public_router)
api.add_router("/kiosk", kiosk_router)
