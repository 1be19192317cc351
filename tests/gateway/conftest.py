"""Fixtures of the gateway's database tests."""

from __future__ import annotations

from tests.gateway.exchange_kit import kit  # noqa: F401  (fixture)
