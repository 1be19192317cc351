"""``moyai export`` (registry and --synthetic) through the command line (typer's runner, real DB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fileset_support import file_bytes, read_fileset
from typer.testing import CliRunner

from moyai.cli import app
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from moyai.portability.exporter import EXPORT_OPERATION
from moyai.portability.synthetic import write_synthetic_tenant
from moyai.residents import services
from moyai.residents.demo.generator import generate
from tests.fixtures import KUDAMATSU, World

runner = CliRunner()


def test_synthetic_files_with_injected_errors(tmp_path: Path) -> None:
    args = ["export", "--synthetic", "--tenant", "355020", "--scale", "0.2", "--seed", "4"]
    result = runner.invoke(app, [*args, "--inject", "bad-code", "--inject", "gaiji", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert "誤りを入れました（bad-code）: JYUKI_KOJIN.csv" in result.output
    assert "期待される問題 gaiji" in result.output
    _, problems = read_fileset(tmp_path / "x", "355020")
    assert {p.kind for p in problems} >= {"code", "gaiji"}
    # the same options without injection give the generator's files
    assert runner.invoke(app, [*args, "--encoding", "cp932", str(tmp_path / "y")]).exit_code == 0
    expected = write_synthetic_tenant(tmp_path / "z", "355020", scale=0.2, seed=4, encoding="cp932")
    assert file_bytes(tmp_path / "y") == file_bytes(expected.directory)


def test_synthetic_group_writes_one_directory_per_tenant(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--synthetic", "--scale", "0.001", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["352071", "352101", "352128", "352152", "355020"]
    assert "阿武町（355020）: 住民 5 人" in result.output


def test_bad_options_are_refused_in_japanese(tmp_path: Path) -> None:
    cases = [
        (["export", "--synthetic", "--scale", "2", str(tmp_path)], "--scale は 0 より大きく 1.0 以下"),
        (["export", "--synthetic", "--encoding", "euc-jp", str(tmp_path)], "--encoding は utf-8、cp932"),
        (["export", "--inject", "bad-code", "--tenant", KUDAMATSU, str(tmp_path)], "--inject は --synthetic と一緒に"),
        (["export", str(tmp_path)], "--tenant（団体コード）を指定してください"),
        (["export", "--synthetic", "--tenant", "131016", str(tmp_path)], "合成データの団体ではありません"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert message in result.output.replace("\n", ""), result.output
    assert runner.invoke(app, ["export", "--synthetic", "--inject", "nothing", str(tmp_path)]).exit_code == 2


@pytest.mark.django_db
def test_registry_export_from_the_command_line_is_audited(world: World, tmp_path: Path) -> None:
    pop = generate(KUDAMATSU, scale=0.002, seed=3)
    with tenant_scope(KUDAMATSU):
        services.load_histories(
            pop.events, next_atena_seq=pop.next_atena_seq, next_household_seq=pop.next_household_seq
        )
    result = runner.invoke(app, ["export", "--tenant", KUDAMATSU, "--encoding", "cp932", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (
        f"住民 {pop.resident_count:,} 人、除票 {pop.removed_count:,} 件、履歴の行 {len(pop.events):,} 行"
        in result.output
    )
    histories, problems = read_fileset(tmp_path / "out", KUDAMATSU)
    assert problems == [] and len(histories) == pop.resident_count + pop.removed_count
    with tenant_scope(KUDAMATSU):
        log = AccessLog.objects.get(operation=EXPORT_OPERATION)
        assert log.actor.startswith("cli:") and log.purpose.startswith("中間標準レイアウトによるデータ移行")
    missing = runner.invoke(app, ["export", "--tenant", "999997", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "団体 999997 は登録されていません" in missing.output
