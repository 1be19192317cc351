"""Migration operations that put PostgreSQL row-level security under the scoped manager.

``EnableTenantRLS("residents_resident")`` enables and FORCEs row-level security on a table and
adds one policy: a row is visible and writable only when its ``tenant_code`` equals the
transaction's ``moyai.tenant`` setting. With no setting, nothing is visible and nothing can be
written (fail closed). On SQLite the operation does nothing: the scoped manager is the guard.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

POLICY = "tenant_isolation"


def rls_sql(table: str) -> list[str]:
    cond = "tenant_code = current_setting('moyai.tenant', true)"
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS {POLICY} ON "{table}"',
        f'CREATE POLICY {POLICY} ON "{table}" USING ({cond}) WITH CHECK ({cond})',
    ]


class EnableTenantRLS(migrations.operations.base.Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, table: str) -> None:
        self.table = table

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in rls_sql(self.table):
            schema_editor.execute(sql)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f'DROP POLICY IF EXISTS {POLICY} ON "{self.table}"')
        schema_editor.execute(f'ALTER TABLE "{self.table}" NO FORCE ROW LEVEL SECURITY')
        schema_editor.execute(f'ALTER TABLE "{self.table}" DISABLE ROW LEVEL SECURITY')

    def describe(self) -> str:
        return f"Enable tenant row-level security on {self.table}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.table], {})


class AppendOnly(migrations.operations.base.Operation):
    """Refuse UPDATE and DELETE on a table with a trigger, on PostgreSQL and SQLite alike.

    The 異動 store and the access log are never changed after the fact. Idempotent: a migration
    that alters such a table must end with ``AppendOnly`` again, because SQLite rebuilds the
    table (and drops its triggers) for most ALTERs.
    """

    reversible = True
    reduces_to_sql = True

    def __init__(self, table: str) -> None:
        self.table = table

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        t = self.table
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                "CREATE OR REPLACE FUNCTION moyai_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION USING MESSAGE = 'append-only table ' || TG_TABLE_NAME || ': ' "
                "|| TG_OP || ' refused', ERRCODE = 'insufficient_privilege'; END $$"
            )
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{t}_append_only" ON "{t}"')
            schema_editor.execute(
                f'CREATE TRIGGER "{t}_append_only" BEFORE UPDATE OR DELETE ON "{t}" '
                "FOR EACH ROW EXECUTE FUNCTION moyai_append_only()"
            )
        elif schema_editor.connection.vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f'CREATE TRIGGER IF NOT EXISTS "{t}_no_{op.lower()}" BEFORE {op} ON "{t}" '
                    f"BEGIN SELECT RAISE(ABORT, 'append-only table {t}: {op} refused'); END"
                )

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        t = self.table
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{t}_append_only" ON "{t}"')
        elif schema_editor.connection.vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f'DROP TRIGGER IF EXISTS "{t}_no_{op}"')

    def describe(self) -> str:
        return f"Make {self.table} append-only"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.table], {})
