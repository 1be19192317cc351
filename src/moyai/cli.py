"""The ``moyai`` command line (typer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Moyai 自治体クラウド: 運用コマンド", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="データベース（移行・ロール）", no_args_is_help=True)
exchange_app = typer.Typer(help="情報連携（ゲートウェイ）", no_args_is_help=True)
tenant_app = typer.Typer(help="団体（テナント）", no_args_is_help=True)
staff_app = typer.Typer(help="職員・役割", no_args_is_help=True)
registry_app = typer.Typer(help="住民記録のバッチ処理", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(exchange_app, name="exchange")


def _certificates_app() -> typer.Typer:
    from moyai.certificates.cli import app as certificates

    return certificates


app.add_typer(_certificates_app(), name="certificates")


def _gateway_app() -> typer.Typer:
    from moyai.gateway.server.cli import app as gateway

    return gateway


app.add_typer(_gateway_app(), name="gateway")
app.add_typer(tenant_app, name="tenant")
app.add_typer(staff_app, name="staff")
app.add_typer(registry_app, name="registry")
from moyai.linkage.cli import app as linkage_app  # noqa: E402  (typer only; Django set up per command)

app.add_typer(linkage_app, name="linkage")


def _portability(app: typer.Typer, tenant_app: typer.Typer) -> None:
    from moyai.portability.cli import register

    register(app, tenant_app)


_portability(app, tenant_app)


def _export(app: typer.Typer) -> None:
    from moyai.portability.export_cli import register

    register(app)


_export(app)

console = Console()


def _django(owner: bool = False) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    if owner:
        os.environ["MOYAI_DB_AS_OWNER"] = "1"
    import django

    django.setup()


def _fail(message: str) -> None:
    console.print(f"[red]エラー:[/red] {message}")
    raise typer.Exit(1)


@db_app.command("init-roles")
def db_init_roles() -> None:
    """PostgreSQL のロール（所有者・アプリケーション）を作成する（スーパーユーザー接続が必要）。"""
    from moyai.platform.tenancy.pgroles import ensure_roles

    ensure_roles()
    console.print("ロールを作成しました: moyai_owner, moyai_app")


@db_app.command("migrate")
def db_migrate() -> None:
    """スキーマを最新にする（PostgreSQL では所有者ロールで実行）。"""
    _django(owner=True)
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if str(db["ENGINE"]).endswith("sqlite3"):
        Path(str(db["NAME"])).parent.mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0)
    console.print("データベースを最新の状態にしました")


@app.command()
def demo(
    scale: Annotated[float, typer.Option(help="人口の縮尺（1.0 = 実人口 288,944 人）")] = 1.0,
    seed: Annotated[int, typer.Option(help="乱数の種（同じ種なら同じデータ）")] = 1,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="構築後にサーバーを起動する")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """山口県グループ5団体のデモ環境を構築する（合成データのみ）。"""
    if not 0 < scale <= 1.0:
        _fail("--scale は 0 より大きく 1.0 以下で指定してください")
    _django(owner=True)
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if str(db["ENGINE"]).endswith("sqlite3"):
        path = Path(str(db["NAME"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    from moyai.demo import DEMO_PASSWORD, DEMO_USERS, build, certificate_key_dir

    os.environ.setdefault("MOYAI_CERT_KEY_DIR", str(certificate_key_dir()))
    summary = build(scale=scale, seed=seed, console=console)
    console.print(summary)
    console.print("\n[bold]デモ用ログイン[/bold]（全5団体に所属）:")
    for username, role in DEMO_USERS:
        console.print(f"  {username:10s} / {DEMO_PASSWORD}   役割: {role}")
    if serve:
        _serve(host, port)


def _serve(host: str, port: int) -> None:
    import uvicorn

    console.print(f"\n[bold]窓口画面[/bold]: http://{host}:{port}/  （ログイン: http://{host}:{port}/login/）")
    console.print(f"証明書の検証ページ（ログイン不要）: http://{host}:{port}/verify/")
    console.print(f"API ドキュメント: http://{host}:{port}/api/v1/docs   OpenAPI: http://{host}:{port}/api/v1/openapi.json")
    console.print("停止は Ctrl+C")
    uvicorn.run("moyai.asgi:application", host=host, port=port, log_level="warning")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """サーバーを起動する。"""
    _django()
    from moyai.demo import certificate_key_dir

    if certificate_key_dir().is_dir():  # the demo's test keys, unless the operator names a key store
        os.environ.setdefault("MOYAI_CERT_KEY_DIR", str(certificate_key_dir()))
    _serve(host, port)


@tenant_app.command("create")
def tenant_create(
    code: Annotated[str, typer.Option(help="全国地方公共団体コード（6桁）")],
    name: Annotated[str, typer.Option(help="団体名")],
    prefecture: Annotated[str, typer.Option(help="都道府県")],
    consortium: Annotated[str, typer.Option(help="協議会コード")],
) -> None:
    """協議会に団体を追加する。"""
    _django()
    from moyai.platform.tenancy.errors import TenancyError
    from moyai.platform.tenancy.models import Consortium
    from moyai.platform.tenancy.services import create_tenant

    c = Consortium.objects.filter(code=consortium).first()
    if c is None:
        _fail(f"協議会 {consortium} は登録されていません")
        return
    try:
        t = create_tenant(code, name, prefecture, c)
    except TenancyError as exc:
        _fail(exc.message)
        return
    console.print(f"団体を登録しました: {t}")


@staff_app.command("add")
def staff_add(
    username: str,
    tenant: Annotated[str, typer.Option(help="団体コード")],
    role: Annotated[str, typer.Option(help="clerk / approver / admin / auditor")],
    password: Annotated[str | None, typer.Option(help="新規作成時のパスワード（省略時は対話入力）")] = None,
) -> None:
    """職員を作成（または既存の職員に）団体の役割を付与する。"""
    _django()
    from django.contrib.auth import get_user_model

    from moyai.platform.identity.services import IdentityError, create_staff, grant_role

    if not get_user_model().objects.filter(username=username).exists():
        pw = password or typer.prompt("パスワード", hide_input=True, confirmation_prompt=True)
        create_staff(username, pw)
    try:
        grant_role(username, tenant, role, "cli")
    except IdentityError as exc:
        _fail(exc.message)
    console.print(f"{username} に団体 {tenant} の役割 {role} を付与しました")


@registry_app.command("refresh")
def registry_refresh(tenant: Annotated[str, typer.Option(help="団体コード")]) -> None:
    """日次バッチ: 異動日が到来した未反映の異動（転出予定など）を反映する。"""
    _django()
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents.projections import refresh_due

    with tenant_scope(tenant):
        n = refresh_due()
    console.print(f"{n} 件の住民記録を更新しました")


@registry_app.command("rebuild")
def registry_rebuild(tenant: Annotated[str, typer.Option(help="団体コード")]) -> None:
    """現在の記録と検索キー（投影）を異動の記録から作り直す。"""
    _django()
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents.projections import rebuild_all

    with tenant_scope(tenant):
        n = rebuild_all()
    console.print(f"{n} 件の住民記録を作り直しました")


@registry_app.command("load-resident-codes")
def load_codes(tenant: Annotated[str, typer.Option(help="団体コード")], file: Path) -> None:
    """CS から供給された住民票コード（1行1件）を在庫に取り込む。"""
    _django()
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents.errors import RegistryError
    from moyai.residents.services import load_resident_codes, resident_code_pool_status

    try:
        with tenant_scope(tenant):
            n = load_resident_codes(file.read_text(encoding="utf-8").splitlines())
            st = resident_code_pool_status()
    except RegistryError as exc:
        _fail(f"{file}: {exc.message}")
        return
    console.print(f"{n} 件を取り込みました（在庫 {st.free} 件）")
    if st.low:
        console.print(f"[yellow]アラート:[/yellow] 住民票コードの在庫が警告基準（{st.threshold} 件）を下回っています")


@exchange_app.command("verify-log")
def exchange_verify_log(
    keys: Annotated[Path, typer.Option(help="ログ署名鍵のディレクトリ（鍵ストア）")],
    log: Annotated[str, typer.Option(help="ログの識別子（データセンターごと）")] = "dc-a",
) -> None:
    """情報連携ログが改ざんされていないことを検証する（最初の不整合な記録を示す）。"""
    _django()
    from moyai.gateway.domain.keystore import FileKeyStore
    from moyai.gateway.domain.signing import KeyStoreVerifier
    from moyai.gateway.store import verify_log_command

    ok, message = verify_log_command(log, KeyStoreVerifier(FileKeyStore(keys)))
    console.print(message)
    if not ok:
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def manage(ctx: typer.Context) -> None:
    """Django の管理コマンドをそのまま実行する。"""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["moyai manage", *ctx.args])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
