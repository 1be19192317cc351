"""``moyai exchange verify-log`` against the stored log (real tables, a key store on disk)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from typer.testing import CliRunner

from moyai.cli import app
from moyai.gateway.domain.keystore import FileKeyStore
from moyai.gateway.domain.log import Outcome, body_digest
from moyai.gateway.domain.signing import Ed25519Signer
from moyai.gateway.store import LogStore

runner = CliRunner()


@pytest.mark.django_db
def test_verify_log_passes_then_names_the_altered_entry(tmp_path: Path) -> None:
    keys = FileKeyStore.create(tmp_path / "keys")
    t = [dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)]

    def clock() -> dt.datetime:
        t[0] += dt.timedelta(seconds=1)
        return t[0]

    store = LogStore("dc-a", Ed25519Signer(keys.current()), batch_size=2, clock=clock)
    for i in range(4):
        store.append(requester="kenpo-midori", provider="352152", affair="HI-01", items=["resident_record.address"],
                     outcome=Outcome.PROVIDED, request_digest=body_digest(f"q{i}".encode()),
                     response_digest=body_digest(f"r{i}".encode()), basis_id="LB-0001",
                     subject="k0001." + "a" * 32, message_id=f"m{i}")
    ok = runner.invoke(app, ["exchange", "verify-log", "--keys", str(tmp_path / "keys")])
    assert ok.exit_code == 0, ok.output

    with connection.cursor() as cur:  # an attacker with the owner's rights edits entry 2
        if connection.vendor == "postgresql":
            cur.execute(f'SET ROLE "{settings.PG_OWNER_ROLE}"')
            cur.execute('DROP TRIGGER "gateway_logentry_append_only" ON "gateway_logentry"')
        else:
            cur.execute('DROP TRIGGER "gateway_logentry_no_update"')
        cur.execute("UPDATE gateway_logentry SET canonical = replace(canonical, 'HI-01', 'HI-02') WHERE seq = 2")
        if connection.vendor == "postgresql":
            cur.execute(f'SET ROLE "{settings.PG_APP_ROLE}"')
    bad = runner.invoke(app, ["exchange", "verify-log", "--keys", str(tmp_path / "keys")])
    assert bad.exit_code == 1
    assert "2" in bad.output, bad.output
    assert "改ざん" in bad.output or "一致しません" in bad.output or "不整合" in bad.output, bad.output


@pytest.mark.parametrize(("args", "message"), [
    (["--dc", "c"], "データセンター"),
    (["--dc", "a", "--workers", "0"], "--workers は1以上です（0）"),
    (["--dc", "a", "--registry-pool-size", "0"], "--registry-pool-size は1以上です（0）"),
    (["--dc", "a", "--http", "h2"], "--http は auto・httptools・h11"),
])
def test_serve_refuses_bad_options_before_starting(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["gateway", "serve", "--pki", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("value", ["0", "many", "-5"])
def test_serve_refuses_a_bad_collector_threshold_before_starting(tmp_path: Path, value: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOYAI_GC_GEN0", value)
    result = runner.invoke(app, ["gateway", "serve", "--pki", str(tmp_path), "--dc", "a"])
    assert result.exit_code == 2
    assert f"MOYAI_GC_GEN0 は1以上の整数で指定してください（{value!r}）" in result.output


def test_the_collector_threshold_is_the_default_or_the_operator_s(monkeypatch: pytest.MonkeyPatch) -> None:
    from moyai.gateway.server.run import GC_GEN0, collector_threshold

    monkeypatch.delenv("MOYAI_GC_GEN0", raising=False)
    assert collector_threshold() == GC_GEN0 == 20_000
    monkeypatch.setenv("MOYAI_GC_GEN0", " 700 ")
    assert collector_threshold() == 700
