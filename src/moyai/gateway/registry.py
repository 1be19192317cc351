"""The gateway's read model over the 住民記録 (and, later, the other business modules).

The gateway never touches the residents' tables: it calls the functions the residents app
publishes in :mod:`moyai.residents.selectors`, inside ``tenant_scope`` of the providing 団体,
and every read is written to that 団体's access log (``resident.view`` / ``resident.history``
with the gateway as the actor and the 事務 and requester as the purpose).

The person key of the gateway is the **住民票コード** (national, kept when a person moves, and
what the real 情報提供ネットワークシステム derives its 符号 from). It is resolved to the
団体's 宛名番号 here; neither the 宛名番号 nor the 個人番号 leaves this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from moyai.platform.identity.services import Principal
from moyai.residents import selectors
from moyai.residents.domain.model import PersonState
from moyai.residents.errors import RegistryError

__all__ = ["RESIDENT_RECORD", "RegistryReadModel", "ResidentsReadModel", "gateway_actor", "values_of"]

RESIDENT_RECORD = "resident_record."


def gateway_actor(tenant_code: str, on_behalf_of: str) -> Principal:
    """The actor written to the 団体's access log for a read made by the gateway."""
    return Principal("gateway", on_behalf_of, tenant_code, frozenset(), frozenset())


class RegistryReadModel(Protocol):
    """What the gateway needs from a 団体's registry (called inside ``tenant_scope``)."""

    def atena_no_for(self, person_key: str) -> str | None: ...

    def person_key_for(self, atena_no: str, actor: Principal) -> str | None: ...

    def fetch(self, atena_no: str, items: frozenset[str], on: dt.date, actor: Principal,
              purpose: str) -> tuple[dict[str, Any], list[str]]:
        """(values by item, items this registry does not hold)."""
        ...


def _name(s: PersonState) -> dict[str, Any]:
    return {"family_name": s.family_name, "given_name": s.given_name, "family_kana": s.family_kana,
            "given_kana": s.given_kana, "alias": s.alias, "name_alpha": s.name_alpha}


def _jsonable(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {str(k): v for k, v in value.items() if not isinstance(v, float)}


class ResidentsReadModel:
    """:class:`RegistryReadModel` over :mod:`moyai.residents.selectors`."""

    def atena_no_for(self, person_key: str) -> str | None:
        return selectors.atena_no_by_resident_code(person_key)

    def person_key_for(self, atena_no: str, actor: Principal) -> str | None:
        try:
            view = selectors.resident_view(actor, atena_no, purpose="情報提供等記録の開示")
        except RegistryError:
            return None
        return view.record.resident_code or None

    def fetch(self, atena_no: str, items: frozenset[str], on: dt.date, actor: Principal,
              purpose: str) -> tuple[dict[str, Any], list[str]]:
        held = {i for i in items if i.startswith(RESIDENT_RECORD)}
        not_held = sorted(items - held)
        if not held:
            return {}, not_held
        found = selectors.exchange_records(actor, [atena_no], on=on, purpose=purpose,
                                           with_history=RESIDENT_RECORD + "move_history" in held)
        if atena_no not in found:
            return {}, sorted(items)
        return values_of(found[atena_no], held, not_held)


def values_of(view: selectors.ExchangeRecord, held: AbstractSet[str], not_held: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The values of the ``held`` items of one person as read for an exchange; (values, items not held)."""
    not_held = list(not_held)
    s = view.record
    values: dict[str, Any] = {}
    for item in sorted(held):
        name = item[len(RESIDENT_RECORD):]
        if name == "name":
            values[item] = _name(s)
        elif name == "address":
            values[item] = {"address": s.address, "katagaki": s.katagaki, "postal_code": s.postal_code}
        elif name == "birth_date":
            values[item] = _jsonable(s.birth_date)
        elif name == "sex":
            values[item] = s.sex
        elif name == "household":
            values[item] = {"relationship": s.relationship, "members": [
                {"relationship": m.relationship, **_name(m), "birth_date": _jsonable(m.birth_date)}
                for m in view.household]}
        elif name == "move_history" and view.history is not None:
            values[item] = [{"kind": r.kind, "reason_code": r.reason_code,
                             "effective_date": r.effective_date.isoformat(),
                             "notified_date": r.notified_date.isoformat() if r.notified_date else None,
                             "cancelled": r.cancelled} for r in view.history]
        else:
            not_held.append(item)
    return values, sorted(not_held)
