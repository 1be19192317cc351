"""How ``_ReadBatcher`` picks the exchanges of its next statement (no database: the queue alone).

The rules that keep a batch safe: the oldest waiting exchange always goes (nobody starves), every
exchange of a batch has the oldest one's date (the statement reads as of one date), no
(requester, nonce) twice in one batch (the nonce insert could not tell the two apart, and both
would be fresh), at most ``max_batch``, and nothing is lost, duplicated or reordered: what is left
waits, in its order, for the next statement.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from moyai.gateway.server.pg import _Queued, _ReadBatcher

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)

waiting = st.lists(st.tuples(st.sampled_from(["kenpo-midori", "nenkin", "shunan-kokuho"]),
                             st.sampled_from(["a" * 32, "b" * 32, "c" * 32, "d" * 32]),
                             st.sampled_from([dt.date(2026, 12, 7), dt.date(2026, 12, 8)])),
                   min_size=1, max_size=40)


def _batcher(queue: list[tuple[str, str, dt.date]], max_batch: int, loop: asyncio.AbstractEventLoop,
             ) -> _ReadBatcher:
    batcher = _ReadBatcher(None, None, "352152", max_batch=max_batch)  # type: ignore[arg-type]
    batcher._queue = [_Queued(r, n, NOW, "k0001." + "a" * 32, "352152", on, future=loop.create_future())
                      for r, n, on in queue]
    return batcher


@given(queue=waiting, max_batch=st.integers(min_value=1, max_value=64))
def test_a_batch_takes_the_oldest_then_what_may_go_with_it_and_loses_nothing(
        queue: list[tuple[str, str, dt.date]], max_batch: int) -> None:
    loop = asyncio.new_event_loop()
    try:
        batcher = _batcher(queue, max_batch, loop)
        before = list(batcher._queue)
        batch = batcher._take()
        rest = batcher._queue
    finally:
        loop.close()
    assert batch[0] is before[0]
    assert 1 <= len(batch) <= max_batch
    assert all(q.on == before[0].on for q in batch)
    keys = [(q.requester, q.nonce) for q in batch]
    assert len(set(keys)) == len(keys)
    # nothing lost or duplicated, each part in the order it waited
    assert sorted(map(id, batch + rest)) == sorted(map(id, before))
    order = {id(q): i for i, q in enumerate(before)}
    assert [order[id(q)] for q in batch] == sorted(order[id(q)] for q in batch)
    assert [order[id(q)] for q in rest] == sorted(order[id(q)] for q in rest)
    # and it took everything it could: whatever is left was excluded by a rule
    if len(batch) < max_batch:
        for q in rest:
            assert q.on != before[0].on or (q.requester, q.nonce) in set(keys)


def test_the_same_nonce_goes_to_the_next_statement_in_the_order_it_came() -> None:
    loop = asyncio.new_event_loop()
    try:
        batcher = _batcher([("kenpo-midori", "a" * 32, dt.date(2026, 12, 7)),
                            ("kenpo-midori", "a" * 32, dt.date(2026, 12, 7)),
                            ("nenkin", "a" * 32, dt.date(2026, 12, 7)),
                            ("kenpo-midori", "b" * 32, dt.date(2026, 12, 8))], 64, loop)
        first: list[Any] = [(q.requester, q.nonce[0], q.on.day) for q in batcher._take()]
        second: list[Any] = [(q.requester, q.nonce[0], q.on.day) for q in batcher._take()]
        third: list[Any] = [(q.requester, q.nonce[0], q.on.day) for q in batcher._take()]
    finally:
        loop.close()
    assert first == [("kenpo-midori", "a", 7), ("nenkin", "a", 7)]
    assert second == [("kenpo-midori", "a", 7)]
    assert third == [("kenpo-midori", "b", 8)]
