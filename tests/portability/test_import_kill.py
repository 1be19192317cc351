"""A ``moyai import`` / ``moyai tenant onboard`` process killed (SIGKILL) while it writes leaves no
data of the 団体 — and for onboarding no 団体 — behind; the same command then succeeds.

The command runs in a subprocess against a database file (SQLite: a file made for the test) or
the test database (PostgreSQL, committed rows: a transactional test).  It is killed once its
output shows that the write phase has started.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.models import Tenant
from moyai.platform.tenancy.scope import tenant_scope
from moyai.portability.fileset import FilesetSummary, write_fileset
from moyai.residents.demo.generator import generate
from moyai.residents.domain.model import MoveEvent
from moyai.residents.models import Event, Household, Resident, SearchKey
from tests.factories import TenantFactory
from tests.fixtures import KUDAMATSU, SHUNAN

PG = os.environ.get("MOYAI_DB") == "postgresql"
MOYAI = str(Path(sys.executable).with_name("moyai"))
WRITE_STARTED = "書き込みを開始します"
DONE = "取り込んだ件数"
TABLES = (Event, Resident, SearchKey, Household)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FilesetSummary]:
    """A file set whose write takes a few seconds (about 6,000 persons)."""
    people: dict[str, list[MoveEvent]] = {}
    for e in generate(SHUNAN, scale=0.04, seed=2).events:
        people.setdefault(e.atena_no, []).append(e)
    d = tmp_path_factory.mktemp("big")
    return d, write_fileset(d, SHUNAN, people)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOYAI_")}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", **extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MOYAI, *args], env=env, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603


def _kill_while_writing(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.Popen([MOYAI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
    seen: list[str] = []
    assert proc.stdout is not None
    try:
        for line in _lines(proc.stdout):
            seen.append(line)
            if WRITE_STARTED in line:
                break
        else:
            pytest.fail("the write phase never started:\n" + "".join(seen))
        time.sleep(0.3)
        assert proc.poll() is None, "the command ended before it could be killed:\n" + "".join(seen)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    output = "".join(seen)
    assert DONE not in output
    return output


def _lines(stream: object) -> Iterator[str]:
    yield from stream  # type: ignore[call-overload]


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    env = _env(MOYAI_DB="sqlite", MOYAI_SQLITE_PATH=str(tmp_path / "moyai.sqlite3"), MOYAI_HOME=str(tmp_path))
    assert _run(["db", "migrate"], env).returncode == 0
    setup = (
        "from moyai.platform.tenancy.services import create_consortium, create_tenant\n"
        "c = create_consortium('yamaguchi', '山口県自治体クラウド協議会', {'certificate_fee': 300})\n"
        f"create_tenant('{KUDAMATSU}', '下松市', '山口県', c)\n"
    )
    done = _run(["manage", "shell", "-c", setup], env)
    assert done.returncode == 0, done.stderr
    return env


def _sqlite_counts(path: str, code: str) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        counts = {
            m.__name__: con.execute(
            f'SELECT count(*) FROM "{m._meta.db_table}" WHERE "{m._meta.get_field("tenant").column}" = ?', [code]
        ).fetchone()[0]
            for m in (*TABLES, AccessLog)
        }
        counts["tenant"] = con.execute('SELECT count(*) FROM "tenancy_tenant" WHERE code = ?', [code]).fetchone()[0]
        return counts
    finally:
        con.close()


def _pg_counts(code: str) -> dict[str, int]:
    counts = {"tenant": Tenant.objects.filter(code=code).count()}
    with tenant_scope(code):
        counts.update({m.__name__: m.objects.count() for m in (*TABLES, AccessLog)})
    return counts


def _commands(kind: str, directory: Path) -> list[str]:
    if kind == "import":
        return ["import", "--tenant", SHUNAN, str(directory), "--report-dir", str(directory.parent / "report")]
    return ["tenant", "onboard", "--code", SHUNAN, "--name", "周南市", "--from", str(directory),
            "--report-dir", str(directory.parent / "report")]


@pytest.mark.skipif(PG, reason="the SQLite flavour")
@pytest.mark.parametrize("kind", ["import", "onboard"])
def test_sqlite_killed_while_writing_leaves_nothing(
    sqlite_env: dict[str, str], big: tuple[Path, FilesetSummary], kind: str
) -> None:
    db = sqlite_env["MOYAI_SQLITE_PATH"]
    if kind == "import":
        created = _run(["tenant", "create", "--code", SHUNAN, "--name", "周南市", "--prefecture", "山口県",
                        "--consortium", "yamaguchi"], sqlite_env)
        assert created.returncode == 0, created.stdout
    _kill_while_writing(_commands(kind, big[0]), sqlite_env)
    after = _sqlite_counts(db, SHUNAN)
    assert after == {"Event": 0, "Resident": 0, "SearchKey": 0, "Household": 0, "AccessLog": 0,
                     "tenant": 1 if kind == "import" else 0}
    again = _run(_commands(kind, big[0]), sqlite_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _sqlite_counts(db, SHUNAN)["Event"] == big[1].history_rows


@pytest.mark.postgresql
@pytest.mark.skipif(not PG, reason="the PostgreSQL flavour")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["import", "onboard"])
def test_postgresql_killed_while_writing_leaves_nothing(
    flush_as_owner: None, big: tuple[Path, FilesetSummary], kind: str
) -> None:
    TenantFactory(code=KUDAMATSU, name="下松市")
    if kind == "import":
        TenantFactory(code=SHUNAN, name="周南市")
    env = _env(MOYAI_DB="postgresql", MOYAI_PG_NAME=str(connection.settings_dict["NAME"]))
    _kill_while_writing(_commands(kind, big[0]), env)
    # what the killed process wrote was never committed: invisible at once, rolled back by the server
    if kind == "import":
        assert _pg_counts(SHUNAN) == {"Event": 0, "Resident": 0, "SearchKey": 0, "Household": 0, "AccessLog": 0,
                                      "tenant": 1}
    else:
        assert not Tenant.objects.filter(code=SHUNAN).exists()
    again = _run(_commands(kind, big[0]), env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _pg_counts(SHUNAN)["Event"] == big[1].history_rows
