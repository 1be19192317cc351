"""The base of every business app's errors: a code, a Japanese message, the field, an HTTP status.

Each app keeps its own code enum (e.g. ``ResidentsErrorCode``) and raises a subclass; the API
turns any of them into an RFC 9457 problem without knowing the app.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400

    def __init__(
        self,
        code: str,
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
