"""``moyai gateway …``: serve one data centre's gateway; make a development PKI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="情報連携ゲートウェイ（ASGI サービス・相互TLS）", no_args_is_help=True)
pki_app = typer.Typer(help="開発用の認証局と証明書", no_args_is_help=True)
app.add_typer(pki_app, name="pki")

console = Console()

DC_HELP = "データセンター（a または b）"


def _peers(values: list[str]) -> dict[str, str]:
    peers: dict[str, str] = {}
    for value in values:
        dc, sep, url = value.partition("=")
        if not sep or dc not in ("a", "b") or not url.startswith("https://"):
            console.print(f"[red]エラー:[/red] --peer は b=https://127.0.0.1:8442 の形式です（{value!r}）")
            raise typer.Exit(2)
        peers[dc] = url
    return peers


@pki_app.command("init")
def pki_init(directory: Path) -> None:
    """テスト用の認証局、両データセンターのサーバー証明書、団体ごとのクライアント証明書と鍵ストアを作る。"""
    from .pki import PkiError, init_pki

    try:
        pki = init_pki(directory)
    except PkiError as exc:
        console.print(f"[red]エラー:[/red] {exc}")
        raise typer.Exit(1) from None
    certs = sorted(p.name for p in (pki.dir / "certs").glob("*.pem"))
    console.print(f"認証局を作成しました: {pki.ca_cert}（証明書 {len(certs)} 件）")
    console.print(f"秘密鍵: {pki.dir / 'private'}（所有者のみ読み取り可）。リポジトリには入れないでください。")


@app.command("serve")
def serve(
    dc: Annotated[str, typer.Option("--dc", help=DC_HELP)],
    pki: Annotated[Path, typer.Option(help="認証局・証明書・鍵のディレクトリ（pki init で作成）",
                                      envvar="MOYAI_GATEWAY_PKI")],
    port: Annotated[int | None, typer.Option(help="待ち受けポート（既定: a は 8441、b は 8442）")] = None,
    host: Annotated[str, typer.Option(help="待ち受けアドレス")] = "127.0.0.1",
    peer: Annotated[list[str] | None, typer.Option(
        help="他のデータセンターのゲートウェイ（b=https://127.0.0.1:8442）。環境変数 MOYAI_GATEWAY_PEER_A / _B でも可")] = None,
    batch_size: Annotated[int, typer.Option(help="チェックポイントのバッチの大きさ")] = 256,
    registry_threads: Annotated[int, typer.Option(help="住民記録の読み取りに使うスレッド数")] = 8,
    pool_size: Annotated[int, typer.Option(help="PostgreSQL の非同期接続プールの最大接続数")] = 16,
    registry_pool_size: Annotated[int, typer.Option(
        help="団体ごとの住民記録読み取り用接続プールの最大接続数（照会のあった団体ごと）")] = 8,
    read_batch: Annotated[int, typer.Option(
        help="同時に待つ照会のノンス・符号・住民記録の読み取り（同じ団体）と符号の発行を、それぞれ1つのSQL文にまとめる最大件数（1: まとめない）")] = 64,
    workers: Annotated[int, typer.Option(help="サーバープロセス数（同じポートで待ち受ける）")] = 1,
    http: Annotated[str, typer.Option(help="HTTP パーサー（auto・httptools・h11）")] = "auto",
    loop: Annotated[str, typer.Option(help="イベントループ（auto・uvloop・asyncio）")] = "auto",
) -> None:
    """1つのデータセンターのゲートウェイを起動する（相互TLS、データベースは MOYAI_DB などの環境変数）。"""
    if dc not in ("a", "b"):
        console.print(f"[red]エラー:[/red] {DC_HELP}: {dc!r}")
        raise typer.Exit(2)
    if http not in ("auto", "httptools", "h11") or loop not in ("auto", "uvloop", "asyncio"):
        console.print(f"[red]エラー:[/red] --http は auto・httptools・h11、--loop は auto・uvloop・asyncio です（{http!r}, {loop!r}）")
        raise typer.Exit(2)
    if workers < 1:
        console.print(f"[red]エラー:[/red] --workers は1以上です（{workers}）")
        raise typer.Exit(2)
    if read_batch < 1:
        console.print(f"[red]エラー:[/red] --read-batch は1以上です（{read_batch}）")
        raise typer.Exit(2)
    if registry_pool_size < 1:
        console.print(f"[red]エラー:[/red] --registry-pool-size は1以上です（{registry_pool_size}）")
        raise typer.Exit(2)
    peers = _peers(peer or [])
    for other in ("a", "b"):
        url = os.environ.get(f"MOYAI_GATEWAY_PEER_{other.upper()}")
        if other != dc and url and other not in peers:
            peers.update(_peers([f"{other}={url}"]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    import django

    django.setup()
    from .run import GatewayConfig, collector_threshold
    from .run import serve as run

    try:
        collector_threshold()  # read again by each server process at start-up
    except ValueError as exc:
        console.print(f"[red]エラー:[/red] {exc}")
        raise typer.Exit(2) from None

    run(GatewayConfig(dc=dc, pki_dir=str(pki), host=host, port=port or (8441 if dc == "a" else 8442),
                      peers=peers, batch_size=batch_size, registry_threads=registry_threads, pool_size=pool_size,
                      registry_pool_size=registry_pool_size, read_batch=read_batch,
                      workers=workers, http=http, loop=loop))
