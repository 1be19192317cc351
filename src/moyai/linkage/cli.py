"""``moyai linkage …``: 宛名連携 for an operator's timer (cron, systemd timer).

Mounted in :mod:`moyai.cli` with ``app.add_typer(linkage_app(), name="linkage")``.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

app = typer.Typer(help="宛名連携（他業務システムへの住民データの提供）", no_args_is_help=True)

PUSH_MODES = ("realtime", "interval")


@app.callback()
def _group() -> None:
    """宛名連携（他業務システムへの住民データの提供）"""


@app.command("push")
def push(
    tenant: Annotated[list[str] | None, typer.Option(help="団体コード（複数可）。省略時は有効な全団体")] = None,
    mode: Annotated[list[str] | None, typer.Option(
        help="送る連携先の連携方式 realtime / interval（複数可）。省略時は両方")] = None,
) -> None:
    """ファイル連携先へ未送信の異動分を送る（タイマーから10分以内ごとに実行）。

    連携先ごとに1ファイル（連携番号の範囲を名前に含む）。出力先に書けない連携先があっても
    他の連携先には送り、終了コード1で知らせる（未送信分は次回まとめて送る）。
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    import django

    django.setup()
    from moyai.platform.tenancy.models import Tenant

    from .services import push_all

    modes = tuple(mode or PUSH_MODES)
    bad = [m for m in modes if m not in PUSH_MODES]
    if bad:
        typer.echo(f"エラー: 連携方式 {', '.join(bad)} は送信できません（realtime・interval のいずれか）", err=True)
        raise typer.Exit(2)
    active = list(Tenant.objects.filter(active=True).order_by("code").values_list("code", flat=True))
    codes = list(dict.fromkeys(tenant)) if tenant else active
    unknown = [c for c in codes if c not in active]
    if unknown:
        typer.echo(f"エラー: 団体 {', '.join(unknown)} は登録されていないか、有効ではありません", err=True)
        raise typer.Exit(2)
    failed = 0
    sent = 0
    for code in codes:
        outcomes = push_all(code, modes=modes)
        for consumer_id, outcome in outcomes.items():
            if outcome.startswith("sent "):
                sent += 1
                typer.echo(f"{code} {consumer_id}: 送信しました {outcome.removeprefix('sent ')}")
            elif outcome == "nothing":
                typer.echo(f"{code} {consumer_id}: 未送信の異動分はありません")
            else:
                failed += 1
                typer.echo(f"{code} {consumer_id}: 送信できませんでした: {outcome}", err=True)
    typer.echo(f"{len(codes)} 団体: {sent} 件送信、{failed} 件失敗")
    if failed:
        raise typer.Exit(1)
