"""History tests: a scripted life replayed as of every date and as recorded at every step."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import selectors, services
from moyai.residents.errors import RegistryError, ResidentsErrorCode
from moyai.residents.services import SubjectInput
from tests.fixtures import SHUNAN, World

ADDR1 = "山口県周南市岐山通一丁目1番地"
ADDR2 = "山口県周南市糀町二丁目5番地"
ADDR3 = "山口県周南市久米3000番地"


def _moved_in_family(w: World) -> tuple[str, str]:
    req = services.record_now(
        w.clerk, "move_in", dt.date(2000, 4, 1),
        [
            SubjectInput(None, {"family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ", "given_kana": "イチロウ",
                                "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主", "address": ADDR1,
                                "postal_code": "745-0045", "household_no": "new", "previous_address": "広島県広島市中区基町1番",
                                "individual_number": "123456789018"}),
            SubjectInput(None, {"family_name": "山田", "given_name": "花子", "family_kana": "ヤマダ", "given_kana": "ハナコ",
                                "birth_date": "S47.2.3", "sex": "2", "relationship": "妻", "address": ADDR1,
                                "postal_code": "7450045", "household_no": "new", "previous_address": "広島県広島市中区基町1番"}),
        ],
        notified_date=dt.date(2000, 4, 3),
    )
    assert req.status == "registered", req.findings
    return req.moves[0]["atena_no"], req.moves[1]["atena_no"]


@pytest.mark.django_db
def test_scripted_life_as_of_every_date_and_as_recorded_at_every_step(world: World) -> None:
    w = world
    marks: dict[str, dt.datetime] = {}
    with tenant_scope(SHUNAN):
        father, mother = _moved_in_family(w)
        h1 = services.events_of([father])[father][0].changes["household_no"]
        marks["family"] = timezone.now()

        # 出生
        req = services.record_now(w.clerk, "birth", dt.date(2005, 6, 1), [SubjectInput(None, {
            "family_name": "山田", "given_name": "太朗", "family_kana": "ヤマダ", "given_kana": "タロウ", "sex": "1",
            "relationship": "子", "address": ADDR1, "household_no": h1})], notified_date=dt.date(2005, 6, 10))
        assert req.status == "registered", req.findings
        child = req.moves[0]["atena_no"]
        marks["birth"] = timezone.now()

        # 転居 of the whole household
        req = services.record_now(w.clerk, "move_within", dt.date(2015, 3, 1), [
            SubjectInput(a, {"address": ADDR2, "postal_code": "745-0074"}) for a in (father, mother, child)],
            notified_date=dt.date(2015, 3, 2))
        assert req.status == "registered", req.findings
        marks["move"] = timezone.now()

        # 世帯分離: the child forms a household of its own
        req = services.record_now(w.clerk, "household_split", dt.date(2024, 4, 1), [
            SubjectInput(child, {"household_no": "new", "relationship": "世帯主", "address": ADDR3})],
            notified_date=dt.date(2024, 4, 1))
        assert req.status == "registered", req.findings
        h2 = req.moves[0]["changes"]["household_no"]
        marks["split"] = timezone.now()

        # 職権修正 recorded now for 2005: the given name was misspelled since birth (審査 needed)
        req = services.record_now(w.clerk, "ex_officio_correction", dt.date(2005, 6, 1),
                                  [SubjectInput(child, {"given_name": "太郎"})])
        assert req.status == "awaiting_approval"
        assert services.events_of([child])[child][-1].kind == "household_split"  # nothing recorded yet
        services.approve(w.approver, req.id)
        marks["correction"] = timezone.now()

        # 転出 (確定)
        req = services.record_now(w.clerk, "move_out", dt.date(2025, 3, 31), [
            SubjectInput(child, {"next_address": "東京都千代田区千代田1番1号"})], notified_date=dt.date(2025, 3, 31))
        assert req.status == "registered", req.findings
        marks["move_out"] = timezone.now()

        # 回復 (the 転出 was recorded in error), approved
        req = services.record_now(w.clerk, "restoration", dt.date(2025, 3, 31), [SubjectInput(child, {})])
        services.approve(w.approver, req.id)
        marks["restoration"] = timezone.now()

        def view(as_of: dt.date | None, at: dt.datetime | None = None) -> tuple[str, str, str, str | None]:
            s = selectors.resident_view(w.clerk, child, as_of=as_of, recorded_at=at).record
            return s.status, s.given_name, s.address or "", s.household_no

        # As of every date, as recorded now (the correction reaches back to birth).
        assert view(dt.date(2005, 6, 1)) == ("resident", "太郎", ADDR1, h1)
        assert view(dt.date(2015, 2, 28)) == ("resident", "太郎", ADDR1, h1)
        assert view(dt.date(2015, 3, 1)) == ("resident", "太郎", ADDR2, h1)
        assert view(dt.date(2024, 4, 1)) == ("resident", "太郎", ADDR3, h2)
        assert view(dt.date(2025, 3, 31)) == ("resident", "太郎", ADDR3, h2)
        assert view(None) == ("resident", "太郎", ADDR3, h2)
        with pytest.raises(RegistryError) as e:
            selectors.resident_view(w.clerk, child, as_of=dt.date(2005, 5, 31))
        assert e.value.code == ResidentsErrorCode.NOT_FOUND

        # As recorded at each step (what the registry said then).
        assert view(dt.date(2010, 1, 1), marks["split"]) == ("resident", "太朗", ADDR1, h1)
        assert view(dt.date(2010, 1, 1), marks["correction"]) == ("resident", "太郎", ADDR1, h1)
        assert view(None, marks["birth"]) == ("resident", "太朗", ADDR1, h1)
        assert view(None, marks["move"]) == ("resident", "太朗", ADDR2, h1)
        assert view(None, marks["split"]) == ("resident", "太朗", ADDR3, h2)
        assert view(None, marks["move_out"])[0] == "removed"
        assert view(dt.date(2025, 3, 30), marks["move_out"])[0] == "resident"
        assert view(None, marks["restoration"])[0] == "resident"

        # The household as of dates.
        assert [m.atena_no for m in selectors.household_on(h1, as_of=dt.date(2010, 1, 1))] == [father, mother, child]
        assert [m.atena_no for m in selectors.household_on(h1, as_of=dt.date(2024, 4, 1))] == [father, mother]
        assert [m.atena_no for m in selectors.household_on(h2, as_of=dt.date(2024, 4, 1))] == [child]
        assert selectors.household_on(h2, as_of=dt.date(2025, 3, 31), recorded_at=marks["move_out"]) == []

        # The standard's history rows: one per 履歴番号, every item.
        rows = selectors.history(w.clerk, child)
        assert [r.history_no for r in rows] == [1, 2, 3, 4, 5, 6]
        assert [r.kind for r in rows] == ["birth", "move_within", "household_split", "ex_officio_correction",
                                          "move_out", "restoration"]
        assert [r.reason_code for r in rows] == ["103", "301", "302", "306", "309", "108"]
        assert rows[0].items is not None and rows[0].items.given_name == "太朗"
        assert rows[3].items is not None and rows[3].items.given_name == "太郎"
        assert rows[3].effective_date == dt.date(2005, 6, 1)
        assert rows[4].items is not None and rows[4].items.status == "removed"
        assert rows[5].items is not None and rows[5].items.status == "resident"
        assert rows[1].items is not None and rows[1].items.previous_address == ADDR1


@pytest.mark.django_db
def test_cancellation_voids_an_event_from_the_moment_it_is_recorded(world: World) -> None:
    w = world
    with tenant_scope(SHUNAN):
        father, _ = _moved_in_family(w)
        services.record_now(w.clerk, "move_within", dt.date(2020, 1, 10), [
            SubjectInput(father, {"address": ADDR2})], notified_date=dt.date(2020, 1, 10))
        before_cancel = timezone.now()
        moved = services.events_of([father])[father][-1]
        req = services.record_now(w.clerk, "cancellation", moved.effective_date,
                                  [SubjectInput(father, {})], cancels=moved.event_id)
        services.approve(w.approver, req.id)
        assert selectors.resident_view(w.clerk, father).record.address == ADDR1
        assert selectors.resident_view(w.clerk, father, recorded_at=before_cancel).record.address == ADDR2
        # a second cancellation of the same event is refused
        again = services.propose(w.clerk, "cancellation", moved.effective_date, [SubjectInput(father, {})],
                                 cancels=moved.event_id)
        assert [f["rule"] for f in again.findings] == ["cancel_target_missing"]
