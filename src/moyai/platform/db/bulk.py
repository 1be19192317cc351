"""Fast bulk writes of rows, used by loads (demo, 中間標準レイアウト import).

PostgreSQL: rows are COPied into a temporary table (COPY FROM cannot target a table under
row-level security) and moved with one ``INSERT … SELECT``, which the RLS ``WITH CHECK``
policy still checks. SQLite: one prepared ``INSERT`` with ``executemany``.

Must run inside ``tenant_scope``; every row is written for the active 団体 (the ``tenant``
value is filled in, never taken from the caller).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def insert_values(model: type[models.Model], rows: Iterable[Mapping[str, Any]], chunk: int = 50_000) -> int:
    """Insert rows given as {field name: value} (``tenant`` filled in); returns the count."""
    code = current_tenant_code()
    fields = [f for f in model._meta.concrete_fields if f.column]
    cols = [str(f.column) for f in fields]
    casts = ["::jsonb" if isinstance(f, models.JSONField) else "" for f in fields]
    vendor = connection.vendor
    plan = [(f.attname, _converter(f, vendor), f.get_default() if f.has_default() else None) for f in fields]
    table = model._meta.db_table
    n = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        values: list[Any] = []
        for attname, conv, default in plan:
            if attname == "tenant_id":
                values.append(code)
                continue
            v = row[attname] if attname in row else (default() if callable(default) else default)
            values.append(None if v is None else (conv(v) if conv else v))
        batch.append(tuple(values))
        if len(batch) >= chunk:
            n += _flush(table, cols, casts, batch)
            batch = []
    if batch:
        n += _flush(table, cols, casts, batch)
    return n


def insert_rows(model: type[models.Model], objs: Iterable[models.Model], chunk: int = 50_000) -> int:
    """Insert unsaved model instances in bulk (convenience over :func:`insert_values`)."""
    fields = [f.attname for f in model._meta.concrete_fields if f.column]
    return insert_values(model, ({a: getattr(o, a) for a in fields} for o in objs), chunk)


COPY_THRESHOLD = 500  # below this many rows a prepared INSERT beats COPY through a temp table


def _flush(table: str, cols: Sequence[str], casts: Sequence[str], rows: list[tuple[Any, ...]]) -> int:
    qcols = ", ".join(f'"{c}"' for c in cols)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql" and len(rows) >= COPY_THRESHOLD:
            cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "stage_{table}" (LIKE "{table}") ON COMMIT DROP')
            cur.execute(f'TRUNCATE "stage_{table}"')
            raw = cur.cursor  # psycopg cursor under Django's wrapper
            with raw.copy(f'COPY "stage_{table}" ({qcols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(f'INSERT INTO "{table}" ({qcols}) SELECT {qcols} FROM "stage_{table}"')
        else:
            pg = connection.vendor == "postgresql"
            marks = ", ".join(f"%s{cast}" if pg else "%s" for cast in casts)
            cur.executemany(f'INSERT INTO "{table}" ({qcols}) VALUES ({marks})', rows)
    return len(rows)
