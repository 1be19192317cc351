"""Benchmark of the counter (窓口) screens on the demo database at full scale.

For sampled residents of one 団体, asks each screen through Django's test client (in process,
logged in as the demo clerk) and reads its ``Server-Timing`` header; beside it, in the same run,
the selector calls the screen is built on (search, resident_view + history), so the figure shows
what the page adds to the registry's own work. Prints p50 / p95 / max per screen.

    .venv/bin/python bench/ui.py                         # builds the full demo in var/bench/ui.sqlite3
    .venv/bin/python bench/ui.py --reuse --samples 60    # reuses it (built at the same scale)
    .venv/bin/python bench/ui.py --backend postgresql --reuse   # database moyai_bench_ui
    .venv/bin/python bench/ui.py --db var/moyai.sqlite3  # an existing database (e.g. ``make demo``'s)

The run writes what the screens write (access log, search history) into that database, and (not
with ``--db`` unless ``--protected`` is given) puts 60 residents under a 仮支援措置 once, so that
searches take the hiding path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"
PG_DB = "moyai_bench_ui"


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))]


def protect(tenant: str, n: int, rng: random.Random) -> int:
    """Put ``n`` random residents under a 仮支援措置 (once: an existing set is kept); returns how many are."""
    from moyai.platform.identity.services import Principal
    from moyai.residents.models import Resident, SupportMeasurePerson
    from moyai.residents.suppression import register_measure

    have = SupportMeasurePerson.objects.count()
    if have >= n:
        return have
    admin = Principal("staff", "bench", tenant, frozenset({"admin"}), frozenset({"support_measure.manage"}))
    people = list(Resident.objects.filter(status="resident").values_list("atena_no", flat=True))
    for a in rng.sample(people, n - have):
        register_measure(admin, applicant=a, received_on=dt.date.today(), note="bench")
    return SupportMeasurePerson.objects.count()


def setup(backend: str, scale: float, reuse: bool, db: str) -> float:
    """Point Django at the bench database, build the demo unless reused; returns the build seconds."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "moyai.settings"
    os.environ["MOYAI_DB"] = backend
    if db:
        os.environ["MOYAI_SQLITE_PATH"] = db
        import django

        django.setup()
        return 0.0
    from _demo_db import demo_database

    return demo_database("ui", backend, scale, reuse, PG_DB)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--reuse", action="store_true", help="reuse the bench demo database built at the same scale")
    ap.add_argument("--db", default="", help="an existing SQLite database instead of the bench one")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--tenant", default="352152")
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--user", default="madoguchi")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--protected", type=int, default=None,
                    help="persons under a (仮)支援措置 in the 団体 (added once), so searches take the hiding path "
                         "(default 60; 0 with --db)")
    args = ap.parse_args()
    if args.protected is None:
        args.protected = 0 if args.db else 60
    sys.path.insert(0, str(ROOT / "src"))
    build_s = setup(args.backend, args.scale, args.reuse, args.db)
    if build_s > 60:
        print(f"demo build: {build_s:.0f} s")
    if args.build_only:
        return
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    from moyai.platform.identity.services import staff_principal
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents import selectors
    from moyai.residents.models import Resident, SupportMeasurePerson

    setup_test_environment()
    rng = random.Random(args.seed)
    t = args.tenant
    user = get_user_model().objects.get(username=args.user)
    actor = staff_principal(user, t)
    with tenant_scope(t):
        total = Resident.objects.filter(status="resident").count()
        protected = protect(t, args.protected, random.Random(args.seed + 1))
        hidden = set(SupportMeasurePerson.objects.values_list("atena_no", flat=True))
        picks: list[dict[str, Any]] = []
        while len(picks) < args.samples:  # the clerk cannot open a protected person's record: not a sample
            p = (Resident.objects.filter(status="resident").order_by("atena_no")
                 .values("atena_no", "display_kana", "state")[rng.randrange(total)])
            if p["atena_no"] not in hidden:
                picks.append(p)
    client = Client()
    client.force_login(user)
    c = f"/counter/{t}"
    screens: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}

    def page(name: str, path: str) -> None:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        m = re.match(r"app;dur=([\d.]+)", r["Server-Timing"])
        assert m
        screens.setdefault(name, []).append(float(m.group(1)))
        if name == "search: kana prefix" and f"{selectors.COUNT_CAP:,}件超" in r.content.decode():
            screens.setdefault("search: kana prefix, > 1,000 hits", []).append(float(m.group(1)))

    def selector(name: str, fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        with tenant_scope(t):
            fn()
        base.setdefault(name, []).append((time.perf_counter() - t0) * 1000)

    def count_then_page(q: selectors.SearchQuery) -> None:
        """The capped count and the page as two queries (the search before 2026-12-07), for comparison."""
        qs = selectors.build_search(q)
        qs[:selectors.COUNT_CAP + 1].count()
        list(qs[:q.per_page])

    def one_window(q: selectors.SearchQuery) -> None:
        selectors._count_and_page(selectors.build_search(q), q)

    def detail(a: str) -> None:
        selectors.resident_view(actor, a)
        selectors.history(actor, a)

    page("warm-up", f"{c}/")
    for p in picks:
        a, kana = p["atena_no"], p["display_kana"].replace("　", "")[:2]
        birth = str((p["state"].get("birth_date") or {}).get("year") or "1980")
        pairs: list[tuple[str, str, Callable[[], object]]] = [
            ("search: kana prefix", f"{c}/?name={kana}", partial(selectors.search, actor, selectors.SearchQuery(name=kana))),
            ("search: birth year", f"{c}/?birth={birth}", partial(selectors.search, actor, selectors.SearchQuery(birth=birth))),
            ("resident detail + timeline", f"{c}/residents/{a}/", partial(detail, a)),
        ]
        for name, path, fn in pairs:
            # whichever runs second finds the data in the caches: alternate, so neither side always does
            if rng.random() < 0.5:
                page(name, path)
                selector(name, fn)
            else:
                selector(name, fn)
                page(name, path)
        q = selectors.SearchQuery(name=kana)
        ways: list[tuple[str, Callable[[], object]]] = [
            ("query: count + page (before)", partial(count_then_page, q)),
            ("query: one window (now)", partial(one_window, q))]
        for name, fn in ways if rng.random() < 0.5 else ways[::-1]:
            selector(name, fn)
        page("resident detail as of 2015-01-01", f"{c}/residents/{a}/?as_of=2015-01-01")
        page("転居 form", f"{c}/residents/{a}/move-within/")
        page("世帯変更 form", f"{c}/residents/{a}/household/")
        page("certificate form", f"{c}/residents/{a}/certificate/")
        page("転入 form", f"{c}/move-in/")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"団体 {t}: {total:,} residents ({protected} under a 支援措置), {args.samples} samples, "
          f"Server-Timing in ms (budget 300 ms); "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"{'screen':36s} {'p50':>7s} {'p95':>7s} {'max':>7s}   selectors p50  page/selectors")
    for name, xs in screens.items():
        if name == "warm-up":
            continue
        b = base.get(name)
        extra = f"   {statistics.median(b):10.1f}  {statistics.median(xs) / statistics.median(b):8.2f}x" if b else ""
        print(f"{name:36s} {statistics.median(xs):7.1f} {percentile(xs, 95):7.1f} {max(xs):7.1f}{extra}")
    before, now = base["query: count + page (before)"], base["query: one window (now)"]
    print(f"kana-prefix search queries, same samples (ms): count + page p50 {statistics.median(before):.1f} "
          f"p95 {percentile(before, 95):.1f}; one window p50 {statistics.median(now):.1f} p95 {percentile(now, 95):.1f}; "
          f"ratio p50 {statistics.median(now) / statistics.median(before):.2f}")
    print(f"load average after the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
