"""Benchmark of the counter (窓口) screens on an existing database (the demo at full scale).

For sampled residents of one 団体, asks each screen through Django's test client (in process,
logged in as the demo clerk) and reads its ``Server-Timing`` header; beside it, in the same run,
the selector calls the screen is built on (search, resident_view + history), so the figure shows
what the page adds to the registry's own work. Prints p50 / p95 / max per screen.

    MOYAI_SQLITE_PATH=var/moyai.sqlite3 .venv/bin/python bench/ui.py --tenant 352152 --samples 30

The run writes what the screens write (access log, search history) into that database.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from functools import partial


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenant", default="352152")
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--user", default="madoguchi")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    from moyai.platform.identity.services import staff_principal
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents import selectors
    from moyai.residents.models import Resident

    setup_test_environment()
    rng = random.Random(args.seed)
    t = args.tenant
    user = get_user_model().objects.get(username=args.user)
    actor = staff_principal(user, t)
    with tenant_scope(t):
        total = Resident.objects.filter(status="resident").count()
        picks = [Resident.objects.filter(status="resident").order_by("atena_no")
                 .values("atena_no", "display_kana", "state")[rng.randrange(total)] for _ in range(args.samples)]
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

    def selector(name: str, fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        with tenant_scope(t):
            fn()
        base.setdefault(name, []).append((time.perf_counter() - t0) * 1000)

    def detail(a: str) -> None:
        selectors.resident_view(actor, a)
        selectors.history(actor, a)

    page("warm-up", f"{c}/")
    for p in picks:
        a, kana = p["atena_no"], p["display_kana"].replace("　", "")[:2]
        birth = str((p["state"].get("birth_date") or {}).get("year") or "1980")
        pairs = [
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
        page("resident detail as of 2015-01-01", f"{c}/residents/{a}/?as_of=2015-01-01")
        page("転居 form", f"{c}/residents/{a}/move-within/")
        page("世帯変更 form", f"{c}/residents/{a}/household/")
        page("certificate form", f"{c}/residents/{a}/certificate/")
        page("転入 form", f"{c}/move-in/")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"団体 {t}: {total:,} residents, {args.samples} samples, Server-Timing in ms (budget 300 ms); "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"{'screen':36s} {'p50':>7s} {'p95':>7s} {'max':>7s}   selectors p50  page/selectors")
    for name, xs in screens.items():
        if name == "warm-up":
            continue
        b = base.get(name)
        extra = f"   {statistics.median(b):10.1f}  {statistics.median(xs) / statistics.median(b):8.2f}x" if b else ""
        print(f"{name:36s} {statistics.median(xs):7.1f} {percentile(xs, 95):7.1f} {max(xs):7.1f}{extra}")


if __name__ == "__main__":
    main()
