"""The replay cache: a nonce is accepted once per requester within the timestamp window.

A unique index on (requester, nonce) makes "seen before" a property of the database, shared by
every process of the gateway. A message is accepted only when its timestamp is within
``window`` of the gateway's clock, so a nonce needs to be kept for ``2 × window`` after it was
seen; older rows are purged now and then.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from .models import GatewayNonce

__all__ = ["NonceCache"]


class NonceCache:
    def __init__(self, window: dt.timedelta, *, purge_every: int = 1000, using: str = "default") -> None:
        self.window = window
        self.purge_every = purge_every
        self.using = using
        self._since_purge = 0

    def remember(self, requester: str, nonce: str, now: dt.datetime) -> bool:
        """Record the nonce; False when this requester used it before (a replay)."""
        try:
            with transaction.atomic(using=self.using):
                GatewayNonce(requester=requester, nonce=nonce, seen_at=now).save(using=self.using, force_insert=True)
        except IntegrityError:
            return False
        self._since_purge += 1
        if self._since_purge >= self.purge_every:
            self.purge(now)
        return True

    def purge(self, now: dt.datetime) -> int:
        self._since_purge = 0
        deleted, _ = GatewayNonce.objects.using(self.using).filter(seen_at__lt=now - 2 * self.window).delete()
        return deleted
