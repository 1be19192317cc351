"""Synthetic file sets: realistic, deterministic by seed, any scale, one 団体 or the 山口県 group, injections."""

from __future__ import annotations

from pathlib import Path

import pytest
from fileset_support import file_bytes, read_fileset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moyai.portability.inject import InjectionKind
from moyai.portability.synthetic import TENANT_CODES, write_synthetic, write_synthetic_tenant
from moyai.residents.domain.model import Status, replay


def test_one_tenant_is_written_into_the_directory_and_reads_back_clean(tmp_path: Path) -> None:
    (s,) = write_synthetic(tmp_path, tenant_code="352128", scale=0.01, seed=4)
    assert (s.tenant_code, s.name, s.directory) == ("352128", "柳井市", tmp_path)
    assert s.summary.history_rows == s.generated_events
    assert (s.summary.residents, s.summary.removed) == (s.generated_residents, s.generated_removed)
    assert s.generated_residents == 323  # 32,311 × 0.01, rounded
    histories, problems = read_fileset(tmp_path, "352128")
    assert problems == []
    states = [replay(evs) for evs in histories.values()]
    assert sum(1 for x in states if x is not None and x.status == Status.RESIDENT) == s.generated_residents
    # realistic: foreign residents, 除票, several households, histories longer than one row
    kojin = (tmp_path / "JYUKI_KOJIN.csv").read_text(encoding="utf-8").splitlines()
    assert any(",2," in line for line in kojin[1:])  # 住民種別 2 (外国人住民) somewhere
    assert max(len(evs) for evs in histories.values()) >= 3
    assert s.summary.households > 50


def test_the_same_seed_gives_the_same_bytes_another_seed_other_people(tmp_path: Path) -> None:
    a = write_synthetic_tenant(tmp_path / "a", "355020", scale=0.05, seed=9, encoding="cp932")
    b = write_synthetic_tenant(tmp_path / "b", "355020", scale=0.05, seed=9, encoding="cp932")
    c = write_synthetic_tenant(tmp_path / "c", "355020", scale=0.05, seed=10, encoding="cp932")
    assert file_bytes(a.directory) == file_bytes(b.directory)
    assert file_bytes(a.directory)["JYUKI_KOJIN.csv"] != file_bytes(c.directory)["JYUKI_KOJIN.csv"]
    assert file_bytes(a.directory)["JYUKI_CODE.csv"] == file_bytes(c.directory)["JYUKI_CODE.csv"]


def test_the_group_is_written_one_directory_per_tenant(tmp_path: Path) -> None:
    sets = write_synthetic(tmp_path, scale=0.001, seed=2)
    assert [s.tenant_code for s in sets] == list(TENANT_CODES)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(TENANT_CODES)
    for s in sets:
        _, problems = read_fileset(tmp_path / s.tenant_code, s.tenant_code)
        assert problems == []
        line = (tmp_path / s.tenant_code / "JYUKI_SETAI.csv").read_text(encoding="utf-8").splitlines()[1]
        assert line.startswith(s.tenant_code + ",")


def test_injections_are_made_in_order_and_reported(tmp_path: Path) -> None:
    kinds = [InjectionKind.BAD_CODE, InjectionKind.HISTORY_GAP, InjectionKind.DANGLING_REFERENCE]
    (s,) = write_synthetic(tmp_path, tenant_code="355020", scale=0.1, seed=3, inject_kinds=kinds)
    assert [i.kind for i in s.injected] == kinds
    _, problems = read_fileset(tmp_path, "355020")
    found = {(p.file, p.row, p.item, p.kind) for p in problems}
    for i in s.injected:
        assert (i.file, i.row, i.item, i.expected_problem_kind) in found


def test_unknown_tenant_and_bad_scale_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="合成データの団体ではありません"):
        write_synthetic(tmp_path, tenant_code="131016", scale=0.01)
    with pytest.raises(ValueError, match="縮尺"):
        write_synthetic(tmp_path, tenant_code="355020", scale=0)
    with pytest.raises(ValueError, match="誤りの種類 no-such-kind はありません"):
        write_synthetic(tmp_path, tenant_code="355020", scale=0.01, inject_kinds=["no-such-kind"])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.002, 0.01, 0.03]), cp932=st.booleans())
def test_any_seed_and_scale_give_a_clean_set_that_reads_back(
    tmp_path: Path, seed: int, scale: float, cp932: bool
) -> None:
    d = tmp_path / f"{seed}-{scale}-{cp932}"
    (s,) = write_synthetic(d, tenant_code="355020", scale=scale, seed=seed, encoding="cp932" if cp932 else "utf-8")
    histories, problems = read_fileset(d, "355020")
    assert problems == []
    assert sum(len(evs) for evs in histories.values()) == s.summary.history_rows == s.generated_events
