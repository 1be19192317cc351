"""The demo database a benchmark measures on: its own, built once per scale and reused on request.

Shared by the benchmarks (certificates, ui, registry, suppression, portability). ``var/bench/<name>.sqlite3`` on SQLite, the
given database on PostgreSQL (dropped and re-created by the superuser when rebuilt); a marker file
``var/bench/<name>-<backend>.built`` remembers the scale it was built at.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"


def point_django(name: str, backend: str, pg_db: str, *, fresh: bool = True) -> None:
    """Point Django at the bench's database ``name`` (emptied first when ``fresh``) and set it up."""
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "moyai.settings"
    os.environ["MOYAI_DB"] = backend
    os.environ["MOYAI_DB_AS_OWNER"] = "1"
    if backend == "sqlite":
        db = OUT / f"{name}.sqlite3"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        os.environ["MOYAI_SQLITE_PATH"] = str(db)
    else:
        import psycopg

        from moyai.platform.tenancy.pgroles import ensure_roles, superuser_dsn

        ensure_roles()
        if fresh:
            with psycopg.connect(superuser_dsn(), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {pg_db}")
                conn.execute(f"CREATE DATABASE {pg_db} OWNER moyai_owner")
        os.environ["MOYAI_PG_NAME"] = pg_db
    import django

    django.setup()


def demo_database(name: str, backend: str, scale: float, reuse: bool, pg_db: str) -> float:
    """Point Django at the bench's demo database, build the demo unless a build at the same scale can
    be reused, ``ANALYZE`` it on PostgreSQL and from then on connect as the application role (under
    row-level security, as the server does). Returns the seconds spent migrating and building."""
    marker = OUT / f"{name}-{backend}.built"
    fresh = not (reuse and marker.exists() and marker.read_text() == str(scale))
    point_django(name, backend, pg_db, fresh=fresh)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from rich.console import Console

    from moyai import demo

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    if fresh:
        marker.unlink(missing_ok=True)  # a build cut short is not reused
        demo.build(scale=scale, seed=1, console=Console(quiet=True))
        marker.write_text(str(scale))
    build_s = time.perf_counter() - t0
    if backend == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        connection.close()
        settings.DATABASES["default"]["OPTIONS"]["options"] = f"-c role={settings.PG_APP_ROLE}"
    return build_s
