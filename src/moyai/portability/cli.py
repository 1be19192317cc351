"""``moyai import`` and ``moyai tenant onboard``: 中間標準レイアウト migration from the command line.

Registered in :mod:`moyai.cli` by :func:`register`.  Phase lines (``読込``, ``検査``, ``書き込み``)
are printed as they start, and a progress bar runs on a terminal.  Nothing personal is printed:
the problems are shown by file, row, item and reason; their values are only in the report.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["register"]

console = Console()
_SHOWN = 20  # problems printed on the console (the report has all)


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    import django

    django.setup()


class _Bar:
    """Progress callback: a phase line when a phase starts, a rich bar on a terminal."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, advance: int = 0, total: int | None = None) -> None:
        task = self.tasks.get(phase)
        if task is None:
            self.progress.console.print(f"{time.strftime('%H:%M:%S')} {phase}を開始します")
            task = self.progress.add_task(phase, total=total)
            self.tasks[phase] = task
        elif total is not None:
            self.progress.update(task, total=total)
        if advance:
            self.progress.advance(task, advance)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _summary(result: Any, report: tuple[Path, Path] | None) -> None:
    from moyai.portability.importer.report import KIND_LABELS

    c = result.imported if result.ok else result.found
    head = "取り込んだ件数" if result.ok else "ファイルの件数（問題のない行）"
    console.print(
        f"{head}: 住民 {c.residents:,} 人、除票 {c.removed:,} 件、履歴の行 {c.history_rows:,} 行、世帯 {c.households:,}"
    )
    if result.seconds:
        console.print("所要時間: " + "、".join(f"{k} {v:.1f} 秒" for k, v in result.seconds.items()))
    if not result.ok:
        console.print(f"[red]問題が {len(result.problems):,} 件あります。データは1件も取り込んでいません。[/red]")
        for kind, n in result.problem_counts().most_common():
            console.print(f"  {KIND_LABELS.get(kind, kind)}: {n:,} 件")
        for p in result.problems[:_SHOWN]:
            where = p.file + (f" {p.row}行目" if p.row is not None else "") + (f" {p.item}" if p.item else "")
            console.print(f"  {where}: {p.reason_ja}", markup=False, highlight=False)
        if len(result.problems) > _SHOWN:
            console.print(f"  ほか {len(result.problems) - _SHOWN:,} 件")
    if report is not None:
        console.print(f"報告書: {report[0]}  {report[1]}")


def _report_dir(report_dir: Path | None, tenant: str) -> Path:
    return report_dir or Path.cwd() / f"import-report-{tenant}-{time.strftime('%Y%m%d-%H%M%S')}"


def import_command(
    directory: Annotated[Path, typer.Argument(help="中間標準レイアウトのファイルがあるディレクトリ")],
    tenant: Annotated[str, typer.Option(help="取込先の団体コード（住民記録のない団体）")],
    gaiji_map: Annotated[Path | None, typer.Option(help="外字対応表（CSV: 外字コード,置換文字）")] = None,
    report_dir: Annotated[Path | None, typer.Option(help="報告書（HTML・CSV）を書くディレクトリ")] = None,
) -> None:
    """中間標準レイアウトのファイルを団体に取り込む（問題が1件でもあれば何も書かない）。"""
    _django()
    from moyai.portability.importer import import_fileset, write_report

    if not directory.is_dir():
        console.print(f"[red]エラー:[/red] ディレクトリ {directory} がありません")
        raise typer.Exit(2)
    with _progress() as progress:
        result = import_fileset(tenant, directory, gaiji_map=gaiji_map, progress=_Bar(progress))
    report = write_report(result, _report_dir(report_dir, tenant))
    _summary(result, report)
    if not result.ok:
        raise typer.Exit(1)
    console.print(f"[green]団体 {tenant} に取り込みました。[/green]")


def onboard_command(
    code: Annotated[str, typer.Option(help="全国地方公共団体コード（6桁）")],
    name: Annotated[str, typer.Option(help="団体名")],
    from_dir: Annotated[Path, typer.Option("--from", help="中間標準レイアウトのファイルがあるディレクトリ")],
    admin: Annotated[str | None, typer.Option(help="最初の管理者のユーザー名")] = None,
    password: Annotated[
        str | None, typer.Option(help="管理者を新規作成するときのパスワード（省略時は対話入力）")
    ] = None,
    consortium: Annotated[str | None, typer.Option(help="協議会コード（協議会が1つだけなら省略可）")] = None,
    prefecture: Annotated[str | None, typer.Option(help="都道府県（省略時は協議会の他の団体と同じ）")] = None,
    gaiji_map: Annotated[Path | None, typer.Option(help="外字対応表（CSV: 外字コード,置換文字）")] = None,
    report_dir: Annotated[Path | None, typer.Option(help="報告書（HTML・CSV）を書くディレクトリ")] = None,
) -> None:
    """後乗りの団体を協議会に加える: 団体の作成、最初の管理者、データの取込を1つのトランザクションで行う。"""
    _django()
    from moyai.portability.importer import write_report
    from moyai.portability.onboarding import OnboardingError, onboard

    if not from_dir.is_dir():
        console.print(f"[red]エラー:[/red] ディレクトリ {from_dir} がありません")
        raise typer.Exit(2)
    admin_password: str | None = None
    if admin is not None:
        from django.contrib.auth import get_user_model

        if not get_user_model().objects.filter(username=admin).exists():
            admin_password = password or typer.prompt("管理者のパスワード", hide_input=True, confirmation_prompt=True)
    try:
        with _progress() as progress:
            outcome = onboard(
                code,
                name,
                from_dir,
                consortium=consortium,
                prefecture=prefecture,
                admin=admin,
                admin_password=admin_password,
                gaiji_map=gaiji_map,
                progress=_Bar(progress),
            )
    except OnboardingError as exc:
        console.print(f"[red]エラー:[/red] {exc.message}")
        raise typer.Exit(1) from None
    report = write_report(outcome.result, _report_dir(report_dir, code))
    _summary(outcome.result, report)
    if not outcome.result.ok:
        console.print(f"[red]団体 {code} は作成していません。[/red]")
        raise typer.Exit(1)
    console.print(f"[green]団体 {code} {name} を協議会 {outcome.consortium} に加えました。[/green]")
    if outcome.admin:
        console.print(f"管理者: {outcome.admin}（役割 admin）")


def register(app: typer.Typer, tenant_app: typer.Typer) -> None:
    """Add ``import`` to the main app and ``onboard`` to ``tenant``."""
    app.command("import")(import_command)
    tenant_app.command("onboard")(onboard_command)
