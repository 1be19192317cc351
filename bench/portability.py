"""Benchmark of the 中間標準レイアウト migration: import and export of the whole 山口県 group.

For each backend, in one run and on the same files:

- **import**: the synthetic file sets of the five 団体 (288,944 residents at scale 1.0, with
  their 除票 and full history) imported through the real path
  (:func:`moyai.portability.importer.import_fileset`: every check, then the all-or-nothing write
  of the 異動, the projections and the access log), beside the time to load the same rows of the
  same files into unconstrained tables — raw ``COPY … FROM STDIN (FORMAT csv)`` on PostgreSQL,
  ``csv.reader`` + one plain ``executemany`` on SQLite — as a ratio;
- **export**: :func:`moyai.portability.exporter.export_tenant` of the five 団体 (every file
  written, audited), beside a raw ``COPY (SELECT … FROM residents_event …) TO STDOUT (FORMAT
  csv)`` of the same 団体's 異動 into a file on PostgreSQL (on SQLite: ``SELECT`` +
  ``csv.writer``), as a ratio — first right after the import (which stores no lines of the 住民
  file: every person's computed and stored, ``moyai.portability.lines``), then again (steady
  state: the stored lines read; on PostgreSQL also through a server-side cursor instead of
  ``COPY``);
- and a check that the export of what was imported is byte-identical to the files imported.

    .venv/bin/python bench/portability.py                    # both backends, full scale
    .venv/bin/python bench/portability.py --scale 0.05 --backend sqlite
    .venv/bin/python bench/portability.py --backend sqlite --reuse-files   # files of the last run

The synthetic files are written once (``var/bench/portability/files``) before the backends run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "portability"
FILES = OUT / "files"


def write_files(scale: float, seed: int, reuse: bool) -> dict[str, Any]:
    """The synthetic files (or, with ``reuse``, those of an earlier run with the same scale and seed)."""
    from moyai.portability.synthetic import write_synthetic

    stamp = FILES / "files.json"
    if reuse and stamp.exists():
        done: dict[str, Any] = json.loads(stamp.read_text())
        if (done["scale"], done["seed"]) == (scale, seed):
            return done
    shutil.rmtree(FILES, ignore_errors=True)
    t0 = time.perf_counter()
    sets = write_synthetic(FILES, scale=scale, seed=seed)
    out = {
        "scale": scale,
        "seed": seed,
        "generate_and_write_s": round(time.perf_counter() - t0, 2),
        "tenants": {
            s.tenant_code: {
                "name": s.name,
                "residents": s.summary.residents,
                "removed": s.summary.removed,
                "history_rows": s.summary.history_rows,
                "households": s.summary.households,
                "bytes": sum((s.directory / f.file_name).stat().st_size for f in s.summary.files),
            }
            for s in sets
        },
    }
    stamp.write_text(json.dumps(out, ensure_ascii=False, indent=2))
    return out


def _setup(backend: str) -> None:
    from _demo_db import point_django

    point_django("portability", backend, "moyai_bench_portability")


def _file_specs() -> list[tuple[str, list[str]]]:
    from moyai.portability.format import load_layout

    return [(f.file_name, list(f.ids)) for f in load_layout().files]


def _raw_load_postgresql(tenants: list[str]) -> float:
    """COPY every file of every 団体 into unconstrained text tables (no key, no index, no RLS)."""
    from django.db import connection

    specs = _file_specs()
    with connection.cursor() as cur:
        for n, (_name, ids) in enumerate(specs):
            cur.execute(f"DROP TABLE IF EXISTS bench_raw_{n}")
            cur.execute(f"CREATE TABLE bench_raw_{n} ({', '.join(f'{c} text' for c in ids)})")
    raw = connection.connection  # the psycopg connection
    assert raw is not None
    t0 = time.perf_counter()
    with raw.cursor() as cur:
        for code in tenants:
            for n, (name, _ids) in enumerate(specs):
                with (
                    cur.copy(f"COPY bench_raw_{n} FROM STDIN (FORMAT csv, HEADER true)") as copy,
                    (FILES / code / name).open("rb") as fh,
                ):
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
    raw.commit()
    return time.perf_counter() - t0


def _raw_load_sqlite(tenants: list[str]) -> float:
    """csv.reader + one plain executemany per file into unconstrained tables (no key, no index)."""
    from django.db import connection

    specs = _file_specs()
    with connection.cursor() as cur:
        for n, (_name, ids) in enumerate(specs):
            cur.execute(f"DROP TABLE IF EXISTS bench_raw_{n}")
            cur.execute(f"CREATE TABLE bench_raw_{n} ({', '.join(f'{c} text' for c in ids)})")
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("BEGIN")
        for code in tenants:
            for n, (name, ids) in enumerate(specs):
                with (FILES / code / name).open(encoding="utf-8", newline="") as fh:
                    reader = csv.reader(fh)
                    next(reader)
                    marks = ", ".join("?" for _ in ids)
                    cur.executemany(f"INSERT INTO bench_raw_{n} VALUES ({marks})", reader)
        cur.execute("COMMIT")
    return time.perf_counter() - t0


def _raw_export(backend: str, code: str, target: Path) -> float:
    """Every 異動 row of the 団体 written to a CSV file the fastest plain way of the backend."""
    from django.db import connection

    from moyai.platform.tenancy.scope import tenant_scope

    target.mkdir(parents=True, exist_ok=True)
    path = target / "residents_event.csv"
    t0 = time.perf_counter()
    with tenant_scope(code):
        if backend == "postgresql":
            raw = connection.connection
            assert raw is not None
            with (
                raw.cursor() as cur,
                path.open("wb") as out,
                cur.copy(
                    "COPY (SELECT * FROM residents_event WHERE tenant_code = %s ORDER BY atena_no) TO STDOUT (FORMAT csv)",
                    (code,),
                ) as copy,
            ):
                for chunk in copy:
                    out.write(chunk)
        else:
            with connection.cursor() as cur, path.open("w", encoding="utf-8", newline="") as out:
                cur.execute("SELECT * FROM residents_event WHERE tenant_code = %s ORDER BY atena_no", [code])
                writer = csv.writer(out)
                while rows := cur.fetchmany(5000):
                    writer.writerows(rows)
    return time.perf_counter() - t0


def child(backend: str) -> dict[str, Any]:
    _setup(backend)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from moyai.demo import CONSORTIUM_DEFAULTS
    from moyai.platform.tenancy.services import create_consortium, create_tenant
    from moyai.portability import exporter
    from moyai.portability.exporter import export_tenant
    from moyai.portability.importer import SystemActor, import_fileset
    from moyai.residents.demo.generator import MUNICIPALITIES

    load_start = os.getloadavg()[0]
    call_command("migrate", verbosity=0)
    consortium = create_consortium("yamaguchi", "山口県自治体クラウド協議会（ベンチマーク）", CONSORTIUM_DEFAULTS)
    tenants = [code for code, _name, _pop in MUNICIPALITIES]
    for code, name, _pop in MUNICIPALITIES:
        create_tenant(code, name, "山口県", consortium)
    if backend == "postgresql":
        raw_load = _raw_load_postgresql(tenants)  # as the owner: the application role creates no table
        connection.close()  # from here on as the application role, under row-level security
        settings.DATABASES["default"]["OPTIONS"]["options"] = f"-c role={settings.PG_APP_ROLE}"
    else:
        raw_load = _raw_load_sqlite(tenants)

    actor = SystemActor("bench")
    imports: dict[str, float] = {}
    cpu0 = time.process_time()
    for code in tenants:
        t0 = time.perf_counter()
        imported = import_fileset(code, FILES / code, actor=actor)
        imports[code] = time.perf_counter() - t0
        if not imported.ok:
            raise SystemExit(f"{code}: import refused: {[str(p) for p in imported.problems[:5]]}")
    import_cpu = time.process_time() - cpu0
    if backend == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")

    def timed_export(code: str, target: Path) -> tuple[float, float, Any]:
        shutil.rmtree(target, ignore_errors=True)
        t0, c0 = time.perf_counter(), time.process_time()
        result = export_tenant(code, target, actor=actor, purpose="ベンチマーク")
        return time.perf_counter() - t0, time.process_time() - c0, result

    exports: dict[str, dict[str, float]] = {"first": {}, "steady": {}}
    if backend == "postgresql":
        exports["steady_cursor"] = {}
    cpu: dict[str, float] = dict.fromkeys(exports, 0.0)
    raw_exports: dict[str, float] = {}
    identical: dict[str, bool] = {}
    for code in tenants:
        target = OUT / f"export-{backend}" / code
        raw_exports[code] = _raw_export(backend, code, OUT / f"raw-export-{backend}" / code)
        # first: right after the import (which stores no lines: every person computed and stored);
        # steady: again (the stored lines read, nothing to recompute)
        for kind in ("first", "steady"):
            exports[kind][code], c, result = timed_export(code, target)
            cpu[kind] += c
        identical[code] = all(
            (target / f.file_name).read_bytes() == (FILES / code / f.file_name).read_bytes()
            for f in result.summary.files
        )
        if backend == "postgresql":  # the stored lines read through a server-side cursor instead of COPY
            exporter.PG_READ = "cursor"
            exports["steady_cursor"][code], c, result = timed_export(code, target)
            cpu["steady_cursor"] += c
            exporter.PG_READ = "copy"
            identical[code] &= (target / "JYUKI_KOJIN.csv").read_bytes() == (
                FILES / code / "JYUKI_KOJIN.csv"
            ).read_bytes()
    return {
        "backend": backend,
        "load_start": round(load_start, 1),
        "load_end": round(os.getloadavg()[0], 1),
        "import_s": {k: round(v, 2) for k, v in imports.items()},
        "import_cpu_s": round(import_cpu, 1),
        "export_cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        "raw_load_s": round(raw_load, 2),
        "export_s": {kind: {k: round(v, 2) for k, v in per.items()} for kind, per in exports.items()},
        "raw_export_s": {k: round(v, 3) for k, v in raw_exports.items()},
        "export_identical_to_input": identical,
    }


def report(files: dict[str, Any], scale: float, results: list[dict[str, Any]]) -> str:
    t = files["tenants"]
    residents = sum(v["residents"] for v in t.values())
    removed = sum(v["removed"] for v in t.values())
    rows = sum(v["history_rows"] for v in t.values())
    size = sum(v["bytes"] for v in t.values())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores (shared, load average {load:.1f} at the end), "
        f"Python {platform.python_version()}",
        f"scale {scale}: 5 団体, {residents:,} residents + {removed:,} 除票, {rows:,} history rows, "
        f"{size / 1e6:.1f} MB of CSV (synthetic files written in {files['generate_and_write_s']} s)",
        "",
    ]
    for r in results:
        imp = sum(r["import_s"].values())
        raw_exp = sum(r["raw_export_s"].values())
        base = "raw COPY FROM" if r["backend"] == "postgresql" else "csv.reader + executemany"
        base_out = "raw COPY TO" if r["backend"] == "postgresql" else "SELECT + csv.writer"
        lines.append(f"== {r['backend']} == (load average {r['load_start']} at the start, {r['load_end']} at the end)")
        lines.append(
            f"import (full validation + write): {imp:.1f} s   {base}: {r['raw_load_s']:.2f} s   "
            f"ratio {imp / max(r['raw_load_s'], 1e-3):.1f}x"
        )
        lines.append("  per 団体: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["import_s"].items()))
        lines.append(f"  CPU time of the Moyai process: {r['import_cpu_s']} s (the rest is the database and waiting)")
        lines.append(f"{base_out} of residents_event: {raw_exp:.2f} s")
        labels = {
            "first": "first export after the import (every person's lines computed and stored)",
            "steady": "export again (steady state: stored lines read)",
            "steady_cursor": "export again, lines read through a server-side cursor instead of COPY",
        }
        for kind, per in r["export_s"].items():
            exp = sum(per.values())
            lines.append(
                f"{labels[kind]}: {exp:.1f} s   ratio {exp / max(raw_exp, 1e-3):.1f}x   CPU {r['export_cpu_s'][kind]} s"
            )
            lines.append("  per 団体: " + ", ".join(f"{k} {v:.2f} s" for k, v in per.items()))
        same = all(r["export_identical_to_input"].values())
        lines.append(
            f"every export of what was imported byte-identical to the imported files: {'yes' if same else 'NO'}"
        )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reuse-files", action="store_true", help="keep the files of an earlier run (same scale, seed)")
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.child:
        result = child(args.backend)
        (OUT / f"result-{args.backend}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
        return
    files = write_files(args.scale, args.seed, args.reuse_files)
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    results = []
    for b in backends:
        subprocess.run([sys.executable, __file__, "--child", "--backend", b], check=True, cwd=ROOT)
        results.append(json.loads((OUT / f"result-{b}.json").read_text()))
    print(report(files, args.scale, results))


if __name__ == "__main__":
    main()
