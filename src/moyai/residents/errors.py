"""Errors of the residents app: one code enum, each error with a Japanese message and its field."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ResidentsErrorCode(StrEnum):
    NOT_FOUND = "residents.not_found"
    REQUEST_NOT_FOUND = "residents.request_not_found"
    RULE_ERRORS = "residents.rule_errors"
    ALERTS_NOT_CONFIRMED = "residents.alerts_not_confirmed"
    INVALID_STATE = "residents.invalid_state"
    INVALID_INPUT = "residents.invalid_input"
    POOL_EMPTY = "residents.resident_code_pool_empty"
    SELF_APPROVAL = "residents.self_approval"


class RegistryError(Exception):
    status = 400

    def __init__(
        self,
        code: ResidentsErrorCode,
        message: str,
        *,
        field: str | None = None,
        findings: list[dict[str, Any]] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.findings = findings or []
        if status is not None:
            self.status = status
