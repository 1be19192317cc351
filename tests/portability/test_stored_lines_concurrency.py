"""The stored lines of the 住民 file when a 本登録 and an export store the same person at once
(PostgreSQL: concurrent transactions on two connections).

A 本登録 keeps its persons' lines (an upsert in its own transaction, ``lines.on_recorded``); an
export that finds many persons without lines computes and stores them first
(``lines.refresh_stale``: a plain ``INSERT`` per chunk of persons, each chunk committed).  Neither
may make the other fail or leave a wrong line behind:

- the 本登録 commits between the refresh's staleness check and its ``INSERT``: the ``INSERT``
  meets the committed row (unique violation), the chunk is rolled back to its savepoint and
  written again as an upsert: the file holds the 本登録, and every stored line ends equal to
  what the 異動 give;
- the chunk's ``INSERT`` is not yet committed when the 本登録 stores one of its persons: the
  本登録 waits for that chunk only, then updates the row (``ON CONFLICT DO UPDATE``) and is
  registered while the export goes on; the line ends as the 本登録's 異動 give.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from fileset_support import bulk_load, file_bytes

from moyai.platform.tenancy.scope import tenant_scope
from moyai.portability import exporter, lines
from moyai.portability.exporter import export_tenant, iter_histories
from moyai.portability.fileset import write_fileset
from moyai.portability.models import PersonLines
from moyai.residents import services
from moyai.residents.demo.generator import TenantPopulation, generate
from moyai.residents.models import Resident
from moyai.residents.services import SubjectInput
from tests.conftest import PG
from tests.fixtures import SHUNAN, World

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(not PG, reason="the PostgreSQL flavour: concurrent transactions"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("flush_as_owner"),
]
PURPOSE = "保存した行の同時実行の試験"
ADDR = "山口県周南市糀町二丁目5番地"


@pytest.fixture(scope="module")
def population() -> TenantPopulation:
    return generate(SHUNAN, scale=0.003, seed=12)


def _a_resident() -> str:
    with tenant_scope(SHUNAN):
        return str(Resident.objects.filter(status="resident").order_by("atena_no").values_list("atena_no", flat=True)[3])


def _register_move(world: World, person: str, out: dict[str, Any]) -> None:
    """A 転居 of ``person`` on a connection of its own (a counter clerk), committed."""
    try:
        with tenant_scope(SHUNAN):
            req = services.record_now(
                world.clerk, "move_within", dt.date(2026, 5, 1), [SubjectInput(person, {"address": ADDR})],
                notified_date=dt.date(2026, 5, 1),
            )  # fmt: skip
        out["status"] = req.status
    except Exception as exc:  # reported to the test's thread
        out["error"] = exc
    finally:
        connections.close_all()


def _rows_of(directory: Path, person: str) -> list[dict[str, str]]:
    with (directory / "JYUKI_KOJIN.csv").open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["宛名番号"] == person]


def _stored_line(person: str) -> tuple[str, int]:
    with tenant_scope(SHUNAN):
        text, count = PersonLines.objects.filter(atena_no=person).values_list("lines", "event_count").get()
    return text, count


def _reference(directory: Path) -> None:
    """The file set the old path computes from every 異動 now in the store; no line is stale."""
    with tenant_scope(SHUNAN):
        write_fileset(directory, SHUNAN, dict(iter_histories()))
        assert lines.stale_persons().stale == []
        assert lines.stale_persons().orphans == []


def _stored_equal_computed() -> None:
    """Every stored line is the person's rows as the export's own code computes them now."""
    encoder = lines.LineEncoder(SHUNAN)
    with tenant_scope(SHUNAN):
        stored = dict(PersonLines.objects.values_list("atena_no", "lines"))
        computed = {a: encoder.person(a, evs).lines for a, evs in lines.all_events()}
    assert stored == computed


def test_a_registration_committed_before_the_export_s_insert_turns_the_chunk_into_an_upsert(
    world: World, population: TenantPopulation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk_load(SHUNAN, population)
    person = _a_resident()
    before = sum(1 for e in population.events if e.atena_no == person)
    monkeypatch.setattr(exporter, "IN_SNAPSHOT", 10)  # every person is missing: refreshed before the snapshot
    real_store = lines.store
    registered: dict[str, Any] = {}
    chunks: list[bool] = []  # the refresh's writes: replace=False (INSERT) or True (upsert)

    def store_after_a_registration(computed: Iterable[lines.Computed], **kwargs: Any) -> int:
        if "replace" in kwargs:
            if not chunks:
                # the refresh has found every person stale (this one too) and is about to INSERT
                # them: a clerk registers a 転居 of one of them, which stores that person's line
                clerk = threading.Thread(target=_register_move, args=(world, person, registered))
                clerk.start()
                clerk.join(60)
                assert registered == {"status": "registered"}
                assert ADDR in _stored_line(person)[0]
            chunks.append(kwargs["replace"])
        return real_store(computed, **kwargs)

    monkeypatch.setattr(lines, "store", store_after_a_registration)
    result = export_tenant(SHUNAN, tmp_path / "out", actor=world.admin, purpose=PURPOSE)
    # the chunk's INSERT met the committed row, was rolled back to its savepoint and written again
    # as an upsert; nothing was left stale for the snapshot, which began after the 本登録
    assert chunks == [False, True]
    rows = _rows_of(tmp_path / "out", person)
    assert len(rows) == before + 1 and rows[-1]["住所"] == ADDR
    _reference(tmp_path / "ref")
    assert file_bytes(tmp_path / "out") == file_bytes(tmp_path / "ref")
    assert result.summary.persons == len({e.atena_no for e in population.events})
    text, count = _stored_line(person)
    assert ADDR in text and count == before + 1
    _stored_equal_computed()


def test_a_registration_waits_for_the_chunk_being_written_only_then_updates_the_line(
    world: World, population: TenantPopulation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk_load(SHUNAN, population)
    person = _a_resident()  # in the first chunk
    before = sum(1 for e in population.events if e.atena_no == person)
    monkeypatch.setattr(exporter, "IN_SNAPSHOT", 10)
    monkeypatch.setattr(lines, "refresh_stale", functools.partial(lines.refresh_stale, chunk=50))
    real_store = lines.store
    registered: dict[str, Any] = {}
    clerk = threading.Thread(target=_register_move, args=(world, person, registered))
    chunks: list[bool] = []

    def store_then_a_registration(computed: Iterable[lines.Computed], **kwargs: Any) -> int:
        n = real_store(computed, **kwargs)
        if "replace" in kwargs:
            chunks.append(kwargs["replace"])
            if len(chunks) == 1:
                # the first chunk is inserted, not committed: the clerk's 本登録 stores one of its persons
                clerk.start()
                clerk.join(3)
                assert clerk.is_alive() and registered == {}  # waiting for that chunk's transaction
            elif len(chunks) == 2:
                # the first chunk committed: the 本登録 went on while the second is being written
                clerk.join(60)
                assert registered == {"status": "registered"}  # never failed by the export
        return n

    monkeypatch.setattr(lines, "store", store_then_a_registration)
    export_tenant(SHUNAN, tmp_path / "out", actor=world.admin, purpose=PURPOSE)
    persons = len({e.atena_no for e in population.events})
    assert chunks == [False] * -(-persons // 50) and len(chunks) >= 3
    # the 本登録 updated the line the export had inserted: it is the one the 異動 give now
    text, count = _stored_line(person)
    assert ADDR in text and count == before + 1
    _stored_equal_computed()
    # and the export's snapshot, begun after the refresh, holds it
    rows = _rows_of(tmp_path / "out", person)
    assert len(rows) == before + 1 and rows[-1]["住所"] == ADDR
    _reference(tmp_path / "ref")
    assert file_bytes(tmp_path / "out") == file_bytes(tmp_path / "ref")
