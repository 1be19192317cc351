"""Create the PostgreSQL roles Moyai expects (idempotent; needs a superuser connection).

- ``moyai_owner``: owns the tables, runs migrations (LOGIN, CREATEDB).
- ``moyai_app``: what the application runs as: no ownership, NOBYPASSRLS, NOSUPERUSER.
  The owner is a member of it so that a process logged in as the owner can
  ``SET ROLE moyai_app``; in production the application logs in as ``moyai_app`` directly.
"""

from __future__ import annotations

import os

import psycopg


def superuser_dsn() -> str:
    host = os.environ.get("MOYAI_PG_HOST", "127.0.0.1")
    port = os.environ.get("MOYAI_PG_PORT", "5432")
    user = os.environ.get("MOYAI_PG_SUPERUSER", "postgres")
    db = os.environ.get("MOYAI_PG_ADMIN_DB", "test")
    return f"host={host} port={port} dbname={db} user={user} connect_timeout=5"


def ensure_roles(owner: str | None = None, app: str | None = None) -> None:
    owner = owner or os.environ.get("MOYAI_PG_OWNER_ROLE", "moyai_owner")
    app = app or os.environ.get("MOYAI_PG_APP_ROLE", "moyai_app")
    try:
        conn = psycopg.connect(superuser_dsn(), autocommit=True)
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"PostgreSQL に接続できません（{superuser_dsn()}）: {exc}\n"
            "サーバーを起動してください: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        ) from None
    with conn:
        for role, attrs in ((owner, "LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS"), (app, "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB")):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            if exists is None:
                conn.execute(f'CREATE ROLE "{role}" {attrs}')
            else:
                conn.execute(f'ALTER ROLE "{role}" {attrs}')
        conn.execute(f'GRANT "{app}" TO "{owner}"')
