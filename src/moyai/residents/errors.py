"""Errors of the residents app: one code enum, each error with a Japanese message and its field."""

from __future__ import annotations

from enum import StrEnum

from moyai.platform.errors import DomainError


class ResidentsErrorCode(StrEnum):
    NOT_FOUND = "residents.not_found"
    REQUEST_NOT_FOUND = "residents.request_not_found"
    RULE_ERRORS = "residents.rule_errors"
    ALERTS_NOT_CONFIRMED = "residents.alerts_not_confirmed"
    INVALID_STATE = "residents.invalid_state"
    INVALID_INPUT = "residents.invalid_input"
    POOL_EMPTY = "residents.resident_code_pool_empty"
    SELF_APPROVAL = "residents.self_approval"


class RegistryError(DomainError):
    """An error of the 住民記録 (the code is a :class:`ResidentsErrorCode`)."""
