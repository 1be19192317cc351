"""Build the demo: the five members of the 山口県 group with synthetic residents.

Everything here is synthetic (Faker ja_JP names, real postal codes and town names from the
packaged postal data). Deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from moyai.certificates.signing import FileIdentityStore, init_test_keys
from moyai.platform.identity.services import create_staff, grant_role
from moyai.platform.tenancy.models import Consortium
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import create_consortium, create_tenant, set_parameter
from moyai.residents import services as residents
from moyai.residents.demo.generator import MUNICIPALITIES, generate

DEMO_PASSWORD = "moyai-demo-2026"  # noqa: S105 - a published demo login, synthetic data only
DEMO_USERS = [("madoguchi", "clerk"), ("shinsa", "approver"), ("kanri", "admin"), ("kansa", "auditor")]
DEMO_TODAY = dt.date(2026, 11, 1)

CONSORTIUM_DEFAULTS = {
    "certificate_fee": 300,
    "kiosk_fee": 200,
    "kiosk_hours": {"open": "06:30", "close": "23:00"},
    "resident_code_pool_alert_threshold": 100,
}

# (職名, 庁舎, 証明者の氏名): the names are invented for the demo, not the real office holders.
ISSUERS = {
    "352152": ("周南市長", "周南市役所", "舫　太郎"),
    "352071": ("下松市長", "下松市役所", "舫　花子"),
    "352101": ("光市長", "光市役所", "舫　次郎"),
    "352128": ("柳井市長", "柳井市役所", "舫　明美"),
    "355020": ("阿武町長", "阿武町役場", "舫　三郎"),
}


def certificate_key_dir() -> Path:
    """Where the demo keeps its 団体 signing keys (made by a test CA at build time)."""
    return Path(settings.BASE_DIR) / "var" / "demo" / "keys" / "certificates"


def build(scale: float = 1.0, seed: int = 1, console: Console | None = None, today: dt.date = DEMO_TODAY,
          key_dir: Path | None = None) -> Table:
    console = console or Console()
    started = time.perf_counter()
    consortium = Consortium.objects.filter(code="yamaguchi").first() or create_consortium(
        "yamaguchi", "山口県自治体クラウド協議会（デモ）", CONSORTIUM_DEFAULTS
    )
    User = get_user_model()
    for username, _ in DEMO_USERS:
        if not User.objects.filter(username=username).exists():
            create_staff(username, DEMO_PASSWORD)
    table = Table(title=f"デモ環境（縮尺 {scale}, 種 {seed}）")
    for col in ("団体コード", "団体名", "住民", "除票", "世帯", "異動", "秒"):
        table.add_column(col, justify="right" if col not in ("団体名",) else "left")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("団体を構築中", total=len(MUNICIPALITIES) * 3)
        for code, name, _population in MUNICIPALITIES:
            t0 = time.perf_counter()
            progress.update(task, description=f"{name}: 住民を生成中")
            pop = generate(code, scale=scale, seed=seed, today=today)
            gc.disable()  # hundreds of thousands of small, long-lived objects: the collector only costs time
            progress.advance(task)
            create_tenant(code, name, "山口県", consortium)
            for username, role in DEMO_USERS:
                grant_role(username, code, role, "demo")
            title, office, issuer_name = ISSUERS.get(code, (f"{name}長", f"{name}役所", "舫　太郎"))
            progress.update(task, description=f"{name}: 書き込み中")
            with tenant_scope(code):
                set_parameter("issuer_title", title, dt.date(2020, 4, 1), "demo")
                set_parameter("issuer_name", issuer_name, dt.date(2020, 4, 1), "demo")
                set_parameter("office_name", office, dt.date(2020, 4, 1), "demo")
                set_parameter("certificate_fee", 300, dt.date(2020, 4, 1), "demo")
                residents.load_resident_codes(pop.resident_code_pool)
                progress.advance(task)
                summary = residents.load_histories(
                    pop.events, next_atena_seq=pop.next_atena_seq, next_household_seq=pop.next_household_seq,
                    today=today,
                )
            gc.enable()
            progress.advance(task)
            table.add_row(code, name, f"{pop.resident_count:,}", f"{pop.removed_count:,}",
                          f"{pop.household_count:,}", f"{summary.events:,}", f"{time.perf_counter() - t0:.1f}")
    init_test_keys(FileIdentityStore(key_dir or certificate_key_dir()), [(code, name) for code, name, _ in MUNICIPALITIES])
    table.caption = f"合計 {time.perf_counter() - started:.1f} 秒"
    return table
