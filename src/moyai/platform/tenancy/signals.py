"""After migrations on PostgreSQL: grant the application role what it needs, and no more.

The application role (settings.PG_APP_ROLE) owns nothing and has no BYPASSRLS: it gets
SELECT/INSERT/UPDATE/DELETE on ordinary tables, and only SELECT/INSERT on append-only tables
(the 異動 store and the access log).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models.signals import post_migrate
from django.dispatch import receiver

APPEND_ONLY_TABLES = ("residents_event", "audit_accesslog", "audit_accesslogsubject", "audit_securitylog",
                      "certificates_issuancerecord", "certificates_revocation", "certificates_verificationlog",
                      "linkage_linkagechange", "linkage_linkagedelivery")


@receiver(post_migrate)
def grant_app_role(sender: Any, using: str = "default", **kwargs: Any) -> None:
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    role = settings.PG_APP_ROLE
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone() is None:
            return
        cur.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        cur.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        cur.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        for table in APPEND_ONLY_TABLES:
            cur.execute("SELECT to_regclass(%s)", [table])
            row = cur.fetchone()
            if row and row[0]:
                cur.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON "{table}" FROM "{role}"')
