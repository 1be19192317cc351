"""Benchmark of the linkage gateway as a service: exchanges per second and latency, full path vs bare.

One gateway (data centre a) runs as ``moyai gateway serve`` in its own process (uvicorn, one
worker, TLS 1.3 with client certificates) on its own database, seeded with residents and their
符号. Load generators run in other processes: ``--concurrency`` keep-alive connections in total,
each sending one request after another for ``--seconds``, its connections opened before its clock
starts. Two phases in the same run, same server, same TLS set-up; with ``--rounds N`` they alternate
N times in slices of ``seconds / N`` (this host's cores change speed from one minute to the next,
and a phase measured in one spell and the other in another made the ratio swing by half):

- **bare**: ``GET /health`` — a fixed body from the same ASGI app (TLS, HTTP, ASGI only);
- **full**: ``POST /exchange`` — mTLS, JWS verify (Ed25519), certificate ↔ signer check, time
  window, nonce (database), legal basis, 符号 resolution and issuance (database), registry read
  (residents' selectors with the access log), response signed (Ed25519), log entry committed
  (group commit) before the reply; the client signs each request and checks each reply's status.

Afterwards the log is counted (every reply has exactly one entry) and verified. Because the
machine is shared, the server process's own CPU time per request (``/proc``) is printed too:
it is what one core can do, whatever else the machine was doing.

    MOYAI_DB=postgresql .venv/bin/python bench/gateway.py                # the figures in docs/performance.md
    .venv/bin/python bench/gateway.py --seconds 5 --concurrency 16       # SQLite, a short run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: exchanges/s per phase for which the load generator signs its messages before the clock starts
PRESIGNED_RATE = 2500
CONNECT_GAP = 0.01  # seconds between the load generator's connections, opened before its clock starts
sys.path.insert(0, str(ROOT))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), whatever else runs on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` of a process and its living descendants (uvicorn workers)."""
    total = cpu_seconds(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(tree_cpu_seconds(int(c)) for c in children)


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


# -- load generator (a separate process) -------------------------------------------------------------

async def _connection(url: str, context: ssl.SSLContext) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port), ssl=context, server_hostname=host)


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 exchange on a kept-alive connection (a minimal client: httpx itself manages only a
    few hundred requests per second per process here, which would measure the client, not the gateway)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _load(url: str, pki_dir: str, path: str, seconds: float, concurrency: int, subjects: list[str],
                org: str, provider: str) -> dict[str, Any]:
    from moyai.gateway.domain import jws
    from moyai.gateway.domain.log import format_time
    from moyai.gateway.domain.message import ExchangeRequest, new_message_id, new_nonce
    from moyai.gateway.server.client import tls_context
    from moyai.gateway.server.pki import Pki

    pki = Pki(pki_dir)
    context = tls_context(pki, org)
    signer = pki.party(org).signer()
    latencies: list[float] = []
    errors: dict[str, int] = {}

    expected = 403 if path == "/exchange?refused" else 200
    items = ("public_assistance",) if path == "/exchange?refused" else ("resident_record.name",
                                                                         "resident_record.address")

    def message(rnd: random.Random) -> bytes:
        if path == "/health":
            return b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n"
        request = ExchangeRequest(message_id=new_message_id(), requester=org, provider=provider, affair="HI-01",
                                  items=items,
                                  subject=rnd.choice(subjects), nonce=new_nonce(),
                                  timestamp=format_time(dt.datetime.now(dt.UTC)))
        body = jws.sign(request.to_bytes(), signer, org)
        return (b"POST /exchange HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/jose\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    # Messages signed before the clock starts: a real gateway's clients sign on their own machines,
    # while this load generator shares the two cores with the server it measures. Each worker gets
    # enough for PRESIGNED_RATE exchanges/s (timestamps stay far inside the gateway's 5-minute
    # window) and signs on the fly only if it runs out.
    rnds = [random.Random(i) for i in range(concurrency)]
    ready = [[message(rnd) for _ in range(1 if path == "/health" else max(16, int(seconds * PRESIGNED_RATE / concurrency)))]
             for rnd in rnds]
    presigned = sum(map(len, ready))
    on_the_fly = [0]
    # Every connection is opened (one TLS handshake each) before the clock starts, CONNECT_GAP apart:
    # peers' connections reach a gateway over time, not in one burst, and with --workers N a burst
    # goes mostly to whichever process wakes first on the shared socket (measured: 11,270 against
    # 3,004 exchanges with 48 connections opened at once).
    connections = []
    for _ in range(concurrency):
        connections.append(await _connection(url, context))
        await asyncio.sleep(CONNECT_GAP)
    # everything this process spent before its clock: interpreter start, imports (≈ 0.5 s), signing
    before_clock_s = time.process_time()
    stop = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        rnd, queue = rnds[i], ready[i]
        reader, writer = connections[i]
        try:
            while time.perf_counter() < stop:
                if path == "/health":
                    request = queue[0]
                elif queue:
                    request = queue.pop()
                else:
                    request = message(rnd)
                    on_the_fly[0] += 1
                t0 = time.perf_counter()
                try:
                    status, _ = await _roundtrip(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    writer.close()
                    reader, writer = await _connection(url, context)
                    continue
                if status == expected:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return {"ok": len(latencies), "elapsed": time.perf_counter() - t0, "latencies": latencies, "errors": errors,
            "cpu_s": time.process_time() - cpu0, "presigned": presigned, "signed_on_the_fly": on_the_fly[0],
            "before_clock_s": before_clock_s}


def load_main(args: argparse.Namespace) -> None:
    try:  # the lighter event loop, when installed: the load generator shares the machine with the server
        import uvloop
        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    result = runner(_load(args.url, args.pki, args.path, args.seconds, args.concurrency,
                          json.loads(args.subjects), args.org, args.provider))
    Path(args.out).write_text(json.dumps(result))  # a file, not stdout: nothing else can interleave


def database_cpu_seconds(db_name: str) -> float:
    """CPU time of the PostgreSQL backends serving ``db_name`` (their process titles name it), so far.

    Backends that ended before the call are not counted (the pools keep theirs open for the run).
    """
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            if title.startswith("postgres: ") and f" {db_name} " in title:
                total += cpu_seconds(int(proc.name))
        except OSError:
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU time used by everything on the machine so far, all cores (Linux /proc/stat: not idle, not iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def speed_probe() -> float:
    """Milliseconds for a fixed pure-Python loop on an idle core (best of three): this virtual machine's
    cores run the same code at speeds up to ~2x apart from one minute to the next (measured
    2026-12-07: 0.13–0.27 s for 2 million additions), so every phase prints the probe taken right after it."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(500_000):
            total += i
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def run_phase(url: str, pki_dir: str, path: str, seconds: float, concurrency: int, procs: int,
              subjects: list[str], org: str, provider: str) -> dict[str, Any]:
    per = max(1, concurrency // procs)
    cmd = [sys.executable, __file__, "--load", "--url", url, "--pki", pki_dir, "--path", path,
           "--seconds", str(seconds), "--concurrency", str(per), "--subjects", json.dumps(subjects),
           "--org", org, "--provider", provider]
    with tempfile.TemporaryDirectory(prefix="moyai-bench-load-") as tmp:
        outs = [Path(tmp) / f"load-{i}.json" for i in range(procs)]
        children = [subprocess.Popen([*cmd, "--out", str(out)], cwd=ROOT) for out in outs]
        for c in children:
            if c.wait() != 0:
                raise SystemExit(f"load generator failed (exit {c.returncode})")
        results = [json.loads(out.read_text()) for out in outs]
    latencies = [x for r in results for x in r["latencies"]]
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {"latencies": latencies, "elapsed": max(r["elapsed"] for r in results), "errors": errors,
            "client_cpu_s": sum(r["cpu_s"] for r in results),
            "before_clock_s": sum(r["before_clock_s"] for r in results),
            "signed_on_the_fly": sum(r["signed_on_the_fly"] for r in results)}


def merge_slices(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """One phase's figures from its slices (``--rounds``): exchanges over the slices' summed time,
    percentiles over every latency, CPU over every exchange."""
    latencies = [x for sl in slices for x in sl["latencies"]]
    ok = max(1, len(latencies))
    errors: dict[str, int] = {}
    for sl in slices:
        for k, v in sl["errors"].items():
            errors[k] = errors.get(k, 0) + v
    db = [sl["db_s"] for sl in slices]
    return {"ok": len(latencies), "per_second": len(latencies) / sum(sl["elapsed"] for sl in slices),
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "errors": errors, "client_cpu_ms": sum(sl["client_cpu_s"] for sl in slices) * 1000 / ok,
            "cpu_ms": sum(sl["server_s"] for sl in slices) * 1000 / ok,
            "machine_ms": sum(sl["machine_s"] for sl in slices) * 1000 / ok,
            "db_ms": None if any(d is None for d in db) else sum(d for d in db if d is not None) * 1000 / ok,
            "probe_ms": max(sl["probe_ms"] for sl in slices),
            "signed_on_the_fly": sum(sl["signed_on_the_fly"] for sl in slices), "logged": sum(sl["logged"] for sl in slices)}


# -- driver -------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url")
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--pki")
    parser.add_argument("--path")
    parser.add_argument("--subjects")
    parser.add_argument("--org", default="kenpo-midori")
    parser.add_argument("--provider", default="352152")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase, over all rounds")
    parser.add_argument("--rounds", type=int, default=1,
                        help="the phases alternate this many times, each slice seconds/rounds long")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--procs", type=int, default=1, help="load-generator processes")
    parser.add_argument("--residents", type=int, default=20)
    parser.add_argument("--town-scale", type=float, default=0.0,
                        help="import the provider's synthetic town at this scale (周南市 at 1.0: 144,472 residents) "
                             "and give --residents of them 符号")
    parser.add_argument("--registry-threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server processes (uvicorn workers)")
    parser.add_argument("--read-batch", type=int, default=64,
                        help="the server's --read-batch (exchanges per nonce+符号+registry statement; 1: one each)")
    parser.add_argument("--http", default="auto", help="server HTTP parser: auto, httptools, h11")
    parser.add_argument("--loop", default="auto", help="server event loop: auto, uvloop, asyncio")
    parser.add_argument("--profile", help="run the server under cProfile, stats to this file (event-loop thread)")
    parser.add_argument("--pg-host", default=None,
                        help="PostgreSQL host or socket directory (default: the local Unix socket when there is one "
                             "— the database shares this machine — else 127.0.0.1)")
    parser.add_argument("--phases", default="all", help="comma-separated: bare,refused,full (default all)")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds above 0")
    if args.load:
        load_main(args)
        return
    os.environ.setdefault("MOYAI_PG_TEST_NAME", "bench_moyai_gateway")
    socket_dir = "/var/run/postgresql"
    pg_host = args.pg_host or (socket_dir if Path(socket_dir, ".s.PGSQL.5432").exists() else "127.0.0.1")
    os.environ["MOYAI_PG_HOST"] = pg_host  # the server's pools and the set-up connect there
    os.environ["MOYAI_LOG_LEVEL"] = "INFO"  # the server's summary at shutdown (server_summary)
    from moyai.gateway.server.pki import init_pki
    from tests.gateway.server_kit import PG, DataCentre

    backend = "postgresql" if PG else "sqlite"
    with tempfile.TemporaryDirectory(prefix="moyai-bench-gw-") as tmp:
        work = Path(tmp)
        pki = init_pki(work / "pki")
        dc = DataCentre("a", pki, work, batch_size=256, label="bench",
                        serve_args=("--registry-threads", str(args.registry_threads), "--workers", str(args.workers),
                                    "--read-batch", str(args.read_batch), "--http", args.http, "--loop", args.loop),
                        command_prefix=(sys.executable, "-m", "cProfile", "-o", args.profile) if args.profile else ())
        dc.peer_port = dc.port + 1  # no data centre b in this run
        t0 = time.perf_counter()
        dc.create_database(args.residents, town_scale=args.town_scale)
        town = f" ({dc.seed_report.splitlines()[-1]}; {args.residents} of them asked for)" if args.town_scale else ""
        print(f"backend {backend}: database seeded with {args.residents if not args.town_scale else 'the town'}"
              f" residents in {time.perf_counter() - t0:.1f} s{town}")
        subjects = [r["codes"]["kenpo-midori"] for r in dc.residents]
        dc.start()
        results: dict[str, dict[str, Any]] = {}
        logged: dict[str, int] = {}
        try:
            wanted = {"bare": "/health", "refused": "/exchange?refused", "full": "/exchange"}
            phases = [p for k, p in wanted.items() if args.phases == "all" or k in args.phases.split(",")]
            for path in phases:  # warm-up: the first connections, plans, caches
                run_phase(dc.url, str(pki.dir), path, args.warmup, args.concurrency, args.procs, subjects,
                          args.org, args.provider)
            slices: dict[str, list[dict[str, Any]]] = {path: [] for path in phases}
            for _ in range(args.rounds):  # the phases alternate: each meets the host's fast and slow spells
                for path in phases:
                    before = len(dc.entries())
                    assert dc.process is not None
                    cpu0 = tree_cpu_seconds(dc.process.pid)
                    busy0 = machine_busy_seconds()
                    db0 = database_cpu_seconds(dc.db_name) if dc.db_name else 0.0
                    sl = run_phase(dc.url, str(pki.dir), path, args.seconds / args.rounds, args.concurrency,
                                   args.procs, subjects, args.org, args.provider)
                    sl["server_s"] = tree_cpu_seconds(dc.process.pid) - cpu0
                    # less what the load generator spent before its clock started (start-up, signing, connecting)
                    sl["machine_s"] = machine_busy_seconds() - busy0 - sl["before_clock_s"]
                    sl["db_s"] = database_cpu_seconds(dc.db_name) - db0 if dc.db_name else None
                    sl["logged"] = len(dc.entries()) - before
                    sl["probe_ms"] = speed_probe()
                    slices[path].append(sl)
            results = {path: merge_slices(sls) for path, sls in slices.items()}
            logged = {path: r["logged"] for path, r in results.items()}
        finally:
            dc.stop()
        server_log = server_problems(work / f"dc-{dc.dc}.log") if any(r["errors"] for r in results.values()) else []
        summary = server_summary(work / f"dc-{dc.dc}.log")
        status, message = dc.verify_log()
        dc.drop_database()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores shared by the server, the load generator(s) "
          f"and other work (load average at the end: {os.getloadavg()[0]:.1f})")
    print(f"server: {args.workers} process(es), --http {args.http} --loop {args.loop}, --read-batch {args.read_batch}, "
          f"PostgreSQL at {os.environ['MOYAI_PG_HOST'] if backend == 'postgresql' else '-'}; "
          f"concurrency {args.concurrency} keep-alive mTLS connections in {args.procs} load process(es), "
          f"{args.seconds:.0f} s per phase in {args.rounds} alternating slice(s) after {args.warmup:.0f} s of warm-up")
    bare = results["/health"]["per_second"] if "/health" in results else None
    for path, name in PHASES.items():
        if path not in results:
            continue
        r = results[path]
        print(f"  {name:44s} {r['per_second']:7.0f} /s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
              f"bare/this {'  n/a' if bare is None else format(bare / r['per_second'], '5.1f') + 'x'}  server CPU {r['cpu_ms']:5.2f} ms/req "
              f"(= {1000 / r['cpu_ms']:5.0f}/s per core)  load generator CPU {r['client_cpu_ms']:4.2f} ms/req  "
              f"PostgreSQL CPU {'-' if r['db_ms'] is None else format(r['db_ms'], '4.2f')} ms/req  "
              f"whole machine {r['machine_ms']:4.2f} ms/req  errors {r['errors'] or 0}  "
              f"speed probe {r['probe_ms']:4.1f} ms")
    print("  (speed probe: a fixed pure-Python loop timed right after each slice, the slowest shown; lower = the host "
          "gave faster cores)")
    signed = [f"{PHASES[p].split(':')[0]} {r['signed_on_the_fly']}" for p, r in results.items() if p != "/health"]
    if signed:
        print(f"  (load generator: messages signed before each phase's clock starts, {PRESIGNED_RATE}/s worth; "
              f"signed during the phase: {', '.join(signed)}; its start-up and signing are not in 'whole machine')")
    for path in ("/exchange", "/exchange?refused"):
        if path in results:
            print(f"  {PHASES[path]}: {logged[path]} log entries for {results[path]['ok']} replies")
    print(f"  verify-log: {'ok' if status == 0 else 'FAILED'} — {message}")
    for line in summary:  # one per server process, the whole run (warm-ups included)
        print(f"  server: {line}")
    if server_log:
        print("  server log (warnings and errors, the phases had errors; count × line):")
        for line in server_log:
            print(f"    {line}")


def server_problems(path: Path, most: int = 20) -> list[str]:
    """The server's warning and error lines, counted (digits folded so that repeats collapse), most
    frequent first: why a phase had errors, read before the run's directory is removed."""
    import re
    from collections import Counter

    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    wanted = [ln for ln in lines if re.search(r"WARNING|ERROR|CRITICAL|Traceback|Error\b", ln)]
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
    counted = Counter(re.sub(r"\d+", "N", stamp.sub("", ln))[:300] for ln in wanted)
    return [f"{n} × {ln}" for ln, n in counted.most_common(most)]


def server_summary(path: Path) -> list[str]:
    """The server processes' summary lines at shutdown (group commit, registry reads)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [ln.split(" INFO moyai.gateway.server.run ", 1)[1] for ln in lines
            if " INFO moyai.gateway.server.run group commit" in ln]


PHASES = {
    "/health": "bare: GET /health (TLS + HTTP + ASGI)",
    "/exchange?refused": "gateway path, refused at the legal basis",
    "/exchange": "full path: provided (符号 + registry read)",
}


if __name__ == "__main__":
    main()
