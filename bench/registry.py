"""Benchmark of the resident registry (住民記録) on SQLite and PostgreSQL.

Prints, per backend: the demo build time; 異動 registrations per second through the full
service (仮登録 + rules + 本登録 + projections + access log) beside bare single-row inserts into
the same table; p50/p95 latency of kana-prefix, birth-date and address searches beside a bare
primary-key query on the same table — all measured in the same run.

    .venv/bin/python bench/registry.py                 # both backends, full scale
    .venv/bin/python bench/registry.py --scale 0.1 --backend sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def child(backend: str, scale: float, samples: int) -> dict[str, object]:
    from _demo_db import demo_database

    build_s = demo_database("registry", backend, scale, False, "moyai_bench")

    from django.utils import timezone

    from moyai.platform.identity.services import Principal
    from moyai.platform.ids import new_id
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents import selectors, services
    from moyai.residents.models import Event, Resident, SearchKey

    rng = random.Random(7)
    tenant = "352152"
    actor = Principal("staff", "bench", tenant, frozenset({"clerk"}), frozenset({"resident.search", "resident.view",
                                                                                  "move.register"}))
    with tenant_scope(tenant):
        people = list(Resident.objects.filter(status="resident").values_list("atena_no", "display_kana",
                                                                             "birth_sort", "address"))
        kana_keys = list(SearchKey.objects.filter(kind="kana", current=True).values_list("key", flat=True)[:20000])
        n_residents = Resident.objects.count()
    rng.shuffle(people)

    def timed(fn: object, n: int) -> list[float]:
        out = []
        for i in range(n):
            t = time.perf_counter()
            fn(i)  # type: ignore[operator]
            out.append((time.perf_counter() - t) * 1000)
        return out

    # 異動 registrations (転居, one resident each), single thread.
    movers = [p for p in people if p[3]][: samples]

    def register(i: int) -> None:
        atena = movers[i][0]
        with tenant_scope(tenant):
            services.record_now(actor, "move_within", timezone.localdate(),
                                [services.SubjectInput(atena, {"address": movers[i][3] + "の2"})],
                                notified_date=timezone.localdate(), confirm_alerts=True)

    def bare_insert(i: int) -> None:
        with tenant_scope(tenant):
            Event.objects.create(event_id=new_id(), atena_no="bench", kind="move_within", reason_code="301",
                                 effective_date=timezone.localdate(), recorded_at=timezone.now(), staff="bench",
                                 changes={}, group_id=0)

    reg = timed(register, len(movers))
    bare = timed(bare_insert, len(movers))

    def search(field: str, value_of: object) -> list[float]:
        def run(i: int) -> None:
            with tenant_scope(tenant):
                selectors.search(actor, selectors.SearchQuery(**{field: value_of(i)}))  # type: ignore[operator]
        return timed(run, samples)

    kana = search("name", lambda i: rng.choice(kana_keys)[:3])
    births = [p[2] for p in people if p[2] and not p[2].endswith("00")]
    birth = search("birth", lambda i: rng.choice(births))
    towns = [selectors_town(p[3]) for p in people if p[3]]
    address = search("address", lambda i: rng.choice(towns))

    def bare_query(i: int) -> None:
        with tenant_scope(tenant):
            list(Resident.objects.filter(atena_no=people[i % len(people)][0]).values_list("atena_no", flat=True))

    baseline = timed(bare_query, samples)

    def stats(xs: list[float]) -> dict[str, float]:
        return {"p50_ms": round(statistics.median(xs), 2), "p95_ms": round(percentile(xs, 95), 2)}

    return {
        "backend": backend,
        "scale": scale,
        "residents_in_tenant": n_residents,
        "build_s": round(build_s, 1),
        "registrations_per_s": round(1000 / statistics.mean(reg), 1),
        "bare_inserts_per_s": round(1000 / statistics.mean(bare), 1),
        "registration": stats(reg),
        "bare_insert": stats(bare),
        "search_kana": stats(kana),
        "search_birth": stats(birth),
        "search_address": stats(address),
        "bare_query": stats(baseline),
    }


def selectors_town(address: str) -> str:
    """The town part of an address (after 市/町), cut to a short prefix, as a clerk types it."""
    from moyai.residents.domain.search_keys import address_keys

    keys = address_keys(address)
    town = keys[-1] if keys else address
    return town[:3]


def report(results: list[dict[str, object]]) -> str:
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", ""]
    for r in results:
        b = r["bare_query"]["p50_ms"] or 0.001  # type: ignore[index]
        lines.append(f"== {r['backend']} (scale {r['scale']}, 周南市 {r['residents_in_tenant']:,} records) ==")
        lines.append(f"demo build (5 tenants): {r['build_s']} s")
        lines.append(f"異動 registrations: {r['registrations_per_s']}/s  (bare single-row insert: {r['bare_inserts_per_s']}/s, "
                     f"ratio {r['bare_inserts_per_s'] / r['registrations_per_s']:.1f}x)")  # type: ignore[operator]
        for k in ("search_kana", "search_birth", "search_address", "bare_query"):
            s = r[k]
            lines.append(f"  {k:15s} p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms  "  # type: ignore[index]
                         f"(p50 ratio to bare query {s['p50_ms'] / b:.1f}x)")  # type: ignore[index]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.child:
        result = child(args.backend, args.scale, args.samples)
        (OUT / f"registry-{args.backend}.json").write_text(json.dumps(result, indent=2))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    for b in backends:
        subprocess.run([sys.executable, __file__, "--child", "--backend", b, "--scale", str(args.scale),
                        "--samples", str(args.samples)], check=True, cwd=ROOT)
        results.append(json.loads((OUT / f"registry-{b}.json").read_text()))
    print(report(results))


if __name__ == "__main__":
    main()
