"""宛名番号・世帯番号 numbering and the 住民票コード pool."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from moyai.platform.codes.checkdigits import is_valid_mod11
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services
from moyai.residents.errors import RegistryError, ResidentsErrorCode
from moyai.residents.models import ResidentCodePool
from tests.fixtures import KUDAMATSU, SHUNAN, World


@pytest.mark.django_db
def test_numbers_carry_a_mod11_check_digit_and_are_per_tenant(world: World) -> None:
    with tenant_scope(SHUNAN):
        a = [services.next_number("atena") for _ in range(3)]
    with tenant_scope(KUDAMATSU):
        b = services.next_number("atena")
    assert a[0][:-1] == "000000001" and a[2][:-1] == "000000003"
    assert all(is_valid_mod11(x) for x in [*a, b])
    assert b == a[0]  # each 団体 has its own sequence


@pytest.mark.django_db
def test_resident_codes_are_drawn_at_random_and_never_twice(world: World) -> None:
    with tenant_scope(SHUNAN):
        drawn = [services.draw_resident_code(f"atena{i}", random.Random(i)) for i in range(10)]
        assert len(set(drawn)) == 10
        assert drawn != sorted(drawn)  # not handed out in order
        assert ResidentCodePool.objects.filter(assigned_to="").count() == 40
        assert services.resident_code_pool_status().free == 40


@pytest.mark.django_db
def test_pool_low_alert_and_empty_pool_error(world: World) -> None:
    with tenant_scope(SHUNAN):
        for i in range(46):
            services.draw_resident_code(f"x{i}")
        st = services.resident_code_pool_status()
        assert (st.free, st.threshold, st.low) == (4, 5, True)  # threshold from the consortium default
        for i in range(4):
            services.draw_resident_code(f"y{i}")
        with pytest.raises(RegistryError) as e:
            services.draw_resident_code("z")
        assert e.value.code == ResidentsErrorCode.POOL_EMPTY
        assert "住民票コードの在庫がありません" in e.value.message


@pytest.mark.django_db
def test_pool_file_with_a_bad_line_loads_nothing(world: World) -> None:
    with tenant_scope(SHUNAN):
        before = ResidentCodePool.objects.count()
        with pytest.raises(RegistryError) as e:
            services.load_resident_codes(["12345678901", "1234"])
        assert "'1234'" in e.value.message
        assert ResidentCodePool.objects.count() == before


@pytest.mark.django_db
def test_registered_record_gets_a_resident_code_from_the_pool(world: World) -> None:
    with tenant_scope(SHUNAN):
        req = services.record_now(world.clerk, "birth", dt.date(2026, 1, 5), [services.SubjectInput(None, {
            "family_name": "周南", "given_name": "一", "family_kana": "シュウナン", "given_kana": "ハジメ", "sex": "1",
            "relationship": "世帯主", "address": "山口県周南市岐山通1丁目1番地", "household_no": "new"})])
        atena = req.moves[0]["atena_no"]
        code = services.events_of([atena])[atena][0].changes["resident_code"]
        assert ResidentCodePool.objects.get(code=code).assigned_to == atena
