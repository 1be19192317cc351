"""``audit.PendingEntry``: an access-log entry not yet stored has exactly the columns of ``AccessLog``."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection

from moyai.platform.audit import services as audit
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from tests.fixtures import SHUNAN, World


def test_a_pending_entry_has_the_columns_of_the_model() -> None:
    """``PendingEntry`` repeats ``AccessLog``'s columns (the gateway builds no model instance, and
    ``record`` builds its returned instance from the pending entry's fields): a column added to one
    and not the other fails here instead of being silently defaulted."""
    columns = {f.attname for f in AccessLog._meta.concrete_fields}
    assert {f.name for f in dataclasses.fields(audit.PendingEntry)} == columns


@pytest.mark.django_db
def test_record_returns_the_row_as_stored(world: World) -> None:
    with tenant_scope(SHUNAN):
        entry = audit.record(world.clerk, "resident.view", ["0000000035", "0000000019", "0000000035"],
                             purpose="確認", detail={"画面": "照会"})
        stored = AccessLog.objects.get(id=entry.id)
    assert entry._state.adding is False and entry._state.db == connection.alias
    assert [(getattr(entry, c), getattr(stored, c)) for c in ("tenant_id", "actor", "operation", "purpose",
                                                              "subject_count", "detail")] == \
        [(SHUNAN, SHUNAN), (world.clerk.label, world.clerk.label), ("resident.view", "resident.view"),
         ("確認", "確認"), (2, 2), ({"画面": "照会"}, {"画面": "照会"})]
    assert abs((entry.at - stored.at).total_seconds()) < 0.001
