"""Fast bulk writes of rows, used by loads (demo, 中間標準レイアウト import).

PostgreSQL: rows are COPied into a temporary table (COPY FROM cannot target a table under
row-level security) and moved with one ``INSERT … SELECT`` (in the order asked for), which the
RLS ``WITH CHECK`` policy still checks; inside :func:`overlapped` that move runs on the server
while the caller makes the next rows. SQLite: one prepared ``INSERT`` with ``executemany``.

Must run inside ``tenant_scope``; every row is written for the active 団体 (the ``tenant``
value is filled in, never taken from the caller).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain, islice
from typing import Any

from django.db import connection, models

from moyai.platform.tenancy.scope import current_tenant_code

Converter = Callable[[Any], Any]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _converter(field: models.Field[Any, Any], vendor: str) -> Converter | None:
    """How a Python value of this field is written; None when it goes as it is."""
    if isinstance(field, models.JSONField):
        return _json
    if vendor == "postgresql":
        return None  # psycopg's COPY adapts dates, datetimes, numbers and text
    if isinstance(field, models.DateTimeField):

        def dt_value(v: dt.datetime) -> str:
            if v.tzinfo is not None:
                v = v.astimezone(dt.UTC).replace(tzinfo=None)
            return v.isoformat(" ")

        return dt_value
    if isinstance(field, models.DateField):
        return lambda v: v.isoformat()
    if isinstance(field, models.BooleanField):
        return lambda v: 1 if v else 0
    return None


def insert_values(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    chunk: int = 50_000,
    order_by: Sequence[str] = (),
) -> int:
    """Insert rows given as {field name: value} (``tenant`` filled in); returns the count.

    ``order_by`` (field names): the order the rows are written in, when they do not come in the
    order of the table's largest indexes (search keys, made person by person, are written by key):
    each index entry then lands next to the one before, on a page already in memory, instead of on
    a random page of the index — fewer pages read, dirtied, evicted and written again, and on
    PostgreSQL fewer full-page images in the WAL after a checkpoint. Text is sorted in byte order.

    On PostgreSQL every row goes through one ``COPY`` into the staging table and one ``INSERT …
    SELECT … ORDER BY``; on SQLite the rows are written by ``executemany`` in batches of ``chunk``,
    in the order given: sorting them in Python costs what it saves in ``executemany``.
    """
    code = current_tenant_code()
    fields = [f for f in model._meta.concrete_fields if f.column]
    cols = [str(f.column) for f in fields]
    casts = ["::jsonb" if isinstance(f, models.JSONField) else "" for f in fields]
    vendor = connection.vendor
    plan = [(f.attname, _converter(f, vendor), f.get_default() if f.has_default() else None) for f in fields]
    table = model._meta.db_table
    by_name = {f.name: i for i, f in enumerate(fields)} | {f.attname: i for i, f in enumerate(fields)}
    order = [(by_name[name], isinstance(fields[by_name[name]], models.CharField)) for name in order_by]

    def values_of(row: Mapping[str, Any]) -> tuple[Any, ...]:
        values: list[Any] = []
        for attname, conv, default in plan:
            if attname == "tenant_id":
                values.append(code)
                continue
            v = row[attname] if attname in row else (default() if callable(default) else default)
            values.append(None if v is None else (conv(v) if conv else v))
        return tuple(values)

    tuples: Iterator[tuple[Any, ...]] = map(values_of, rows)
    if vendor == "postgresql":
        if _overlap.active:
            # the rows made (Python) while the previous move still runs on the server
            made = list(tuples)
            _wait()
            return _copy(table, cols, casts, iter(made), order)
        return _copy(table, cols, casts, tuples, order)
    # SQLite: written as given. Sorting 周南市's 1.35 million search keys in Python costs what it saves
    # in executemany (1.6 of 13.8 s of CPU), and would hold them all in memory at once.
    n = 0
    while batch := list(islice(tuples, chunk)):
        n += _executemany(table, cols, casts, batch)
    return n


def insert_rows(model: type[models.Model], objs: Iterable[models.Model], chunk: int = 50_000) -> int:
    """Insert unsaved model instances in bulk (convenience over :func:`insert_values`)."""
    fields = [f.attname for f in model._meta.concrete_fields if f.column]
    return insert_values(model, ({a: getattr(o, a) for a in fields} for o in objs), chunk)


COPY_THRESHOLD = 500  # below this many rows a prepared INSERT beats COPY through a temp table
#: Memory the server may use to sort the staged rows (``work_mem`` of that statement only): the
#: search keys of a large 団体 (a million and more rows) sort in memory instead of on disk.
SORT_MEMORY = "256MB"


def _copy(
    table: str,
    cols: Sequence[str],
    casts: Sequence[str],
    tuples: Iterator[tuple[Any, ...]],
    order: Sequence[tuple[int, bool]],
) -> int:
    head = list(islice(tuples, COPY_THRESHOLD))
    if len(head) < COPY_THRESHOLD:
        return _executemany(table, cols, casts, head) if head else 0
    qcols = ", ".join(f'"{c}"' for c in cols)
    n = 0
    with connection.cursor() as cur:
        cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "stage_{table}" (LIKE "{table}") ON COMMIT DROP')
        cur.execute(f'TRUNCATE "stage_{table}"')
        raw = cur.cursor  # psycopg cursor under Django's wrapper
        with raw.copy(f'COPY "stage_{table}" ({qcols}) FROM STDIN') as copy:
            for row in chain(head, tuples):
                copy.write_row(row)
                n += 1
        sql = f'INSERT INTO "{table}" ({qcols}) SELECT {qcols} FROM "stage_{table}"'
        if not order:
            _move(cur, [(sql, None)])
            return n
        # set_config(…, true) lasts until the end of the transaction: the previous value is put back
        cur.execute("SELECT current_setting('work_mem'), set_config('work_mem', %s, true)", [SORT_MEMORY])
        (before, _) = cur.fetchone()
        # text in byte order (COLLATE "C": a memcmp, several times faster to sort than the database
        # collation's strcoll); the same order as the pattern-ops indexes', near enough the others'
        keys = ", ".join(f'"{cols[i]}" COLLATE "C"' if text else f'"{cols[i]}"' for i, text in order)
        _move(cur, [(f"{sql} ORDER BY {keys}", None), ("SELECT set_config('work_mem', %s, true)", [before])])
    return n


# --- overlapping the server's moves with the caller's Python --------------------------------------------


class _Overlap(threading.local):
    active = False
    pending: _Move | None = None


_overlap = _Overlap()


class _Move:
    """Statements run on the connection by a worker thread: the move of staged rows into an indexed
    table under row-level security is the server's work alone, during which the caller's thread
    (holding the GIL) goes on making the next table's rows.  psycopg serialises the connection's
    use: a statement of the caller's waits for these to finish."""

    def __init__(self, statements: list[tuple[str, list[Any] | None]]) -> None:
        raw = connection.connection
        assert raw is not None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(raw, statements), name="moyai-bulk-move", daemon=True)
        self.thread.start()

    def _run(self, raw: Any, statements: list[tuple[str, list[Any] | None]]) -> None:
        try:
            with raw.cursor() as cur:
                for sql, params in statements:
                    cur.execute(sql, params)
        except BaseException as exc:  # raised in the caller's thread by _wait
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            with connection.wrap_database_errors:  # as Django's cursor would have raised it
                raise self.error


def _move(cur: Any, statements: list[tuple[str, list[Any] | None]]) -> None:
    if _overlap.active:
        _overlap.pending = _Move(statements)
        return
    for sql, params in statements:
        cur.execute(sql, params)


def _wait() -> None:
    pending, _overlap.pending = _overlap.pending, None
    if pending is not None:
        pending.wait()


def settle() -> None:
    """Inside :func:`overlapped`: wait for the move still running, raising its error (before
    statements of the caller's own, which would otherwise meet an aborted transaction instead)."""
    _wait()


@contextmanager
def overlapped() -> Iterator[None]:
    """Inside this block (PostgreSQL, inside a transaction), each :func:`insert_values` returns once
    its rows are staged; the ``INSERT … SELECT`` that moves them runs on while the caller makes the
    next table's rows, and is waited for (its error raised) by the next :func:`insert_values` and
    at the end of the block.  Foreign keys are checked during each move (``SET CONSTRAINTS ALL
    IMMEDIATE``) instead of at commit, where nothing overlaps them, and deferred again at the end
    (every deferrable constraint of the schema is a foreign key Django made ``INITIALLY DEFERRED``;
    a test keeps it so).
    Nothing changes on SQLite, or outside a transaction.  A statement of the caller's own (the
    ORM's) simply waits for the move: psycopg serialises the connection."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block or _overlap.active:
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    _overlap.active = True
    try:
        yield
        _wait()
    finally:
        _overlap.active = False
        pending, _overlap.pending = _overlap.pending, None
        if pending is not None:  # the block failed: let the move end before the rollback
            pending.thread.join()
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL DEFERRED")


def _executemany(table: str, cols: Sequence[str], casts: Sequence[str], rows: list[tuple[Any, ...]]) -> int:
    qcols = ", ".join(f'"{c}"' for c in cols)
    pg = connection.vendor == "postgresql"
    marks = ", ".join(f"%s{cast}" if pg else "%s" for cast in casts)
    with connection.cursor() as cur:
        cur.executemany(f'INSERT INTO "{table}" ({qcols}) VALUES ({marks})', rows)
    return len(rows)
