"""export_tenant: the registry (history and 除票 included) as a file set, streamed, audited; both backends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fileset_support import by_person, file_bytes, read_fileset

from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.tenancy.scope import tenant_scope
from moyai.portability.exporter import EXPORT_OPERATION, export_tenant, iter_histories
from moyai.portability.fileset import FilesetError
from moyai.portability.format.persons import person_to_values
from moyai.portability.format.problems import ProblemKind
from moyai.residents import services
from moyai.residents.demo.generator import TenantPopulation, generate
from moyai.residents.domain.model import Status, replay
from tests.fixtures import KUDAMATSU, SHUNAN, World

pytestmark = pytest.mark.django_db
PURPOSE = "他システムへの移行（テスト）"


@pytest.fixture(scope="module")
def population() -> TenantPopulation:
    return generate(SHUNAN, scale=0.003, seed=11)


@pytest.fixture
def loaded(world: World, population: TenantPopulation) -> TenantPopulation:
    with tenant_scope(SHUNAN):
        services.load_histories(
            population.events,
            next_atena_seq=population.next_atena_seq,
            next_household_seq=population.next_household_seq,
        )
    return population


def test_the_export_holds_every_resident_removed_record_and_history_row(
    world: World, loaded: TenantPopulation, tmp_path: Path
) -> None:
    result = export_tenant(SHUNAN, tmp_path, actor=world.admin, purpose=PURPOSE)
    people = by_person(loaded.events)
    s = result.summary
    assert s.history_rows == len(loaded.events)
    assert (s.persons, s.residents, s.removed) == (
        len(people),
        loaded.resident_count,
        loaded.removed_count,
    )
    assert loaded.removed_count > 0
    assert s.households == loaded.household_count
    histories, problems = read_fileset(tmp_path, SHUNAN)
    assert problems == []
    assert set(histories) == set(people)
    for atena, evs in people.items():
        assert len(histories[atena]) == len(evs)
        assert person_to_values(replay(histories[atena])) == person_to_values(replay(evs))
    removed = [a for a, evs in histories.items() if (st := replay(evs)) is not None and st.status == Status.REMOVED]
    assert len(removed) == loaded.removed_count


def test_the_export_is_audited_with_every_person_and_the_purpose(
    world: World, loaded: TenantPopulation, tmp_path: Path
) -> None:
    result = export_tenant(SHUNAN, tmp_path, actor=world.admin, purpose=PURPOSE)
    people = by_person(loaded.events)
    with tenant_scope(SHUNAN):
        log = AccessLog.objects.get(operation=EXPORT_OPERATION)
        assert (log.actor, log.purpose, log.outcome, log.subject_count) == ("staff:admin1", PURPOSE, "ok", len(people))
        assert log.individual_number
        assert log.detail["history_rows"] == len(loaded.events)
        assert log.detail["files"]["JYUKI_KOJIN.csv"]["sha256"] == result.summary.file("resident").sha256
        assert set(AccessLogSubject.objects.filter(log_id=log.id).values_list("atena_no", flat=True)) == set(people)
    with pytest.raises(ValueError, match="目的"):
        export_tenant(SHUNAN, tmp_path, actor=world.admin, purpose=" ")


def test_two_exports_are_byte_identical_and_cp932_decodes(
    world: World, loaded: TenantPopulation, tmp_path: Path
) -> None:
    first, second, sjis = tmp_path / "a", tmp_path / "b", tmp_path / "sjis"
    export_tenant(SHUNAN, first, actor=world.admin, purpose=PURPOSE)
    export_tenant(SHUNAN, second, actor=world.admin, purpose=PURPOSE)
    assert file_bytes(first) == file_bytes(second)
    export_tenant(SHUNAN, sjis, actor=world.admin, purpose=PURPOSE, encoding="cp932")
    for name, data in file_bytes(sjis).items():
        assert data.decode("cp932").encode("utf-8") == (first / name).read_bytes()
    assert file_bytes(sjis) != file_bytes(first)


def test_the_export_holds_only_its_own_tenant(world: World, loaded: TenantPopulation, tmp_path: Path) -> None:
    result = export_tenant(KUDAMATSU, tmp_path, actor=world.other_clerk, purpose=PURPOSE)
    assert (result.summary.persons, result.summary.history_rows, result.summary.households) == (0, 0, 0)
    lines = (tmp_path / "JYUKI_KOJIN.csv").read_bytes().split(b"\r\n")
    assert len(lines) == 2  # the header only


def test_histories_are_streamed_by_person_in_order(world: World, loaded: TenantPopulation) -> None:
    subjects: list[str] = []
    with tenant_scope(SHUNAN):
        pairs = list(iter_histories(subjects))
    atenas = [a for a, _ in pairs]
    assert atenas == sorted(by_person(loaded.events)) == subjects
    stored = {e.event_id: e for _, evs in pairs for e in evs}
    for e in loaded.events:  # every field of every 異動 as it was loaded
        got = stored[e.event_id]
        assert dataclasses.replace(got, group_id=e.group_id) == e
        assert got.group_id == (e.group_id or e.event_id)


def test_a_value_cp932_cannot_hold_fails_audited_and_writes_nothing(
    world: World, population: TenantPopulation, tmp_path: Path
) -> None:
    first = population.events[0]
    events = [dataclasses.replace(first, changes={**first.changes, "given_name": "𠮷"}), *population.events[1:]]
    with tenant_scope(SHUNAN):
        services.load_histories(
            events, next_atena_seq=population.next_atena_seq, next_household_seq=population.next_household_seq
        )
    with pytest.raises(FilesetError) as e:
        export_tenant(SHUNAN, tmp_path, actor=world.admin, purpose=PURPOSE, encoding="cp932")
    assert (e.value.problem.item, e.value.problem.kind) == ("名", ProblemKind.UNENCODABLE)
    assert list(tmp_path.iterdir()) == []
    with tenant_scope(SHUNAN):
        log = AccessLog.objects.get(operation=EXPORT_OPERATION)
        assert log.outcome == "error" and "𠮷" in log.detail["error"]
