"""Fixtures of the gateway's database tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.exchange_kit import kit  # noqa: F401  (fixture)
from tests.gateway.server_kit import TwoDataCentres, started


@pytest.fixture(scope="session")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoDataCentres]:
    """Both data centres' gateways as real mTLS servers on their own databases (see server_kit)."""
    yield from started(tmp_path_factory.mktemp("gateways"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the asynchronous-pool tests last: what their pool commits (append-only log rows under
    log ids of their own) stays in the test database, and the synchronous store and SOAP tests
    count every row of the log tables."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/gateway/test_gateway_server_pg.py"))
