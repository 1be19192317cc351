"""Application logs never carry 宛名番号 or 個人番号."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from moyai.platform.logfilter import RedactNumbers
from tests.fixtures import SHUNAN, World


def test_long_digit_runs_are_masked() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "Not Found: %s", ("/residents/0000000019?n=123456789018",), None)
    assert RedactNumbers().filter(record)
    assert record.getMessage() == "Not Found: /residents/##########?n=############"


@pytest.mark.django_db
def test_a_404_for_a_resident_logs_no_number(world: World, caplog: pytest.LogCaptureFixture) -> None:
    from django.contrib.auth import get_user_model

    handler = logging.getLogger().handlers[0] if logging.getLogger().handlers else None
    assert handler is None or any(isinstance(f, RedactNumbers) for f in handler.filters)
    client = Client()
    client.force_login(get_user_model().objects.get(username="clerk1"))
    caplog.handler.addFilter(RedactNumbers())
    with caplog.at_level(logging.WARNING):
        assert client.get(f"/api/v1/tenants/{SHUNAN}/residents/0000000019").status_code == 404
    assert "0000000019" not in caplog.text
