"""Signals other apps may listen to (they never import the registry's internals).

``recorded`` is sent by :func:`moyai.residents.services._record` **inside the transaction of a
本登録**, after the events and projections are written, with ``tenant_code`` and ``changes``: a
list of :class:`RecordedChange`. A receiver that writes in the same transaction (the 宛名連携
outbox) commits or rolls back with the 異動 itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.dispatch import Signal

__all__ = ["RecordedChange", "recorded"]


@dataclass(frozen=True)
class RecordedChange:
    atena_no: str
    kind: str  # 異動の種類
    effective_date: dt.date  # 異動日
    event_id: int
    recorded_at: dt.datetime


recorded = Signal()
