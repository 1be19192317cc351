"""Fast bulk writes of model rows, used by loads (demo, 中間標準レイアウト import).

PostgreSQL: rows are COPied into a temporary table (COPY FROM cannot target a table under
row-level security) and moved with one ``INSERT … SELECT``, which the RLS ``WITH CHECK``
policy still checks. SQLite: one prepared ``INSERT`` with ``executemany``.

Must run inside ``tenant_scope``; every row must belong to the active 団体.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models

from moyai.platform.tenancy.errors import CrossTenantWrite
from moyai.platform.tenancy.scope import current_tenant_code


def _columns(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if f.column]


def insert_rows(model: type[models.Model], objs: Iterable[models.Model], chunk: int = 50_000) -> int:
    """Insert model instances (not saved before) in bulk; returns the count."""
    code = current_tenant_code()
    fields = _columns(model)
    cols = [str(f.column) for f in fields]
    table = model._meta.db_table
    n = 0
    batch: list[tuple[Any, ...]] = []
    for obj in objs:
        tenant = getattr(obj, "tenant_id", code)
        if tenant is None:
            obj.tenant_id = code  # type: ignore[attr-defined]
        elif tenant != code:
            raise CrossTenantWrite(tenant, code)
        batch.append(tuple(_value(f, obj) for f in fields))
        if len(batch) >= chunk:
            n += _flush(table, cols, batch)
            batch = []
    if batch:
        n += _flush(table, cols, batch)
    return n


def _value(field: models.Field[Any, Any], obj: models.Model) -> Any:
    value = getattr(obj, field.attname)
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    if connection.vendor == "postgresql":
        return value  # psycopg's COPY adapts dates, datetimes, numbers and text
    return field.get_db_prep_save(value, connection)


def _flush(table: str, cols: Sequence[str], rows: list[tuple[Any, ...]]) -> int:
    qcols = ", ".join(f'"{c}"' for c in cols)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "stage_{table}" (LIKE "{table}") ON COMMIT DROP')
            cur.execute(f'TRUNCATE "stage_{table}"')
            raw = cur.cursor  # psycopg cursor under Django's wrapper
            with raw.copy(f'COPY "stage_{table}" ({qcols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(f'INSERT INTO "{table}" ({qcols}) SELECT {qcols} FROM "stage_{table}"')
        else:
            marks = ", ".join(["%s"] * len(cols))
            cur.executemany(f'INSERT INTO "{table}" ({qcols}) VALUES ({marks})', rows)
    return len(rows)
