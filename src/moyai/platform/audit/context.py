"""Request id and terminal of the current request, for the access log."""

from __future__ import annotations

import contextvars
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("moyai_request_id", default="")
terminal_var: contextvars.ContextVar[str] = contextvars.ContextVar("moyai_terminal", default="")


def current_request_id() -> str:
    rid = request_id_var.get()
    if not rid:
        rid = f"local-{uuid.uuid4().hex}"
        request_id_var.set(rid)
    return rid
