"""Benchmark of the 抑止・支援措置 checks on the resident registry (single process).

Builds the demo at a small scale, then measures in the same run, with the same queries:

- kana-prefix search by a clerk with no 支援措置 in the 団体 (the baseline: one extra query that
  finds nothing), with 1% of the residents under a 支援措置 and 0.5% with a 抑止 (the hidden hits
  are counted, logged and left out), and by a 支援措置責任者 who sees and marks them;
- ``issuance_check`` for a household of three beside a bare primary-key query.

    .venv/bin/python bench/suppression.py --backend sqlite --scale 0.05
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
    return xs[max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))]


def child(backend: str, scale: float, samples: int) -> dict[str, object]:
    from _demo_db import demo_database

    demo_database("suppression", backend, scale, False, "moyai_bench_sup")
    from django.utils import timezone

    from moyai.platform.identity.services import Principal
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents import selectors, suppression
    from moyai.residents.models import Resident, SearchKey


    tenant = "352152"
    counter = frozenset({"resident.search", "resident.view"})
    clerk = Principal("staff", "bench-clerk", tenant, frozenset({"clerk"}), counter)
    officer = Principal("staff", "bench-officer", tenant, frozenset({"approver"}),
                        counter | {"support_measure.view", "support_measure.manage", "suppression.manage"})
    rng = random.Random(7)
    with tenant_scope(tenant):
        people = list(Resident.objects.filter(status="resident").values_list("atena_no", "household_no"))
        kana_keys = list(SearchKey.objects.filter(kind="kana", current=True).values_list("key", flat=True)[:20000])
        households: dict[str, list[str]] = {}
        for a, h in people:
            households.setdefault(h, []).append(a)
    families = [m[:3] for m in households.values() if len(m) >= 3][:samples] or [m for m in households.values()][:samples]
    queries = [rng.choice(kana_keys)[:2] for _ in range(samples)]

    def timed(fn: object, n: int) -> list[float]:
        out = []
        for i in range(n):
            t = time.perf_counter()
            fn(i)  # type: ignore[operator]
            out.append((time.perf_counter() - t) * 1000)
        return out

    def search_as(actor: Principal) -> list[float]:
        def run(i: int) -> None:
            with tenant_scope(tenant):
                selectors.search(actor, selectors.SearchQuery(name=queries[i], per_page=20))
        return timed(run, samples)

    def check(i: int) -> None:
        with tenant_scope(tenant):
            selectors.issuance_check(clerk, families[i % len(families)], requester="third_party",
                                     on=timezone.localdate())

    def bare(i: int) -> None:
        with tenant_scope(tenant):
            list(Resident.objects.filter(atena_no=people[i % len(people)][0]).values_list("atena_no", flat=True))

    search_as(clerk)  # warm-up (caches, statements), discarded
    timed(check, samples)
    base_bare = timed(bare, samples)
    none_clerk = search_as(clerk)
    none_check = timed(check, samples)

    protected = rng.sample(people, max(1, len(people) // 100))
    suppressed = rng.sample(people, max(1, len(people) // 200))
    today = timezone.localdate()
    with tenant_scope(tenant):
        for a, _ in protected:
            suppression.register_measure(officer, applicant=a, received_on=today, provisional=False, today=today)
        for a, _ in suppressed:
            suppression.set_suppression(officer, target_kind="person", target=a, process="issuance", level="alert",
                                        reason="other", start_date=today)
    with_clerk = search_as(clerk)
    with_officer = search_as(officer)
    with_check = timed(check, samples)

    def stats(xs: list[float]) -> dict[str, float]:
        return {"p50_ms": round(statistics.median(xs), 2), "p95_ms": round(percentile(xs, 95), 2)}

    return {
        "backend": backend, "scale": scale, "residents": len(people), "protected": len(protected),
        "suppressed": len(suppressed), "samples": samples,
        "bare_query": stats(base_bare),
        "search_clerk_no_measures": stats(none_clerk),
        "search_clerk_with_measures": stats(with_clerk),
        "search_officer_with_measures": stats(with_officer),
        "issuance_check_no_measures": stats(none_check),
        "issuance_check_with_measures": stats(with_check),
    }


def report(results: list[dict[str, object]]) -> str:
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}", ""]
    for r in results:
        base = r["search_clerk_no_measures"]["p50_ms"] or 0.001  # type: ignore[index]
        bare = r["bare_query"]["p50_ms"] or 0.001  # type: ignore[index]
        lines.append(f"== {r['backend']} (scale {r['scale']}, 周南市 {r['residents']:,} residents; "
                     f"{r['protected']} under a 支援措置, {r['suppressed']} with a 抑止; {r['samples']} samples) ==")
        for k in ("search_clerk_no_measures", "search_clerk_with_measures", "search_officer_with_measures"):
            s = r[k]
            lines.append(f"  {k:30s} p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms  "  # type: ignore[index]
                         f"(p50 ratio to the same search without measures {s['p50_ms'] / base:.2f}x)")  # type: ignore[index]
        for k in ("issuance_check_no_measures", "issuance_check_with_measures", "bare_query"):
            s = r[k]
            lines.append(f"  {k:30s} p50 {s['p50_ms']:7.2f} ms  p95 {s['p95_ms']:7.2f} ms  "  # type: ignore[index]
                         f"(p50 ratio to a bare primary-key query {s['p50_ms'] / bare:.1f}x)")  # type: ignore[index]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.child:
        result = child(args.backend, args.scale, args.samples)
        (OUT / f"suppression-{args.backend}.json").write_text(json.dumps(result, indent=2))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    for b in backends:
        subprocess.run([sys.executable, __file__, "--child", "--backend", b, "--scale", str(args.scale),
                        "--samples", str(args.samples)], check=True, cwd=ROOT)
        results.append(json.loads((OUT / f"suppression-{b}.json").read_text()))
    print(report(results))


if __name__ == "__main__":
    main()
