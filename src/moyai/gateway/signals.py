"""After migrations on PostgreSQL: the application role may only read and append the gateway's logs.

The platform's ``grant_app_role`` grants SELECT/INSERT/UPDATE/DELETE on every table after each
app's migrations; this receiver (connected later, since the gateway comes after the platform in
``INSTALLED_APPS``) takes UPDATE, DELETE and TRUNCATE back on the gateway's append-only tables.
The triggers added by ``AppendOnly`` refuse them as well, for any role.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models.signals import post_migrate
from django.dispatch import receiver

APPEND_ONLY_TABLES = ("gateway_logentry", "gateway_checkpoint", "gateway_code")


@receiver(post_migrate)
def revoke_changes_on_gateway_logs(sender: Any, using: str = "default", **kwargs: Any) -> None:
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    role = getattr(settings, "PG_APP_ROLE", "moyai_app")
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone() is None:
            return
        for table in APPEND_ONLY_TABLES:
            cur.execute("SELECT to_regclass(%s)", [table])
            row = cur.fetchone()
            if row and row[0]:
                cur.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON "{table}" FROM "{role}"')
