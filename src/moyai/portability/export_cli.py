"""``moyai export``: a 団体's 住民記録 (or synthetic test files) as a 中間標準レイアウト file set.

- ``moyai export --tenant CODE DIR [--encoding cp932] [--purpose 目的]`` — the registry, history
  and 除票 included (:func:`moyai.portability.exporter.export_tenant`), audited as an access;
- ``moyai export --synthetic [--tenant CODE] [--scale X] [--seed N] [--inject KIND]… DIR`` —
  a realistic file set from the demo generator (one 団体, or the five 山口県 団体 in one
  sub-directory each), with the errors asked for injected (:mod:`moyai.portability.synthetic`);
  no database is used.

Registered in :mod:`moyai.cli` by :func:`register`.  Rich progress bars; nothing personal is
printed (counts, file names and where errors were injected only).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from .fileset import ENCODINGS, FilesetSummary
from .inject import InjectionKind

__all__ = ["DEFAULT_PURPOSE", "export", "register"]

console = Console()
DEFAULT_PURPOSE = "中間標準レイアウトによるデータ移行（他システムへの引継ぎ）"


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _fail(message: str) -> None:
    console.print(f"[red]エラー:[/red] {message}", highlight=False)
    raise typer.Exit(1)


def _files_table(title: str, summaries: list[tuple[str, FilesetSummary]]) -> Table:
    table = Table(title=title)
    for col in ("団体コード", "ファイル", "行数", "SHA-256（先頭16桁）"):
        table.add_column(col, justify="right" if col == "行数" else "left")
    for code, s in summaries:
        for f in s.files:
            table.add_row(code, str(s.directory / f.file_name), f"{f.rows:,}", f.sha256[:16])
    return table


def _counts(s: FilesetSummary) -> str:
    return (
        f"住民 {s.residents:,} 人、除票 {s.removed:,} 件、履歴の行 {s.history_rows:,} 行、"
        f"世帯 {s.households:,}（{s.encoding}）"
    )


def _export_registry(tenant: str, directory: Path, encoding: str, purpose: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    import django

    django.setup()
    from moyai.platform.tenancy.models import Tenant

    from .exporter import export_tenant
    from .fileset import FilesetError
    from .importer import SystemActor

    if not Tenant.objects.filter(code=tenant).exists():
        _fail(f"団体 {tenant} は登録されていません")
    with _progress() as progress:
        task = progress.add_task(f"団体 {tenant} を書き出し中", total=None)
        try:
            result = export_tenant(
                tenant,
                directory,
                actor=SystemActor(),
                purpose=purpose,
                encoding=encoding,
                on_total=lambda n: progress.update(task, total=n),
                on_person=lambda: progress.advance(task),
            )
        except FilesetError as exc:
            p = exc.problem
            where = p.file + (f" {p.row}行目" if p.row is not None else "") + (f" {p.item}" if p.item else "")
            _fail(f"{where}: {p.reason_ja}（何も書き出していません）")
            return
    console.print(_files_table(f"団体 {tenant} の移行ファイル", [(tenant, result.summary)]))
    console.print(f"{_counts(result.summary)}、{result.seconds:.1f} 秒")
    console.print("この書き出しはアクセス記録（portability.export）に記録しました")


def _export_synthetic(
    tenant: str | None, directory: Path, encoding: str, scale: float, seed: int, inject: list[InjectionKind]
) -> None:
    from moyai.residents.demo.generator import TenantPopulation

    from .inject import InjectionError
    from .synthetic import write_synthetic

    with _progress() as progress:
        task: dict[str, TaskID] = {}

        def generated(pop: TenantPopulation) -> None:
            task["t"] = progress.add_task(
                f"{pop.name}（{pop.tenant_code}）", total=pop.resident_count + pop.removed_count
            )

        try:
            sets = write_synthetic(
                directory,
                tenant_code=tenant,
                scale=scale,
                seed=seed,
                encoding=encoding,
                inject_kinds=inject,
                on_generated=generated,
                on_person=lambda: progress.advance(task["t"]),
            )
        except (ValueError, InjectionError) as exc:
            _fail(str(exc))
            return
    console.print(
        _files_table(f"合成データの移行ファイル（縮尺 {scale}, 種 {seed}）", [(s.tenant_code, s.summary) for s in sets])
    )
    for s in sets:
        console.print(f"{s.name}（{s.tenant_code}）: {_counts(s.summary)}")
        for i in s.injected:
            where = i.file + (f" {i.row}行目" if i.row is not None else "") + (f" {i.item}" if i.item else "")
            console.print(
                f"  誤りを入れました（{i.kind.value}）: {where} → 期待される問題 {i.expected_problem_kind}",
                markup=False,
                highlight=False,
            )


def export(
    directory: Annotated[Path, typer.Argument(help="書き出すディレクトリ（なければ作成）")],
    tenant: Annotated[str | None, typer.Option(help="団体コード（--synthetic では省略すると山口県の5団体）")] = None,
    encoding: Annotated[str, typer.Option(help="文字コード: utf-8 または cp932（Shift_JIS）")] = "utf-8",
    purpose: Annotated[str, typer.Option(help="利用目的（アクセス記録に残す）")] = DEFAULT_PURPOSE,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="合成データのテスト用ファイルを書き出す")] = False,
    scale: Annotated[float, typer.Option(help="--synthetic: 人口の縮尺（1.0 = 実人口）")] = 1.0,
    seed: Annotated[int, typer.Option(help="--synthetic: 乱数の種（同じ種なら同じファイル）")] = 1,
    inject: Annotated[
        list[InjectionKind] | None, typer.Option(help="--synthetic: 入れる誤りの種類（複数指定可）")
    ] = None,
) -> None:
    """住民記録を中間標準レイアウトの移行ファイルに書き出す（--synthetic: 合成データのテスト用ファイル）。"""
    if encoding not in ENCODINGS:
        _fail(f"--encoding は {'、'.join(ENCODINGS)} のどれかです")
    if synthetic:
        if not 0 < scale <= 1.0:
            _fail("--scale は 0 より大きく 1.0 以下で指定してください")
        _export_synthetic(tenant, directory, encoding, scale, seed, list(inject or []))
        return
    if inject:
        _fail("--inject は --synthetic と一緒に指定します")
    if tenant is None:
        _fail("--tenant（団体コード）を指定してください")
        return
    _export_registry(tenant, directory, encoding, purpose)


def register(app: typer.Typer) -> None:
    """Add ``moyai export`` to the ``moyai`` command line."""
    app.command("export")(export)
