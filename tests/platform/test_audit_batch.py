"""``audit.entries_statement``: many access-log entries in one statement (``audit_record_entries``), as
``record`` stores them, each 団体's under its own scope."""

from __future__ import annotations

import os

import pytest
from django.db import connection, transaction

from moyai.platform.audit import services as audit
from moyai.platform.audit.context import request_id_var
from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.tenancy.scope import tenant_scope
from tests.fixtures import KUDAMATSU, SHUNAN, World

PG = os.environ.get("MOYAI_DB") == "postgresql"
pytestmark = [pytest.mark.skipif(not PG, reason="one statement with arrays: PostgreSQL"), pytest.mark.django_db]


def _stored(request_ids: list[str]) -> list[tuple[object, ...]]:
    rows = AccessLog.objects.filter(request_id__in=request_ids).order_by("request_id")
    return [(e.actor, e.actor_kind, e.operation, e.purpose, e.outcome, e.request_id, e.subject_count,
             e.individual_number, e.detail,
             sorted(AccessLogSubject.objects.filter(log_id=e.id).values_list("atena_no", flat=True))) for e in rows]


def test_entries_stored_by_one_statement_equal_those_record_stores(world: World) -> None:
    actor = world.clerk
    subjects = [["0000000019", "0000000027"], ["0000000035"], []]
    with tenant_scope(SHUNAN):
        for i, s in enumerate(subjects):
            token = request_id_var.set(f"one-{i}")
            try:
                audit.record(actor, "resident.view", s, purpose="比較", individual_number=i == 0,
                             detail={"n": i, "名": "テスト"})
            finally:
                request_id_var.reset(token)
        pending = [audit.new_entry(actor, "resident.view", s, tenant_code=SHUNAN, purpose="比較",
                                   individual_number=i == 0, detail={"n": i, "名": "テスト"}, request_id=f"batch-{i}")
                   for i, s in enumerate(subjects)]
        sql, params = audit.entries_statement(pending)
        with connection.cursor(), connection.connection.cursor() as cur:  # psycopg's own: binary arrays
            cur.execute(sql, params)
        one = _stored([f"one-{i}" for i in range(3)])
        batch = _stored([f"batch-{i}" for i in range(3)])
    assert len(one) == 3
    assert [r[:5] + r[6:] for r in batch] == [r[:5] + r[6:] for r in one]  # all but the request id
    assert [r[5] for r in batch] == ["batch-0", "batch-1", "batch-2"]


def _scope() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('moyai.tenant', true)")
        return str(cur.fetchone()[0])


def test_one_statement_stores_each_tenant_s_entries_in_its_scope_and_gives_the_caller_s_scope_back(
        world: World) -> None:
    actor = world.clerk
    shunan = audit.new_entry(actor, "resident.view", ["0000000019"], tenant_code=SHUNAN, request_id="x-1")
    kudamatsu = audit.new_entry(actor, "resident.view", ["0000000027", "0000000035"], tenant_code=KUDAMATSU,
                                request_id="x-2")
    sql, params = audit.entries_statement([shunan, kudamatsu])
    # the caller is in 下松市's scope (352071): the function's last 団体 is 周南市 (352152), so a scope
    # not given back would show
    with tenant_scope(KUDAMATSU):
        with connection.cursor(), connection.connection.cursor() as cur:
            cur.execute(sql, params)
            assert cur.fetchone()[0] == 2  # entries stored
        assert _scope() == KUDAMATSU  # the caller's scope, set again
        stored = AccessLog.objects.get(request_id__startswith="x-")  # row-level security: 下松市's only
        assert stored.request_id == "x-2"
        assert stored.subject_count == 2
        assert sorted(AccessLogSubject.objects.filter(log_id=stored.id).values_list("atena_no", flat=True)) == \
            ["0000000027", "0000000035"]
    with tenant_scope(SHUNAN):
        assert list(AccessLog.objects.filter(request_id__startswith="x-").values_list("request_id", flat=True)) \
            == ["x-1"]


def test_an_entry_without_its_tenant_is_refused_and_nothing_is_stored(world: World) -> None:
    actor = world.clerk
    good = audit.new_entry(actor, "resident.view", ["0000000019"], tenant_code=SHUNAN, request_id="y-1")
    bad = audit.new_entry(actor, "resident.view", ["0000000019"], tenant_code=SHUNAN, request_id="y-2")
    sql, params = audit.entries_statement([good, bad])
    params[0][1] = None  # the second entry's 団体
    with tenant_scope(SHUNAN):
        with pytest.raises(Exception, match="without its tenant"), transaction.atomic(), \
                connection.cursor(), connection.connection.cursor() as cur:
            cur.execute(sql, params)
        assert not AccessLog.objects.filter(request_id__startswith="y-").exists()
