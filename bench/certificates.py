"""Benchmark of certificate issuance (住民票の写し) at demo scale.

Builds the demo (``moyai.demo.build``) in its own database — ``var/bench/certificates.sqlite3`` or
the PostgreSQL database ``moyai_bench_cert`` — with a throw-away signing key, then, single process:

- issues ``--samples`` signed 住民票の写し (世帯連記式, whole household, random residents of 周南市)
  through ``certificates.services.issue_at_counter``: registry read as of today, 発行番号 from the
  counter, render, QR payload, PAdES signature, 交付履歴 and access log — certificates per second
  and p50/p95 per certificate;
- in the same run, renders the same certificates unsigned (``Renderer.render``, glyph check
  included) as the baseline, and prints the ratio;
- the CPU time of the process per certificate (less dependent on the other work of a shared
  machine than the wall-clock time) and the parts of a signed issuance: render with the QR code,
  PAdES signature, and the rest (registry read, 支援措置 check, composing, counter, 交付履歴, log);
- with ``--profile N``, a cProfile of N more issuances, by area and by function.

    .venv/bin/python bench/certificates.py                          # SQLite, full scale
    .venv/bin/python bench/certificates.py --scale 0.05 --samples 50
    .venv/bin/python bench/certificates.py --backend postgresql --reuse
    .venv/bin/python bench/certificates.py --reuse --samples 20 --profile 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"
PG_DB = "moyai_bench_cert"
TENANT = "352152"


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def setup(backend: str, scale: float, reuse: bool) -> float:
    """Point Django at the bench database, build the demo unless reused; returns the build seconds."""
    from _demo_db import demo_database

    return demo_database("certificates", backend, scale, reuse, PG_DB)


def child(backend: str, scale: float, samples: int, reuse: bool, profile: int = 0) -> dict[str, object]:
    build_s = setup(backend, scale, reuse)
    import datetime as dt

    from moyai.certificates import services as certs
    from moyai.certificates import signing
    from moyai.certificates.render import renderer
    from moyai.platform.identity.roles import permissions_of
    from moyai.platform.identity.services import Principal
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.platform.tenancy.services import set_parameter
    from moyai.residents.models import Resident

    keys = tempfile.mkdtemp(prefix="moyai-bench-keys-")
    store = signing.FileIdentityStore(keys)
    ca_key, ca = signing.make_test_ca()
    store.save(signing.issue_identity(TENANT, "周南市", ca_key, ca))
    os.environ["MOYAI_CERT_KEY_DIR"] = keys
    actor = Principal("staff", "bench", TENANT, frozenset({"clerk"}), permissions_of(frozenset({"clerk"})))
    with tenant_scope(TENANT):
        set_parameter("issuer_name", "周南　太郎", dt.date(2020, 4, 1), "bench")
        people = list(Resident.objects.filter(status="resident").values_list("atena_no", flat=True))
        n_residents = len(people)
    rng = random.Random(7)
    chosen = rng.sample(people, min(samples, len(people)))

    # warm-up: the first render loads the font maps and the signer
    certs.issue_at_counter(actor, certs.CertificateRequest(atena_no=chosen[0], terminal="本庁1"))

    # where the time of each issuance goes: produce() reports its render and signing times
    parts: list[tuple[float, float]] = []
    real_produce = certs.produce

    def timed_produce(*args: object, **kwargs: object) -> object:
        out = real_produce(*args, **kwargs)  # type: ignore[arg-type]
        parts.append((out.render_seconds * 1000, out.sign_seconds * 1000))
        return out

    certs.produce = timed_produce  # type: ignore[assignment]
    issued: list[certs.IssuedCertificate] = []
    signed_ms: list[float] = []
    cpu_ms: list[float] = []
    t_all = time.perf_counter()
    for atena in chosen:
        t, c = time.perf_counter(), time.process_time()
        issued.append(certs.issue_at_counter(actor, certs.CertificateRequest(atena_no=atena, terminal="本庁1")))
        signed_ms.append((time.perf_counter() - t) * 1000)
        cpu_ms.append((time.process_time() - c) * 1000)
    total_s = time.perf_counter() - t_all
    certs.produce = real_produce  # type: ignore[assignment]
    render_ms = [p[0] for p in parts]
    sign_ms = [p[1] for p in parts]
    rest_ms = [total - p[0] - p[1] for total, p in zip(signed_ms, parts, strict=True)]

    r = renderer()
    unsigned_ms: list[float] = []
    unsigned_cpu_ms: list[float] = []
    for one in issued:
        t, c = time.perf_counter(), time.process_time()
        r.render(one.certificate, one.payload)
        unsigned_ms.append((time.perf_counter() - t) * 1000)
        unsigned_cpu_ms.append((time.process_time() - c) * 1000)

    if profile:
        _profile(actor, chosen[:profile], certs)

    ok = sum(1 for one in issued[:5] if signing.verify_pdf(one.pdf, [ca]).genuine)
    members = [len(one.certificate.members) for one in issued]
    pages = [one.pages for one in issued]

    def stats(xs: list[float]) -> dict[str, float]:
        return {"p50_ms": round(statistics.median(xs), 1), "p95_ms": round(percentile(xs, 95), 1),
                "max_ms": round(max(xs), 1)}

    return {
        "backend": backend, "scale": scale, "residents_in_tenant": n_residents, "samples": len(issued),
        "build_s": round(build_s, 1), "certificates_per_s": round(len(issued) / total_s, 2),
        "signed": stats(signed_ms), "unsigned_render": stats(unsigned_ms),
        "signed_cpu": stats(cpu_ms), "unsigned_render_cpu": stats(unsigned_cpu_ms),
        "parts_p50_ms": {"render_with_qr": round(statistics.median(render_ms), 1),
                         "pades_sign": round(statistics.median(sign_ms), 1),
                         "registry_db_and_compose": round(statistics.median(rest_ms), 1)},
        "parts_p95_ms": {"render_with_qr": round(percentile(render_ms, 95), 1),
                         "pades_sign": round(percentile(sign_ms, 95), 1),
                         "registry_db_and_compose": round(percentile(rest_ms, 95), 1)},
        "ratio_p50": round(statistics.median(signed_ms) / statistics.median(unsigned_ms), 2),
        "ratio_p95": round(percentile(signed_ms, 95) / percentile(unsigned_ms, 95), 2),
        "members_mean": round(statistics.mean(members), 2), "members_max": max(members), "pages_max": max(pages),
        "verified_of_first_5": ok, "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }


def _profile(actor: object, atenas: list[str], certs: object) -> None:
    """cProfile of ``len(atenas)`` issuances: where the time goes, by area and by function."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for atena in atenas:
        certs.issue_at_counter(actor, certs.CertificateRequest(atena_no=atena, terminal="本庁1"))  # type: ignore[attr-defined]
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values())  # type: ignore[attr-defined]
    areas = {"weasyprint": 0.0, "pyhanko/asn1crypto": 0.0, "django/db": 0.0, "segno": 0.0, "moyai": 0.0,
             "other": 0.0}
    for (path, _line, _fn), (_cc, _nc, tt, _ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        key = ("weasyprint" if "weasyprint" in path or "pydyf" in path or "tinycss2" in path or "cssselect" in path
               else "pyhanko/asn1crypto" if "pyhanko" in path or "asn1crypto" in path
               else "django/db" if "django" in path or "sqlite" in path or "psycopg" in path
               else "segno" if "segno" in path else "moyai" if "moyai" in path else "other")
        areas[key] += tt
    print(f"profile of {len(atenas)} issuances ({total:.2f} s own time under the profiler):")
    for k, v in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"  {k:20} {100 * v / total:5.1f} %")
    st.sort_stats("tottime").print_stats(25)


def report(r: dict[str, object]) -> str:
    s, u, sc, uc = r["signed"], r["unsigned_render"], r["signed_cpu"], r["unsigned_render_cpu"]
    p50, p95 = r["parts_p50_ms"], r["parts_p95_ms"]
    assert isinstance(s, dict) and isinstance(u, dict) and isinstance(sc, dict) and isinstance(uc, dict)
    assert isinstance(p50, dict) and isinstance(p95, dict)
    return "\n".join([
        f"証明書ベンチマーク ({r['backend']}, scale {r['scale']}, 周南市 {r['residents_in_tenant']:,} 人, "
        f"{r['samples']} 件, 世帯員 平均 {r['members_mean']} / 最大 {r['members_max']}, 最大 {r['pages_max']} 頁)",
        f"  demo build / migrate: {r['build_s']} s",
        f"  signed issuance (issue_at_counter): {r['certificates_per_s']} certificates/s, "
        f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms",
        f"  unsigned render of the same PDFs:   p50 {u['p50_ms']} ms, p95 {u['p95_ms']} ms",
        f"  ratio signed/unsigned: p50 {r['ratio_p50']}x, p95 {r['ratio_p95']}x  (target p95 < 300 ms: "
        f"{'met' if s['p95_ms'] < 300 else 'NOT met'})",
        f"  CPU time of this process per certificate: signed p50 {sc['p50_ms']} ms, p95 {sc['p95_ms']} ms; "
        f"unsigned render p50 {uc['p50_ms']} ms, p95 {uc['p95_ms']} ms",
        f"  parts of a signed issuance, p50 / p95 ms: render (with QR) {p50['render_with_qr']} / "
        f"{p95['render_with_qr']}, PAdES {p50['pades_sign']} / {p95['pades_sign']}, registry + DB + compose "
        f"{p50['registry_db_and_compose']} / {p95['registry_db_and_compose']}",
        f"  verified (first 5): {r['verified_of_first_5']}/5; load average {r['loadavg']} on {r['cpus']} CPUs",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--reuse", action="store_true", help="reuse the demo database built at the same scale")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="also print a cProfile of N issuances")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "src"))
    result = child(args.backend, args.scale, args.samples, args.reuse, args.profile)
    (OUT / f"certificates-{args.backend}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(report(result))


if __name__ == "__main__":
    main()
