"""Import → export → import into a second 団体: the two registries agree item by item, exports are
byte-identical; every injected error is reported by the importer where the record says, nothing written.

Both backends (the importer is moyai.portability.importer.import_fileset).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from fileset_support import file_bytes

from moyai.platform.tenancy.scope import tenant_scope
from moyai.portability.exporter import export_tenant
from moyai.portability.format.persons import person_to_values
from moyai.portability.importer import import_fileset
from moyai.portability.inject import InjectionKind, inject, set_tenant_code
from moyai.portability.synthetic import group_by_person, write_synthetic_tenant
from moyai.residents.domain.model import replay
from moyai.residents.models import Event, Household, Resident, SearchKey
from moyai.residents.services import events_of
from tests.fixtures import KUDAMATSU, SHUNAN, World

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 2)
PURPOSE = "移行の往復試験"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("source")
    write_synthetic_tenant(d, SHUNAN, scale=0.003, seed=21, encoding="cp932")
    return d


def _canonical(ids: list[int]) -> dict[int, int]:
    """Event ids → their rank (ids differ between two imports, their order does not)."""
    return {i: n for n, i in enumerate(sorted(set(ids)))}


def registry(code: str) -> dict[str, Any]:
    """Everything the registry holds for one 団体, with ids replaced by ranks and no 団体コード."""
    with tenant_scope(code):
        events = list(
            Event.objects.order_by("atena_no", "recorded_at", "event_id").values(
                "event_id", "atena_no", "kind", "reason_code", "effective_date", "notified_date", "recorded_at",
                "staff", "changes", "household_no", "group_id", "cancels",
            )
        )  # fmt: skip
        residents = list(Resident.objects.order_by("atena_no").values())
        households = list(Household.objects.order_by("household_no").values_list("household_no", "created_on"))
        keys = sorted(
            SearchKey.objects.values_list("kind", "key", "atena_no", "current", "sort_kana", "resident")
        )  # fmt: skip
        histories = events_of(r["atena_no"] for r in residents)
    rank = _canonical([e["event_id"] for e in events])
    groups = _canonical([e["group_id"] for e in events])
    for e in events:
        e["event_id"] = rank[e["event_id"]]
        e["group_id"] = groups[e["group_id"]]
        e["cancels"] = None if e["cancels"] is None else rank[e["cancels"]]
    for r in residents:
        r.pop("tenant_id")
        r["version"] = rank[r["version"]]
    states = {a: replay(evs) for a, evs in histories.items()}
    return {"events": events, "residents": residents, "households": households, "keys": keys, "states": states}


def test_import_export_import_is_lossless(world: World, source: Path, tmp_path: Path) -> None:
    first = import_fileset(SHUNAN, source, actor=world.admin, today=TODAY)
    assert first.ok, first.problems[:3]
    a = tmp_path / "a"
    export_tenant(SHUNAN, a, actor=world.admin, purpose=PURPOSE, encoding="cp932")
    assert file_bytes(a) == file_bytes(source)  # what was imported exports to the same bytes

    moved = tmp_path / "moved"
    shutil.copytree(a, moved)
    set_tenant_code(moved, KUDAMATSU)
    second = import_fileset(KUDAMATSU, moved, actor=world.other_clerk, today=TODAY)
    assert second.ok, second.problems[:3]
    assert (second.imported.residents, second.imported.removed, second.imported.history_rows) == (
        first.imported.residents,
        first.imported.removed,
        first.imported.history_rows,
    )
    b = tmp_path / "b"
    export_tenant(KUDAMATSU, b, actor=world.other_clerk, purpose=PURPOSE, encoding="cp932")
    assert file_bytes(b) == file_bytes(moved)
    set_tenant_code(b, SHUNAN)
    assert file_bytes(b) == file_bytes(a)

    one, two = registry(SHUNAN), registry(KUDAMATSU)
    assert len(one["events"]) == first.imported.history_rows > 0
    for key in ("events", "residents", "households", "keys"):  # item by item, row by row
        assert len(one[key]) == len(two[key])
        for x, y in zip(one[key], two[key], strict=True):
            assert x == y, key
    assert one["states"].keys() == two["states"].keys()
    for atena, state in one["states"].items():  # every PersonState field
        assert state == two["states"][atena]


def test_the_imported_registry_holds_what_was_generated(world: World, source: Path) -> None:
    from moyai.residents.demo.generator import generate

    population = generate(SHUNAN, scale=0.003, seed=21)
    assert import_fileset(SHUNAN, source, actor=world.admin, today=TODAY).ok
    generated = group_by_person(population.events)
    with tenant_scope(SHUNAN):
        stored = events_of(generated)
    for atena, evs in generated.items():
        assert len(stored[atena]) == len(evs)
        assert person_to_values(replay(stored[atena])) == person_to_values(replay(evs))
        # the 異動 kind is rebuilt from the 異動事由 (the file has no kind); the rest is as generated
        got = [(e.reason_code, e.effective_date, e.notified_date, e.staff) for e in stored[atena]]
        assert got == [(e.reason_code, e.effective_date, e.notified_date, e.staff) for e in evs]


@pytest.mark.parametrize("kind", list(InjectionKind))
def test_each_injected_error_is_reported_by_the_importer_and_nothing_is_written(
    kind: InjectionKind, world: World, source: Path, tmp_path: Path
) -> None:
    d = tmp_path / "bad"
    shutil.copytree(source, d)
    injected = inject(d, kind, seed=2)
    result = import_fileset(SHUNAN, d, actor=world.admin, today=TODAY)
    assert not result.ok
    at = {(p.file, p.row, p.item, p.kind) for p in result.problems}
    assert (injected.file, injected.row, injected.item, injected.expected_problem_kind) in at
    with tenant_scope(SHUNAN):
        assert not Event.objects.exists()
        assert not Resident.objects.exists()
        assert not Household.objects.exists()
