"""Versioned per-tenant parameters and consortium defaults; CSRF on session writes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from moyai.platform.tenancy.errors import TenancyError
from moyai.platform.tenancy.models import Consortium
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import create_tenant, parameter, parameter_history, set_parameter
from tests.fixtures import SHUNAN, World


@pytest.mark.django_db
def test_parameter_in_force_on_a_date_with_consortium_fallback(world: World) -> None:
    with tenant_scope(SHUNAN):
        assert parameter("certificate_fee", dt.date(2026, 1, 1)) == 300  # consortium default
        set_parameter("certificate_fee", 350, dt.date(2026, 4, 1), "admin1")
        set_parameter("certificate_fee", 400, dt.date(2027, 4, 1), "admin1")
        assert parameter("certificate_fee", dt.date(2026, 3, 31)) == 300
        assert parameter("certificate_fee", dt.date(2026, 4, 1)) == 350
        assert parameter("certificate_fee", dt.date(2027, 4, 1)) == 400
        # a correction of the same effective date is a new version; the old row stays
        set_parameter("certificate_fee", 360, dt.date(2026, 4, 1), "admin1")
        assert parameter("certificate_fee", dt.date(2026, 5, 1)) == 360
        assert [(p.value, p.version) for p in parameter_history("certificate_fee")] == [(350, 1), (360, 2), (400, 1)]
        with pytest.raises(KeyError):
            parameter("no_such_parameter")
    with tenant_scope("352071"):
        assert parameter("certificate_fee", dt.date(2026, 5, 1)) == 300  # the other 団体 is untouched


@pytest.mark.django_db
def test_tenant_code_check_digit_is_validated(world: World) -> None:
    consortium = Consortium.objects.get(code="yamaguchi")
    with pytest.raises(TenancyError) as e:
        create_tenant("352153", "誤り市", "山口県", consortium)
    assert "352153" in e.value.message
    assert create_tenant("352101", "光市", "山口県", consortium).code == "352101"


@pytest.mark.django_db
def test_session_writes_need_a_csrf_token(world: World) -> None:
    from django.contrib.auth import get_user_model

    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="clerk1"))
    body = {"kind": "move_within", "effective_date": "2026-01-01", "subjects": [{"atena_no": "0000000019", "changes": {}}]}
    r = client.post(f"/api/v1/tenants/{SHUNAN}/changes", body, content_type="application/json")
    assert r.status_code == 403, r.content.decode()
    assert r["Content-Type"] == "application/problem+json"
    assert "CSRF" in r.json()["detail"]
