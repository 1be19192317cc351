import datetime as dt
import time
import pytest
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services
from moyai.residents.services import SubjectInput
from tests.fixtures import SHUNAN, KUDAMATSU, World

@pytest.mark.django_db
@pytest.mark.parametrize("i", range(5))
def test_probe(world: World, i: int) -> None:
    t = time.perf_counter()
    with tenant_scope(SHUNAN):
        req = services.record_now(world.clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, {"family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ", "given_kana": "イチロウ",
                                "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主", "address": "山口県周南市岐山通一丁目1番地", "household_no": "new"})], notified_date=dt.date(2020, 4, 3))
        print(req.status, req.findings, req.moves)
    print("record", time.perf_counter() - t)
