from typing import Any

from django.db import migrations

from moyai.platform.tenancy.operations import AppendOnly, EnableTenantRLS

TABLES = [
    "residents_event",
    "residents_resident",
    "residents_searchkey",
    "residents_household",
    "residents_changerequest",
    "residents_numbersequence",
    "residents_residentcodepool",
]


def prefix_index(apps: Any, schema_editor: Any) -> None:
    # Prefix search (LIKE 'key%') needs pattern ops under a non-C collation on PostgreSQL.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX searchkey_prefix ON residents_searchkey "
            "(tenant_code, kind, key varchar_pattern_ops)"
        )


def drop_prefix_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS searchkey_prefix")


class Migration(migrations.Migration):
    dependencies = [("residents", "0001_initial")]
    operations = [
        *[EnableTenantRLS(t) for t in TABLES],
        AppendOnly("residents_event"),
        migrations.RunPython(prefix_index, drop_prefix_index),
    ]
