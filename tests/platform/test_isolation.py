import pytest
from django.test import Client
from django.contrib.auth import get_user_model
from tests.fixtures import SHUNAN, World

@pytest.mark.django_db
def test_probe(world: World) -> None:
    c = Client(raise_request_exception=False)
    r = c.get("/api/v1/openapi.json")
    print("openapi", r.status_code)
    r = c.get(f"/api/v1/tenants/{SHUNAN}/staff")
    print("anon staff", r.status_code, r.json())
    U = get_user_model()
    c.force_login(U.objects.get(username="clerk1"))
    for url in ["residents/000000019", "residents?name=ヤマダ", "residents", "changes/123", "staff"]:
        r = c.get(f"/api/v1/tenants/{SHUNAN}/{url}")
        print(url, r.status_code, r.content.decode()[:200])
    r = c.post(f"/api/v1/tenants/{SHUNAN}/changes", {}, content_type="application/json")
    print("post empty", r.status_code, r.content.decode()[:300])
