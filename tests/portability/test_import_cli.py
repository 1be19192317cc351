"""``moyai import`` and ``moyai tenant onboard`` through the command line (typer's runner, real DB)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from typer.testing import CliRunner

from moyai.cli import app
from moyai.platform.identity.models import Membership
from moyai.platform.tenancy.models import Tenant
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import parameter
from moyai.portability.fileset import FilesetSummary, write_fileset
from moyai.portability.importer.report import CSV_NAME, HTML_NAME
from moyai.portability.inject import InjectionKind, inject
from moyai.residents.demo.generator import generate
from moyai.residents.domain.model import MoveEvent
from moyai.residents.models import Event, Resident
from tests.factories import ConsortiumFactory, TenantFactory
from tests.fixtures import KUDAMATSU

pytestmark = pytest.mark.django_db
runner = CliRunner()
HIKARI = "352101"  # 光市: the late joiner


def _people(code: str) -> dict[str, list[MoveEvent]]:
    out: dict[str, list[MoveEvent]] = {}
    for e in generate(code, scale=0.003, seed=11).events:
        out.setdefault(e.atena_no, []).append(e)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, FilesetSummary]]:
    out = {}
    for code in (KUDAMATSU, HIKARI):
        d = tmp_path_factory.mktemp(f"files-{code}")
        out[code] = (d, write_fileset(d, code, _people(code)))
    return out


def test_import_writes_the_data_and_a_report(files: dict[str, tuple[Path, FilesetSummary]], tmp_path: Path) -> None:
    TenantFactory(code=KUDAMATSU, name="下松市")
    d, summary = files[KUDAMATSU]
    result = runner.invoke(app, ["import", "--tenant", KUDAMATSU, str(d), "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert f"取り込んだ件数: 住民 {summary.residents:,} 人、除票 {summary.removed:,} 件" in result.output
    assert f"団体 {KUDAMATSU} に取り込みました" in result.output
    assert "書き込みを開始します" in result.output
    assert (tmp_path / "r" / HTML_NAME).is_file() and (tmp_path / "r" / CSV_NAME).is_file()
    with tenant_scope(KUDAMATSU):
        assert Event.objects.count() == summary.history_rows


def test_import_with_problems_exits_non_zero_with_a_japanese_summary(
    files: dict[str, tuple[Path, FilesetSummary]], tmp_path: Path
) -> None:
    TenantFactory(code=KUDAMATSU, name="下松市")
    d = shutil.copytree(files[KUDAMATSU][0], tmp_path / "f")
    where = inject(d, InjectionKind.BAD_CHECK_DIGIT, seed=1)
    result = runner.invoke(app, ["import", "--tenant", KUDAMATSU, str(d), "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "問題が 1 件あります。データは1件も取り込んでいません。" in result.output
    assert f"JYUKI_KOJIN.csv {where.row}行目 個人番号: 個人番号の検査用数字が正しくありません" in result.output
    assert where.value is not None and where.value not in result.output  # values only in the report
    assert where.value in (tmp_path / "r" / CSV_NAME).read_text(encoding="utf-8-sig")
    with tenant_scope(KUDAMATSU):
        assert Event.objects.count() == 0


def test_onboarding_creates_the_tenant_its_admin_and_imports(files: dict[str, tuple[Path, FilesetSummary]],
                                                             tmp_path: Path) -> None:
    TenantFactory(code=KUDAMATSU, name="下松市")  # the consortium with a member
    d, summary = files[HIKARI]
    result = runner.invoke(app, ["tenant", "onboard", "--code", HIKARI, "--name", "光市", "--from", str(d),
                                 "--admin", "hikari-admin", "--password", "a-long-pass-phrase",
                                 "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert f"団体 {HIKARI} 光市 を協議会 yamaguchi に加えました" in result.output
    tenant = Tenant.objects.get(code=HIKARI)
    assert (tenant.name, tenant.prefecture, tenant.consortium.code) == ("光市", "山口県", "yamaguchi")
    user = get_user_model().objects.get(username="hikari-admin")
    assert user.check_password("a-long-pass-phrase")
    assert list(Membership.objects.filter(user=user).values_list("tenant_id", "role")) == [(HIKARI, "admin")]
    with tenant_scope(HIKARI):
        assert Event.objects.count() == summary.history_rows
        assert Resident.objects.count() == summary.persons
        # the consortium's defaults apply to the new 団体
        assert parameter("certificate_fee") == ConsortiumFactory._meta.model.objects.get(
            code="yamaguchi").default_parameters["certificate_fee"]


def test_a_failed_onboarding_leaves_no_tenant_and_no_account(
    files: dict[str, tuple[Path, FilesetSummary]], tmp_path: Path
) -> None:
    TenantFactory(code=KUDAMATSU, name="下松市")
    d = shutil.copytree(files[HIKARI][0], tmp_path / "f")
    inject(d, InjectionKind.TWO_HEADS, seed=2)
    result = runner.invoke(app, ["tenant", "onboard", "--code", HIKARI, "--name", "光市", "--from", str(d),
                                 "--admin", "hikari-admin", "--password", "a-long-pass-phrase",
                                 "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert f"団体 {HIKARI} は作成していません" in result.output and "世帯主が2人以上います" in result.output
    assert not Tenant.objects.filter(code=HIKARI).exists()
    assert not get_user_model().objects.filter(username="hikari-admin").exists()
    assert not Membership.objects.filter(tenant_id=HIKARI).exists()
    assert (tmp_path / "r" / HTML_NAME).is_file()


def test_onboarding_refuses_an_existing_tenant_and_the_files_of_another(
    files: dict[str, tuple[Path, FilesetSummary]], tmp_path: Path
) -> None:
    TenantFactory(code=KUDAMATSU, name="下松市")
    taken = runner.invoke(app, ["tenant", "onboard", "--code", KUDAMATSU, "--name", "下松市",
                                "--from", str(files[KUDAMATSU][0])])
    assert taken.exit_code == 1 and f"団体コード {KUDAMATSU} の団体はすでに登録されています" in taken.output
    other = runner.invoke(app, ["tenant", "onboard", "--code", HIKARI, "--name", "光市",
                                "--from", str(files[KUDAMATSU][0]), "--report-dir", str(tmp_path / "r")])
    assert other.exit_code == 1 and "団体コード" in other.output
    assert not Tenant.objects.filter(code=HIKARI).exists()
