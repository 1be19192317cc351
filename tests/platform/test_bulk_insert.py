"""``platform/db/bulk.py``: bulk rows written in the order asked for, as the application role.

On PostgreSQL the tests run as the application role under row-level security (tests/conftest.py),
so the ``COPY`` staging and the ``INSERT … SELECT … ORDER BY`` are those of a real import.
"""

from __future__ import annotations

import datetime as dt
import random
from itertools import pairwise

import pytest
from django.apps import apps
from django.db import connection

from moyai.platform.db.bulk import COPY_THRESHOLD, insert_values, overlapped
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents.models import Household, SearchKey
from moyai.residents.projections import SEARCH_KEY_ORDER
from tests.fixtures import KUDAMATSU, SHUNAN, World

PG = connection.vendor == "postgresql"


def _keys(n: int) -> list[dict[str, object]]:
    kana = "アイウエオカキクケコサシスセソタチツテトナニヌネノ"
    rng = random.Random(7)
    rows = [
        {
            "kind": rng.choice(["kana", "name", "address"]),
            "key": "".join(rng.choice(kana) for _ in range(rng.randint(1, 6))) + rng.choice(["", "山", "A", "ｱ"]),
            "atena_no": f"{i:015d}",
            "current": True,
            "sort_kana": "",
            "resident": True,
        }
        for i in range(n)
    ]
    rng.shuffle(rows)
    return rows


def _physical_order(table: str) -> list[tuple[str, str, str]]:
    """The rows in the order they were stored (heap order on PostgreSQL, rowid on SQLite)."""
    order = "ctid" if PG else "rowid"
    with connection.cursor() as cur:
        cur.execute(f'SELECT kind, key, atena_no FROM "{table}" ORDER BY {order}')
        return [tuple(r) for r in cur.fetchall()]


@pytest.mark.parametrize("n", [COPY_THRESHOLD - 1, COPY_THRESHOLD * 3])
def test_search_keys_are_stored_in_key_order(world: World, n: int) -> None:
    rows = _keys(n)
    with tenant_scope(SHUNAN):
        assert insert_values(SearchKey, rows, order_by=SEARCH_KEY_ORDER) == n
        stored = _physical_order("residents_searchkey")
        assert SearchKey.objects.count() == n
    # in key order, text in byte order (what COLLATE "C" and Python's str order both are)
    expected = sorted((r["kind"], r["key"], r["atena_no"]) for r in rows)
    if PG and n >= COPY_THRESHOLD:  # a few rows (and SQLite's) go by executemany, as given
        # PostgreSQL may put a run of rows into the free space rows of an earlier (rolled back)
        # test left: the stored order is then a few sorted runs, not one (the input: ~n/2 breaks)
        breaks = sum(1 for a, b in pairwise(stored) if a > b)
        assert breaks <= n // 100, breaks
    elif not PG:
        assert stored == [(r["kind"], r["key"], r["atena_no"]) for r in rows]
    assert sorted(stored) == expected


def test_rows_keep_their_order_when_none_is_asked(world: World) -> None:
    rows = [{"household_no": f"{i:08d}", "created_on": dt.date(2020, 1, 1)} for i in range(COPY_THRESHOLD * 2)]
    random.Random(3).shuffle(rows)
    with tenant_scope(KUDAMATSU):
        insert_values(Household, rows)
        with connection.cursor() as cur:
            cur.execute(f"SELECT household_no FROM residents_household ORDER BY {'ctid' if PG else 'rowid'}")
            assert [r[0] for r in cur.fetchall()] == [r["household_no"] for r in rows]


@pytest.mark.skipif(not PG, reason="PostgreSQL: the sort's memory setting")
def test_the_sort_memory_is_given_back(world: World) -> None:
    with tenant_scope(SHUNAN):
        with connection.cursor() as cur:
            cur.execute("SELECT current_setting('work_mem')")
            (before,) = cur.fetchone()
            insert_values(SearchKey, _keys(COPY_THRESHOLD * 2), order_by=SEARCH_KEY_ORDER)
            cur.execute("SELECT current_setting('work_mem')")
            assert cur.fetchone() == (before,)


def test_residents_tables_have_no_index_on_the_tenant_alone(world: World) -> None:
    """Every key leads with the 団体, so an index on ``tenant_code`` alone (and its ``_like`` twin)
    would only be written, never needed: each bulk-loaded row paid two more index entries."""
    with connection.cursor() as cur:
        for model in apps.get_app_config("residents").get_models():
            table = model._meta.db_table
            constraints = connection.introspection.get_constraints(cur, table)
            (pk,) = [c["columns"] for c in constraints.values() if c["primary_key"]]
            # (SQLite's introspection lists a composite key's columns in table order)
            assert "tenant_code" in pk and (not PG or pk[0] == "tenant_code"), (table, pk)
            alone = [name for name, c in constraints.items() if c["index"] and c["columns"] == ["tenant_code"]]
            assert alone == [], (table, alone)


def _households(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"household_no": f"{i:015d}", "created_on": dt.date(2020, 1, 1)} for i in range(start, start + n)]


def test_overlapped_moves_write_the_same_rows_and_are_done_at_the_end_of_the_block(world: World) -> None:
    """Inside ``overlapped`` (PostgreSQL) each move runs on while the next rows are made; at the end of
    the block every row is in, in the order asked for, and the foreign keys are deferred again.
    On SQLite the block changes nothing."""
    rows = _keys(COPY_THRESHOLD * 3)
    with tenant_scope(SHUNAN):
        with overlapped():
            assert insert_values(Household, _households(COPY_THRESHOLD * 2)) == COPY_THRESHOLD * 2
            assert insert_values(SearchKey, rows, order_by=SEARCH_KEY_ORDER) == len(rows)
            assert insert_values(Household, _households(3, start=COPY_THRESHOLD * 2)) == 3  # executemany
        assert Household.objects.count() == COPY_THRESHOLD * 2 + 3
        stored = _physical_order("residents_searchkey")
        assert sorted(stored) == sorted((r["kind"], r["key"], r["atena_no"]) for r in rows)
        if PG:  # in key order (up to the free space of earlier tests' rolled-back rows, as above)
            assert sum(1 for a, b in pairwise(stored) if a > b) <= len(rows) // 100
            with connection.cursor() as cur:
                cur.execute("SELECT current_setting('work_mem')")
                assert cur.fetchone()[0] != "256MB"
        else:  # as given
            assert stored == [(r["kind"], r["key"], r["atena_no"]) for r in rows]
    if PG:
        # deferred again after the block: a row of a 団体 that does not exist passes its INSERT and
        # is refused only when the constraints are checked (here: at SET CONSTRAINTS … IMMEDIATE)
        from django.db import IntegrityError, transaction

        class RolledBack(Exception):
            pass

        with pytest.raises(RolledBack), tenant_scope("999999"):
            with overlapped():
                pass
            insert_values(Household, _households(1))  # accepted for now: the check is deferred
            with pytest.raises(IntegrityError, match="foreign key"), transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            raise RolledBack


@pytest.mark.skipif(not PG, reason="the moves overlap on PostgreSQL only")
def test_an_error_of_an_overlapped_move_is_raised_by_the_next_insert(world: World) -> None:
    """A move that fails on the server (here: the same 世帯番号 twice) raises, as Django's error, from
    the next ``insert_values`` — before anything else is written — and nothing of it is kept."""
    from django.db import IntegrityError, transaction

    twice = _households(COPY_THRESHOLD) + _households(1)
    with tenant_scope(SHUNAN):
        with pytest.raises(IntegrityError, match="duplicate key"), transaction.atomic(), overlapped():
            insert_values(Household, twice)  # staged: returns before the move ends
            insert_values(SearchKey, _keys(COPY_THRESHOLD))
        with pytest.raises(IntegrityError, match="duplicate key"), transaction.atomic(), overlapped():
            insert_values(Household, twice)  # the last move: raised at the end of the block
        assert Household.objects.count() == 0
        assert SearchKey.objects.count() == 0


@pytest.mark.skipif(not PG, reason="the moves overlap on PostgreSQL only")
def test_overlapped_moves_check_foreign_keys_during_the_move(world: World) -> None:
    """``SET CONSTRAINTS ALL IMMEDIATE`` inside the block: a row of a 団体 that does not exist is refused
    by the move itself (at the end of the block), not at commit."""
    from django.db import IntegrityError, transaction

    with tenant_scope("999999"):
        with pytest.raises(IntegrityError, match="foreign key"), transaction.atomic(), overlapped():
            insert_values(Household, _households(COPY_THRESHOLD))


@pytest.mark.skipif(not PG, reason="PostgreSQL: constraint modes")
def test_every_deferrable_constraint_is_initially_deferred(world: World) -> None:
    """``overlapped`` puts the constraints back with ``SET CONSTRAINTS ALL DEFERRED``: right only while
    no deferrable constraint is meant to be checked at once."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT conname, condeferred FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
            " WHERE n.nspname = current_schema() AND c.condeferrable"
        )
        found = cur.fetchall()
    assert found and [name for name, deferred in found if not deferred] == []
