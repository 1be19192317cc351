"""``bench/gateway.py`` still runs end to end (a second of each phase: its figures are not judged
here, only that it measures what it says: replies, their log entries, a log that verifies)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gateway_benchmark_runs_both_phases_and_every_reply_has_its_log_entry() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}/src:{ROOT}"}
    out = subprocess.run(
        [sys.executable, "bench/gateway.py", "--seconds", "1", "--warmup", "0.5", "--concurrency", "4",
         "--residents", "3", "--phases", "bare,full"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    backend = "postgresql" if os.environ.get("MOYAI_DB") == "postgresql" else "sqlite"
    assert f"backend {backend}: database seeded with 3" in text
    bare = re.search(r"bare: GET /health .*?(\d+) /s .*errors (\d+)", text)
    full = re.search(r"full path: provided .*?(\d+) /s .*bare/this\s+([\d.]+)x.*errors (\d+)", text)
    assert bare and full, text
    assert int(bare[1]) > 0 and int(full[1]) > 0 and float(full[2]) > 0
    assert bare[2] == full[3] == "0"
    logged = re.search(r"full path: provided \(符号 \+ registry read\): (\d+) log entries for (\d+) replies", text)
    assert logged and logged[1] == logged[2] and int(logged[2]) > 0, text
    assert "verify-log: ok" in text
