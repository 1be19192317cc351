import pytest
from django.test import Client
from django.contrib.auth import get_user_model
from tests.fixtures import SHUNAN, World

@pytest.mark.django_db
def test_probe(world: World) -> None:
    c = Client(enforce_csrf_checks=True, raise_request_exception=False)
    U = get_user_model()
    c.force_login(U.objects.get(username="admin1"))
    r = c.post(f"/api/v1/tenants/{SHUNAN}/tokens", {"name": "x", "role": "clerk"}, content_type="application/json")
    print("csrf", r.status_code, r.content.decode()[:200])
