"""Where the write of a 中間標準レイアウト import goes on PostgreSQL: per table, per statement.

Not a benchmark of record (``bench/portability.py`` is): a profiling aid for the write
(:func:`moyai.portability.importer.pipeline.write_prepared`). For each 団体 of a file set it
checks the files (``prepare_fileset``, Python only), then writes them as the application role
under row-level security and reports, per table written by ``platform/db/bulk.py``: rows, wall
seconds, the CPU seconds of the PostgreSQL backend serving the connection (``/proc/<pid>/stat``),
and the seconds of each ``INSERT … SELECT`` from the staging table; the commit; and the WAL
written (``pg_current_wal_lsn()`` before and after). ``--explain`` runs each ``INSERT … SELECT``
as ``EXPLAIN (ANALYZE, BUFFERS, WAL)`` instead (it still inserts) and prints the plans.

Each run starts from a copy of a template database (migrated, the five 団体 created), so runs
are comparable; ``--rebuild`` re-creates the template (after a migration).

    .venv/bin/python bench/_import_profile.py --files DIR [--tenants 352152,352071] [--explain]
    .venv/bin/python bench/_import_profile.py --backend sqlite --files DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """utime + stime of a process, in seconds (readable for any process of this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _setup(backend: str, db: str, rebuild: bool) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "moyai.settings"
    os.environ["MOYAI_DB"] = backend
    os.environ["MOYAI_DB_AS_OWNER"] = "1"
    if backend == "postgresql":
        import psycopg

        from moyai.platform.tenancy.pgroles import ensure_roles, superuser_dsn

        ensure_roles()
        tmpl = f"{db}_tmpl"
        with psycopg.connect(superuser_dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [tmpl]).fetchone()
            if rebuild or exists is None:
                conn.execute(f"DROP DATABASE IF EXISTS {tmpl}")
                conn.execute(f"CREATE DATABASE {tmpl} OWNER moyai_owner")
                _build_template(tmpl)
            conn.execute(f"DROP DATABASE IF EXISTS {db}")
            conn.execute(f"CREATE DATABASE {db} OWNER moyai_owner TEMPLATE {tmpl}")
        os.environ["MOYAI_PG_NAME"] = db
    else:
        path = Path(tempfile.gettempdir()) / f"{db}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["MOYAI_SQLITE_PATH"] = str(path)
    import django

    django.setup()
    if backend == "sqlite":
        _migrate_and_tenants()


def _migrate_and_tenants() -> None:
    from django.core.management import call_command

    from moyai.demo import CONSORTIUM_DEFAULTS
    from moyai.platform.tenancy.services import create_consortium, create_tenant
    from moyai.residents.demo.generator import MUNICIPALITIES

    call_command("migrate", verbosity=0)
    consortium = create_consortium("yamaguchi", "山口県自治体クラウド協議会（プロファイル）", CONSORTIUM_DEFAULTS)
    for code, name, _pop in MUNICIPALITIES:
        create_tenant(code, name, "山口県", consortium)


def _build_template(tmpl: str) -> None:
    """Migrate the template and create the tenants, in a child process (Django is set up once per process)."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "MOYAI_PG_NAME": tmpl,
        "MOYAI_DB": "postgresql",
        "MOYAI_DB_AS_OWNER": "1",
        "DJANGO_SETTINGS_MODULE": "moyai.settings",
    }
    code = (
        "import django; django.setup(); import sys; sys.path.insert(0, 'bench'); "
        "import _import_profile as p; p._migrate_and_tenants(); "
        "from django.db import connection; connection.close()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


class Probe:
    """Per-table figures of the write: rows, wall and backend CPU of each bulk flush and statement."""

    def __init__(self, backend: str, explain: bool) -> None:
        self.backend = backend
        self.explain = explain
        self.pid = 0
        self.depth = 0
        self.tables: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.plans: list[str] = []
        self.commit_s = 0.0
        self.commit_cpu = 0.0

    def cpu(self) -> float:
        """CPU seconds of the database engine: the PostgreSQL backend, or this process (SQLite)."""
        return _cpu_of(self.pid) if self.backend == "postgresql" else time.process_time()

    def statement(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        is_move = sql.startswith("INSERT INTO") and "stage_" in sql
        if not is_move:
            return execute(sql, params, many, context)
        table = sql.split('"')[1]
        t0, c0 = time.perf_counter(), self.cpu()
        if self.explain:
            out = execute("EXPLAIN (ANALYZE, BUFFERS, WAL, VERBOSE) " + sql, params, many, context)
            plan = "\n".join(r[0] for r in context["cursor"].fetchall())
            self.plans.append(f"--- {table}\n{plan}")
        else:
            out = execute(sql, params, many, context)
        t = self.tables[table]
        t["move_s"] += time.perf_counter() - t0
        t["move_cpu"] += self.cpu() - c0
        return out


PHASES: dict[str, tuple[float, float, float]] = {}  # phase → (wall, process CPU, database CPU)
PROBE: Probe


def _write(code: str, prepared: Any) -> int:
    """The write of ``write_prepared`` that this profile measures: one transaction under the 団体's
    scope with the load of the 異動 and projections (:func:`load_histories`) and the access log
    naming every person (kept fixed here while the import pipeline around it changes; without
    :func:`moyai.platform.db.bulk.overlapped`, see :func:`profile`)."""
    from moyai.platform.audit import services as audit
    from moyai.platform.tenancy.models import Tenant
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.portability.importer import SystemActor
    from moyai.residents.services import load_histories

    with tenant_scope(code):
        list(Tenant.objects.select_for_update().filter(code=code).values_list("code", flat=True))
        t0, p0, b0 = time.perf_counter(), time.process_time(), PROBE.cpu()
        summary = load_histories(
            prepared.events, next_atena_seq=prepared.next_atena_seq, next_household_seq=prepared.next_household_seq
        )
        PHASES["load_histories"] = (time.perf_counter() - t0, time.process_time() - p0, PROBE.cpu() - b0)
        t0, p0, b0 = time.perf_counter(), time.process_time(), PROBE.cpu()
        audit.record(
            SystemActor("profile"),
            "portability.import",
            sorted({e.atena_no for e in prepared.events}),
            purpose="中間標準レイアウトによるデータ移行",
            detail={"history_rows": summary.events},
        )
        PHASES["audit"] = (time.perf_counter() - t0, time.process_time() - p0, PROBE.cpu() - b0)
    return summary.events


def profile(tenants: list[str], files: Path, backend: str, explain: bool) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection

    import moyai.platform.db.bulk as bulk
    from moyai.portability.importer.pipeline import no_gc, prepare_fileset

    # the moves are timed statement by statement through Django's execute wrapper: inside
    # bulk.overlapped() they would run on a worker thread's raw cursor, unseen, and overlap the
    # Python they are to be told apart from — so this profile writes without the overlap
    bulk.overlapped = contextlib.nullcontext
    if backend == "postgresql":
        connection.close()
        settings.DATABASES["default"]["OPTIONS"]["options"] = f"-c role={settings.PG_APP_ROLE}"
    global PROBE
    probe = PROBE = Probe(backend, explain)

    def timed(original: Any) -> Any:
        def run(table: str, *args: Any) -> int:
            if probe.depth:  # _copy of a few rows calls _executemany
                return int(original(table, *args))
            probe.depth += 1
            t0, c0 = time.perf_counter(), probe.cpu()
            try:
                n = int(original(table, *args))
            finally:
                probe.depth -= 1
            t = probe.tables[table]
            t["rows"] += n
            t["flushes"] += 1
            t["flush_s"] += time.perf_counter() - t0
            t["flush_cpu"] += probe.cpu() - c0
            return n

        return run

    for name in ("_flush", "_copy", "_executemany"):  # the bulk module of before and after the change
        if hasattr(bulk, name):
            setattr(bulk, name, timed(getattr(bulk, name)))
    out: dict[str, Any] = {"loadavg_start": Path("/proc/loadavg").read_text().split()[:3], "tenants": {}}
    for code in tenants:
        probe.tables.clear()
        probe.plans.clear()
        c0 = time.process_time()
        with no_gc():
            prepared = prepare_fileset(code, files / code)
        check_cpu = time.process_time() - c0
        assert not prepared.result.problems, prepared.result.problems[:3]
        connection.ensure_connection()
        with connection.cursor() as cur:
            if backend == "postgresql":
                cur.execute("SELECT pg_backend_pid(), pg_current_wal_lsn()")
                probe.pid, lsn0 = cur.fetchone()
            else:
                lsn0 = None
        raw = connection.connection
        real_commit = connection._commit  # type: ignore[attr-defined]

        def timed_commit(real_commit: Any = real_commit) -> None:
            t0, c0 = time.perf_counter(), probe.cpu()
            real_commit()
            probe.commit_s = time.perf_counter() - t0
            probe.commit_cpu = probe.cpu() - c0

        connection._commit = timed_commit  # type: ignore[attr-defined]
        t0, p0, b0 = time.perf_counter(), time.process_time(), probe.cpu()
        with no_gc(), connection.execute_wrapper(probe.statement):
            events = _write(code, prepared)
        write_s = time.perf_counter() - t0
        write_cpu, backend_cpu = time.process_time() - p0, probe.cpu() - b0
        connection._commit = real_commit  # type: ignore[attr-defined]
        wal = None
        if backend == "postgresql":
            with raw.cursor() as cur:
                cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [lsn0])
                wal = int(cur.fetchone()[0])
            raw.commit()
        out["tenants"][code] = {
            "events": events,
            "check_cpu_s": round(check_cpu, 2),
            "write_s": round(write_s, 2),
            "write_process_cpu_s": round(write_cpu, 2),
            "write_backend_cpu_s": round(backend_cpu, 2),
            "commit_s": round(probe.commit_s, 2),
            "commit_backend_cpu_s": round(probe.commit_cpu, 2),
            "wal_mb": round(wal / 1e6, 1) if wal is not None else None,
            "phases (wall, process cpu, database cpu)": {k: [round(x, 2) for x in v] for k, v in PHASES.items()},
            "tables": {k: {kk: round(vv, 3) for kk, vv in v.items()} for k, v in probe.tables.items()},
        }
        if explain:
            print("\n".join(probe.plans))
    out["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=Path, required=True)
    ap.add_argument("--tenants", default="352152,352071,352101,352128,355020")
    ap.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--db", default="moyai_importspeed_bench")
    ap.add_argument("--rebuild", action="store_true", help="re-create the template database (after a migration)")
    ap.add_argument("--explain", action="store_true")
    args = ap.parse_args()
    _setup(args.backend, args.db, args.rebuild)
    tenants = list(dict.fromkeys(args.tenants.split(",")))
    print(json.dumps(profile(tenants, args.files, args.backend, args.explain), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
