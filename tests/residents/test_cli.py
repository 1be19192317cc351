"""The ``moyai`` command line against the test database (typer's runner, real services)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moyai.cli import app
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services
from moyai.residents.models import Resident, ResidentCodePool, SearchKey
from tests.fixtures import SHUNAN, World

runner = CliRunner()


@pytest.mark.django_db
def test_load_resident_codes_from_a_file(world: World, tmp_path: Path) -> None:
    f = tmp_path / "codes.txt"
    f.write_text("\n".join(f"{70000000000 + i:011d}" for i in range(3)) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["registry", "load-resident-codes", "--tenant", SHUNAN, str(f)])
    assert result.exit_code == 0, result.output
    assert "3 件を取り込みました（在庫 53 件）" in result.output
    with tenant_scope(SHUNAN):
        assert ResidentCodePool.objects.filter(code__startswith="7000000000").count() == 3


@pytest.mark.django_db
def test_a_bad_code_file_is_refused_with_the_file_named(world: World, tmp_path: Path) -> None:
    f = tmp_path / "bad.txt"
    f.write_text("12345\n", encoding="utf-8")
    result = runner.invoke(app, ["registry", "load-resident-codes", "--tenant", SHUNAN, str(f)])
    assert result.exit_code == 1
    assert "bad.txt" in result.output and "11桁の数字ではありません" in result.output


@pytest.mark.django_db
def test_rebuild_recreates_the_projections_from_the_events(world: World) -> None:
    with tenant_scope(SHUNAN):
        req = services.record_now(world.clerk, "birth", dt.date(2026, 1, 5), [services.SubjectInput(None, {
            "family_name": "周南", "given_name": "一", "family_kana": "シュウナン", "given_kana": "ハジメ", "sex": "1",
            "relationship": "世帯主", "address": "山口県周南市岐山通1丁目1番地", "household_no": "new"})])
        atena = req.moves[0]["atena_no"]
        before = (list(Resident.objects.values_list("atena_no", "display_name", "address")),
                  sorted(SearchKey.objects.values_list("kind", "key", "atena_no")))
        Resident.objects.all().delete()
        SearchKey.objects.all().delete()
    result = runner.invoke(app, ["registry", "rebuild", "--tenant", SHUNAN])
    assert result.exit_code == 0, result.output
    assert "1 件の住民記録を作り直しました" in result.output
    with tenant_scope(SHUNAN):
        after = (list(Resident.objects.values_list("atena_no", "display_name", "address")),
                 sorted(SearchKey.objects.values_list("kind", "key", "atena_no")))
    assert after == before
    assert after[0] == [(atena, "周南　一", "山口県周南市岐山通1丁目1番地")]
