"""Time-ordered 63-bit identifiers for append-only rows.

Tenant-owned tables have composite keys ``(tenant, id)``; Django cannot put an AutoField in a
composite key, so ids are made here: milliseconds since 2020-01-01 in the high bits, then a
per-process counter and random bits. Ids made by one process increase strictly, so sorting
by id gives the order of recording within a process.
"""

from __future__ import annotations

import os
import threading
import time

_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_lock = threading.Lock()
_last = 0
_node = int.from_bytes(os.urandom(1), "big") & 0x3F  # 6 bits, differs between processes


def new_id() -> int:
    """A strictly increasing (per process) positive 63-bit integer."""
    global _last
    with _lock:
        ms = int(time.time() * 1000) - _EPOCH_MS
        candidate = (ms << 22) | (_node << 16)
        if candidate <= _last:
            candidate = _last + 1
        _last = candidate
        return candidate
