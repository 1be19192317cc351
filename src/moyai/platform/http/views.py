"""Start page and log-in (the counter UI proper is built on these)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from moyai.platform.identity.roles import roles
from moyai.platform.identity.services import memberships_of
from moyai.platform.tenancy.services import get_tenant


@login_required
def index(request: HttpRequest) -> HttpResponse:
    table = roles()
    rows = []
    for code, role_codes in memberships_of(request.user):
        rows.append({"tenant": get_tenant(code), "roles": [table[r].label for r in role_codes if r in table]})
    return render(request, "moyai/index.html", {"rows": rows})
