"""``state_from_dict``: a stored projection's ``state`` back into a PersonState, as the constructor would."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moyai.residents.domain.model import ITEM_NAMES, PersonState, state_from_dict

_VALUES = st.one_of(st.none(), st.text(max_size=8), st.integers(0, 99), st.booleans(),
                    st.fixed_dictionaries({"era": st.sampled_from(["R", "H"]), "year": st.integers(1, 30)}))


@given(st.dictionaries(st.sampled_from([n for n in ITEM_NAMES if n != "atena_no"]), _VALUES),
       st.text(min_size=1, max_size=10))
def test_equals_the_constructor_for_any_subset_of_items(items: dict[str, Any], atena_no: str) -> None:
    fields = {"atena_no": atena_no, **items}
    made = state_from_dict(fields)
    assert made == PersonState(**fields)
    assert type(made) is PersonState
    assert dataclasses.asdict(made) == dataclasses.asdict(PersonState(**fields))
    assert made.is_resident == PersonState(**fields).is_resident
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.atena_no = "x"  # type: ignore[misc]


def test_a_name_that_is_not_an_item_or_no_atena_no_raises_as_the_constructor_does() -> None:
    with pytest.raises(TypeError, match="unexpected keyword"):
        state_from_dict({"atena_no": "0000000019", "shoe_size": 27})
    with pytest.raises(TypeError, match="atena_no"):
        state_from_dict({"family_name": "山田"})
