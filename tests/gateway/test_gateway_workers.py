"""``moyai gateway serve --workers 2``: two server processes on one port keep one log chain.

Each uvicorn worker has its own pools and its own group-commit writer; the log's advisory lock
and "continue from the last stored entry" must still give one chain with no gap, no fork, and
every reply's entry stored — with the writers' in-memory knowledge of the last checkpoint lagging
behind what the other process wrote.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from moyai.gateway.server.client import GatewayClient
from moyai.gateway.server.pki import init_pki
from tests.gateway.server_kit import DataCentre

PG = os.environ.get("MOYAI_DB") == "postgresql"
pytestmark = [pytest.mark.postgresql,
              pytest.mark.skipif(not PG, reason="worker processes share the PostgreSQL log: MOYAI_DB=postgresql")]


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_two_worker_processes_answer_on_one_port_and_keep_one_verifiable_chain(tmp_path: Path) -> None:
    pki = init_pki(tmp_path / "pki")
    dc = DataCentre("a", pki, tmp_path, batch_size=4, serve_args=("--workers", "2"), label="workers")
    dc.peer_port = dc.port + 1  # no data centre b here
    dc.create_database(3)
    try:
        dc.start()
        assert dc.process is not None
        assert len(_children(dc.process.pid)) >= 2  # the supervisor and its two workers

        async def send_many() -> list[Any]:
            async def one_client(i: int) -> list[Any]:
                client = GatewayClient(pki, "kenpo-midori", dc.url)
                try:
                    out = []
                    for j in range(6):
                        subject = str(dc.residents[(i + j) % 3]["codes"]["kenpo-midori"])
                        sent = await client.send(client.request("352152", subject))
                        out.append((sent.status, sent.request.message_id))
                    return out
                finally:
                    await client.close()

            results = await asyncio.gather(*(one_client(i) for i in range(8)))
            return [r for rs in results for r in rs]

        replies = asyncio.run(send_many())
    finally:
        dc.stop()
    try:
        assert [status for status, _ in replies] == [200] * 48
        entries = dc.entries()
        assert sorted(e["message_id"] for e in entries) == sorted(m for _, m in replies)
        assert [e["seq"] for e in entries] == list(range(48))
        assert all(e["prev_hash"] == p["entry_hash"] for p, e in itertools.pairwise(entries))
        # the full batches of 4 were closed, by one worker or the other, and the partial one at shutdown
        sizes = [r[0] for r in dc.query("SELECT size FROM gateway_checkpoint WHERE log_id = ? ORDER BY batch",
                                        ("dc-a",))]
        assert sum(sizes) == 48 and all(s == 4 for s in sizes[:-1])
        status, message = dc.verify_log()
        assert status == 0, message
    finally:
        dc.drop_database()
