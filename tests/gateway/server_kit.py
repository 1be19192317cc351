"""Two data centres' gateways as real servers: own databases, real uvicorn processes, real mTLS.

Used by the server tests and by ``bench/gateway.py``. For each data centre: a database of
its own (a SQLite file, or a PostgreSQL database ``<MOYAI_PG_TEST_NAME>_dca`` / ``_dcb`` made
with the superuser connection and dropped afterwards), migrated with ``moyai db migrate``,
seeded by :mod:`tests.gateway.dc_seed`, and ``moyai gateway serve --dc …`` on a free loopback
port, with the other data centre as its peer. Log entries are read back with plain SQL; the
logs are verified with ``moyai exchange verify-log``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from moyai.gateway.server.pki import Pki, init_pki

ROOT = Path(__file__).resolve().parents[2]
MOYAI = str(Path(sys.executable).with_name("moyai"))
PG = os.environ.get("MOYAI_DB") == "postgresql"

#: the 団体 hosted in each data centre in these tests (organisations.yaml: 周南市 in a, 柳井市 in b)
HOSTED = {"a": ("352152", "周南市"), "b": ("352128", "柳井市")}
REQUESTERS = ("kenpo-midori", "pension-01", "kenpo-aoba")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def superuser_dsn() -> str:
    from moyai.platform.tenancy.pgroles import superuser_dsn as dsn

    return dsn()


@dataclass
class DataCentre:
    dc: str
    pki: Pki
    workdir: Path
    port: int = field(default_factory=free_port)
    peer_port: int = 0
    db_name: str = ""
    residents: list[dict[str, Any]] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    #: what the seeding printed on stderr (the town's import, with ``town_scale``)
    seed_report: str = ""
    batch_size: int = 4
    serve_args: tuple[str, ...] = ()
    #: in the database's name, for a data centre beside the session's two (``gateways``): a test
    #: that made its own "a" under the same name dropped the running gateway a's database, whose
    #: stop then hung on its log pool until it was killed at the session's end
    label: str = ""
    #: run the server under this (e.g. ``python -m cProfile -o out``; bench/gateway.py --profile)
    command_prefix: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def tenant(self) -> str:
        return HOSTED[self.dc][0]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOYAI_GATEWAY_")}
        env["PYTHONPATH"] = str(ROOT)
        if PG:
            env["MOYAI_DB"] = "postgresql"
            env["MOYAI_PG_NAME"] = self.db_name
        else:
            env["MOYAI_DB"] = "sqlite"
            env["MOYAI_SQLITE_PATH"] = str(self.workdir / f"dc-{self.dc}.sqlite3")
        return env

    # -- database --------------------------------------------------------------------------------

    def create_database(self, residents: int = 1, town_scale: float = 0.0) -> None:
        """Migrated, with ``residents`` registered (or, with ``town_scale``, the synthetic town imported
        and ``residents`` of it given 符号: ``tests.gateway.dc_seed``)."""
        if PG:
            from moyai.platform.tenancy.pgroles import ensure_roles

            ensure_roles()  # the benchmark runs without the test session that creates them
            self.db_name = f"{os.environ.get('MOYAI_PG_TEST_NAME', 'test_moyai')}_dc{self.dc}" + (
                f"_{self.label}" if self.label else "")
            with psycopg.connect(superuser_dsn(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{self.db_name}" OWNER moyai_owner')
        subprocess.run([MOYAI, "db", "migrate"], env=self.env(), cwd=ROOT, check=True, capture_output=True)  # noqa: S603 - our own CLI
        tenant, name = HOSTED[self.dc]
        out = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "tests.gateway.dc_seed", "--tenant", tenant, "--name", name, "--pki",
             str(self.pki.dir), "--residents", str(residents), "--town-scale", str(town_scale),
             *[a for r in REQUESTERS for a in ("--requester", r)]],
            env=self.env(), cwd=ROOT, check=True, capture_output=True)
        self.residents = json.loads(out.stdout.decode().strip().splitlines()[-1])["residents"]
        self.seed_report = out.stderr.decode(errors="replace").strip()

    def drop_database(self) -> None:
        if PG and self.db_name:
            with psycopg.connect(superuser_dsn(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Plain SQL on this data centre's database (``?`` placeholders)."""
        if PG:
            with psycopg.connect(make_conninfo(superuser_dsn(), dbname=self.db_name)) as conn:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())
        with sqlite3.connect(self.env()["MOYAI_SQLITE_PATH"]) as conn:
            return list(conn.execute(sql, params).fetchall())

    def entries(self) -> list[dict[str, Any]]:
        rows = self.query("SELECT canonical FROM gateway_logentry WHERE log_id = ? ORDER BY seq", (f"dc-{self.dc}",))
        return [json.loads(r[0]) for r in rows]

    def verify_log(self) -> tuple[int, str]:
        r = subprocess.run([MOYAI, "exchange", "verify-log", "--keys", str(self.pki.keys_dir(f"log-{self.dc}")),  # noqa: S603 - our own CLI
                            "--log", f"dc-{self.dc}"], env=self.env(), cwd=ROOT, capture_output=True, text=True)
        return r.returncode, " ".join(r.stdout.split())

    # -- server ----------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        other = "b" if self.dc == "a" else "a"
        cmd = [*self.command_prefix, MOYAI, "gateway", "serve", "--dc", self.dc, "--port", str(self.port), "--pki", str(self.pki.dir),
               "--batch-size", str(self.batch_size), "--peer", f"{other}=https://127.0.0.1:{self.peer_port}", *self.serve_args]
        log = open(self.workdir / f"dc-{self.dc}.log", "ab")
        self.process = subprocess.Popen(cmd, env=self.env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own CLI
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        party = self.pki.party("kenpo-midori")
        context.load_cert_chain(str(party.cert), str(party.tls_key))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway {self.dc} exited: {(self.workdir / f'dc-{self.dc}.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw, \
                        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b"200" in tls.recv(64):
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gateway {self.dc} did not start")

    def stop(self) -> None:
        """SIGINT, as a supervisor stops the gateway; an error if it had to be killed 20 s later
        (its shutdown — the log's last checkpoint — would not have run)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
                raise RuntimeError(f"gateway {self.dc} did not stop within 20 s of SIGINT and was killed") from None


@dataclass
class TwoDataCentres:
    pki: Pki
    a: DataCentre
    b: DataCentre

    def __iter__(self) -> Iterator[DataCentre]:
        return iter((self.a, self.b))


def two_data_centres(workdir: Path, *, residents: int = 1, batch_size: int = 4) -> TwoDataCentres:
    pki = init_pki(workdir / "pki")
    a, b = DataCentre("a", pki, workdir, batch_size=batch_size), DataCentre("b", pki, workdir, batch_size=batch_size)
    a.peer_port, b.peer_port = b.port, a.port
    for dc in (a, b):
        dc.create_database(residents)
    return TwoDataCentres(pki, a, b)


def started(workdir: Path, **kwargs: Any) -> Iterator[TwoDataCentres]:
    """Both gateways running (for a fixture); stopped and their databases dropped afterwards."""
    dcs = two_data_centres(workdir, **kwargs)
    try:
        for dc in dcs:
            dc.start()
        yield dcs
    finally:
        failures: list[RuntimeError] = []
        for dc in dcs:
            try:
                dc.stop()
            except RuntimeError as exc:
                failures.append(exc)
            finally:
                dc.drop_database()
        if failures:
            raise failures[0]
