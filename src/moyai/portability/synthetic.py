"""Synthetic 中間標準レイアウト file sets: realistic test files at any scale (no database).

The people are those of the demo (:mod:`moyai.residents.demo.generator`: Faker ja_JP names,
real postal codes and towns, households, 転入・転居・転出・死亡・出生, foreign residents, 除票 and
their history), written with :func:`~moyai.portability.fileset.write_fileset`; the same seed and
scale always give the same bytes.  One 団体 is written into ``directory`` itself; the whole
山口県 group (the five demo 団体) into one sub-directory per 団体コード.  Errors can be injected
(:mod:`moyai.portability.inject`) into each set written, and where each one is is returned.

Used by ``moyai export --synthetic``, the tests and ``bench/portability.py``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from moyai.residents.demo.generator import DEFAULT_TODAY, MUNICIPALITIES, TenantPopulation, generate
from moyai.residents.domain.model import MoveEvent

from .fileset import FilesetSummary, write_fileset
from .inject import Injected, InjectionKind, inject, injection_kind

__all__ = ["TENANT_CODES", "SyntheticSet", "group_by_person", "write_synthetic", "write_synthetic_tenant"]

#: The 団体 the generator knows (the demo's 山口県 group).
TENANT_CODES: tuple[str, ...] = tuple(code for code, _name, _population in MUNICIPALITIES)


@dataclass(frozen=True)
class SyntheticSet:
    """One synthetic file set: the 団体, its directory, what was written and what was injected."""

    tenant_code: str
    name: str
    directory: Path
    summary: FilesetSummary
    injected: tuple[Injected, ...]
    generated_residents: int  # current residents the generator made (as of its ``today``)
    generated_removed: int  # 除票 the generator made
    generated_events: int  # 異動 the generator made (one history row each)


def group_by_person(events: Iterable[MoveEvent]) -> dict[str, list[MoveEvent]]:
    """宛名番号 → that person's 異動 (in the order given)."""
    out: dict[str, list[MoveEvent]] = {}
    for e in events:
        out.setdefault(e.atena_no, []).append(e)
    return out


def write_synthetic_tenant(
    directory: str | os.PathLike[str],
    tenant_code: str,
    *,
    scale: float = 1.0,
    seed: int = 1,
    encoding: str = "utf-8",
    inject_kinds: Sequence[InjectionKind | str] = (),
    today: dt.date = DEFAULT_TODAY,
    on_person: Callable[[], None] | None = None,
    on_generated: Callable[[TenantPopulation], None] | None = None,
) -> SyntheticSet:
    """The file set of one demo 団体 in ``directory``, with the errors of ``inject_kinds``.

    Each kind is injected once, in the order given, with the seed (so the same call gives the
    same files).  ``on_generated`` is called once the population exists (with its counts),
    ``on_person`` once per person written.
    """
    if tenant_code not in TENANT_CODES:
        raise ValueError(f"団体コード {tenant_code} は合成データの団体ではありません（{'、'.join(TENANT_CODES)}）")
    if not 0 < scale <= 1.0:
        raise ValueError("縮尺は 0 より大きく 1.0 以下です")
    kinds = [injection_kind(k) for k in inject_kinds]
    population = generate(tenant_code, scale=scale, seed=seed, today=today)
    if on_generated is not None:
        on_generated(population)
    target = Path(directory)
    summary = write_fileset(
        target, tenant_code, group_by_person(population.events), encoding=encoding, on_person=on_person
    )
    injected = tuple(inject(target, kind, seed=seed) for kind in kinds)
    return SyntheticSet(
        tenant_code,
        population.name,
        target,
        summary,
        injected,
        population.resident_count,
        population.removed_count,
        len(population.events),
    )


def write_synthetic(
    directory: str | os.PathLike[str],
    *,
    tenant_code: str | None = None,
    scale: float = 1.0,
    seed: int = 1,
    encoding: str = "utf-8",
    inject_kinds: Sequence[InjectionKind | str] = (),
    today: dt.date = DEFAULT_TODAY,
    on_person: Callable[[], None] | None = None,
    on_generated: Callable[[TenantPopulation], None] | None = None,
) -> list[SyntheticSet]:
    """One 団体's file set in ``directory``, or (``tenant_code`` None) the five 山口県 団体, each in
    ``directory/<団体コード>``."""
    if tenant_code is not None:
        return [
            write_synthetic_tenant(
                directory,
                tenant_code,
                scale=scale,
                seed=seed,
                encoding=encoding,
                inject_kinds=inject_kinds,
                today=today,
                on_person=on_person,
                on_generated=on_generated,
            )
        ]
    return [
        write_synthetic_tenant(
            Path(directory) / code,
            code,
            scale=scale,
            seed=seed,
            encoding=encoding,
            inject_kinds=inject_kinds,
            today=today,
            on_person=on_person,
            on_generated=on_generated,
        )
        for code in TENANT_CODES
    ]
