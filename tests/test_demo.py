"""The demo a newcomer sees with ``make demo``: five 団体 whose counter can issue signed certificates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rich.console import Console

from moyai.certificates import services as certs
from moyai.certificates.signing import FileIdentityStore, verify_pdf
from moyai.demo import DEMO_USERS, build
from moyai.platform.identity.services import staff_principal
from moyai.platform.tenancy.models import Tenant
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import selectors
from moyai.residents.models import Resident


@pytest.mark.django_db
def test_the_demo_builds_five_tenants_whose_clerk_issues_a_certificate_that_verifies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys"
    monkeypatch.setenv("MOYAI_CERT_KEY_DIR", str(keys))
    table = build(scale=0.001, seed=3, console=Console(quiet=True), key_dir=keys)
    assert table.row_count == 5
    assert set(Tenant.objects.values_list("code", flat=True)) == {"352152", "352071", "352101", "352128", "355020"}
    assert sorted(p.name for p in keys.iterdir()) == ["352071", "352101", "352128", "352152", "355020", "test-ca",
                                                       "trust"]
    clerk = staff_principal(get_user_model().objects.get(username=DEMO_USERS[0][0]), "352152")
    with tenant_scope("352152"):
        someone = Resident.objects.filter(removed_on__isnull=True, pending_from__isnull=True).order_by("atena_no").first()
        assert someone is not None
        found = selectors.search(clerk, selectors.SearchQuery(atena_no=someone.atena_no))
        assert found.total == 1
        issued = certs.issue_at_counter(clerk, certs.CertificateRequest(atena_no=someone.atena_no),
                                        now=dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC))
    assert issued.certificate.issuer.name == "舫　太郎"
    result = verify_pdf(issued.pdf, FileIdentityStore(keys).trust_roots())
    assert result.genuine, result.problems
    assert result.serial == issued.serial
