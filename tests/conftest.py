"""Test set-up for both backends.

SQLite (default): nothing to prepare. PostgreSQL (``MOYAI_DB=postgresql``): the owner and
application roles are created with a superuser connection, migrations run as the owner, and
every test then runs as the application role — the one that row-level security binds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

PG = os.environ.get("MOYAI_DB") == "postgresql"


def pytest_configure(config: pytest.Config) -> None:
    if PG:
        from moyai.platform.tenancy.pgroles import ensure_roles

        ensure_roles()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Create the test database and migrate as the owner role (the login role)."""
    if PG:
        from django.db import connections

        connections["default"].settings_dict["OPTIONS"].pop("options", None)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> Iterator[None]:  # type: ignore[misc]
    if not PG:
        yield
        return
    from django.conf import settings
    from django.db import connections

    conn = connections["default"]
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        conn.close()
        conn.settings_dict["OPTIONS"]["options"] = f"-c role={settings.PG_APP_ROLE}"
    yield
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        conn.close()
        conn.settings_dict["OPTIONS"].pop("options", None)



@pytest.fixture(scope="module")
def flush_as_owner() -> Iterator[None]:
    """PostgreSQL: the flush ending a transactional test runs as the login role (the owner) — the
    application role may not TRUNCATE, and the 異動 and access-log tables are append-only for it.
    Module-scoped, so it is still in place when the test's database fixture is torn down."""
    from django.conf import settings
    from django.db import connection
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def teardown(self: TransactionTestCase) -> None:
        with connection.cursor() as cur:
            cur.execute("SET ROLE NONE")  # the login role (the owner); RESET would return to the app role
        try:
            original(self)
        finally:
            with connection.cursor() as cur:
                cur.execute(f'SET ROLE "{settings.PG_APP_ROLE}"')

    TransactionTestCase._fixture_teardown = teardown  # type: ignore[method-assign]
    yield
    TransactionTestCase._fixture_teardown = original  # type: ignore[method-assign]


from tests.fixtures import *  # noqa: E402, F403
