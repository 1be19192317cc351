"""Shared helpers of the export / synthetic / injection / stored-lines tests: read a file set back with the
format layer; load a generated population as the demo does."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from moyai.portability.format.csvio import read_values
from moyai.portability.format.layout import load_layout
from moyai.portability.format.mapping import rows_to_histories
from moyai.portability.format.persons import check_households
from moyai.portability.format.problems import Problem
from moyai.residents.demo.generator import TenantPopulation
from moyai.residents.domain.model import MoveEvent, replay

LAYOUT = load_layout()


def read_fileset(directory: Path, tenant_code: str) -> tuple[dict[str, list[MoveEvent]], list[Problem]]:
    """Every file of the set read and checked by the format layer: (histories, problems)."""
    problems: list[Problem] = []
    rows = list(read_values(directory / LAYOUT.file("resident").file_name, LAYOUT.file("resident"), problems))
    histories = rows_to_histories(rows, tenant_code=tenant_code, problems=problems)
    persons = {a: s for a, evs in histories.items() if (s := replay(evs)) is not None}
    household = LAYOUT.file("household")
    households = list(read_values(directory / household.file_name, household, problems))
    problems += check_households(households, persons)
    code = LAYOUT.file("code")
    list(read_values(directory / code.file_name, code, problems))
    return histories, problems


def by_person(events: Iterable[MoveEvent]) -> dict[str, list[MoveEvent]]:
    out: dict[str, list[MoveEvent]] = {}
    for e in events:
        out.setdefault(e.atena_no, []).append(e)
    return out


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {f.file_name: (directory / f.file_name).read_bytes() for f in LAYOUT.files}


def bulk_load(tenant_code: str, population: TenantPopulation) -> None:
    """The demo's bulk load of a generated population (``services.load_histories``): it stores no
    lines of the 住民 file, so the first export computes them."""
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents import services

    with tenant_scope(tenant_code):
        services.load_histories(
            population.events,
            next_atena_seq=population.next_atena_seq,
            next_household_seq=population.next_household_seq,
        )
