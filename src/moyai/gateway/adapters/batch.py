"""Exchanges in batch files (fixed-length Shift_JIS or CSV): a file of requests in, a file of responses out.

Legacy systems that can do neither REST nor SOAP drop a request file (layout
``exchange_request``) on a file-transfer channel; :class:`BatchAdapter` answers every row through
the same :class:`~moyai.gateway.service.ExchangeService` and writes a response file (layout
``exchange_response``) in the same order.

- **Who sent it** is the channel's identity (the organisation that owns the mTLS client
  certificate or the file-transfer account), passed in as ``channel_org``: batch rows carry no
  signature of their own. The header's ``sender`` must be that organisation, and each row's
  ``requester`` too (otherwise that row is refused as ``requester_mismatch``, like a JWS signed by
  another organisation). The trailer's counts and CRC-32 protect the file against truncation and
  corruption in transit, not against a forger (that is the channel's job).
- Each row is one exchange, logged on its own: the request digest is the SHA-256 of the row's
  canonical request (canonical JSON), the response digest that of the row's records in the
  response file (exactly the bytes written there). The time window and nonce are checked per row
  as for any request, so a batch must be answered within five minutes of its rows' timestamps.
- A file that cannot be read (bad counts, checksum, layout, encoding) is refused whole, before
  anything is answered: :class:`~.layouts.RecordFormatError` naming the line and the field.
  A row that reads but is not a valid request is answered with a ``malformed`` refusal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from ..domain.log import format_time
from ..domain.message import ExchangeRequest, ExchangeResponse, MessageError, new_message_id
from ..rest import AFFAIR_RE, ITEM_RE
from ..service import Claimed, ExchangeService, RefusalCode, Reply
from . import csvbatch, fixed
from .layouts import Layout, RecordFormatError, layout

__all__ = ["FORMATS", "BatchAdapter", "read_requests", "read_responses", "request_row", "response_row",
           "row_request", "row_response", "write_requests", "write_responses"]

REQUEST_LAYOUT: Final = "exchange_request"
RESPONSE_LAYOUT: Final = "exchange_response"
#: format → (encode one row, assemble a file, read a file)
FORMATS: Final[dict[str, tuple[Callable[..., bytes], Callable[..., bytes], Callable[..., Any]]]] = {
    "fixed": (fixed.encode_row, fixed.assemble, fixed.read_fixed),
    "csv": (csvbatch.encode_row, csvbatch.assemble, csvbatch.read_csv),
}


def _format(fmt: str) -> tuple[Callable[..., bytes], Callable[..., bytes], Callable[..., Any]]:
    if fmt not in FORMATS:
        raise RecordFormatError(f"形式 {fmt!r} は fixed（固定長）か csv です")
    return FORMATS[fmt]


def request_row(request: ExchangeRequest) -> dict[str, Any]:
    return {"message_id": request.message_id, "requester": request.requester, "provider": request.provider,
            "affair": request.affair, "subject": request.subject, "nonce": request.nonce,
            "timestamp": request.timestamp, "items": list(request.items), "body": dict(request.body)}


def row_request(row: Mapping[str, Any]) -> ExchangeRequest:
    return ExchangeRequest.from_json({"type": "moyai.gateway.request", "v": 1, **row})


def response_row(response: ExchangeResponse) -> dict[str, Any]:
    data = response.to_json()
    return {k: data[k] for k in ("message_id", "in_reply_to", "requester", "provider", "affair", "subject",
                                 "status", "code", "nonce", "timestamp", "reason_ja", "items", "not_held")} | {
        "retryable": 1 if response.retryable else 0}


def row_response(row: Mapping[str, Any]) -> ExchangeResponse:
    data = dict(row)
    if data.get("retryable") not in ("0", "1"):
        raise MessageError("retryable は 0 か 1 です")
    data["retryable"] = data["retryable"] == "1"
    return ExchangeResponse.from_json({"type": "moyai.gateway.response", "v": 1, **data})


def _header(sender: str, batch_id: str | None, created: dt.datetime | None) -> dict[str, Any]:
    return {"sender": sender, "batch_id": batch_id or new_message_id(),
            "created": format_time(created or dt.datetime.now(dt.UTC))}


def write_requests(requests: Sequence[ExchangeRequest], sender: str, *, fmt: str = "fixed",
                   batch_id: str | None = None, created: dt.datetime | None = None) -> bytes:
    """A request file (what a legacy requester sends)."""
    encode, assemble, _ = _format(fmt)
    lay = layout(REQUEST_LAYOUT)
    return assemble(lay, _header(sender, batch_id, created),
                    [encode(lay, request_row(r), n) for n, r in enumerate(requests, start=1)])


def write_responses(responses: Sequence[ExchangeResponse], sender: str, *, fmt: str = "fixed",
                    batch_id: str | None = None, created: dt.datetime | None = None) -> bytes:
    encode, assemble, _ = _format(fmt)
    lay = layout(RESPONSE_LAYOUT)
    return assemble(lay, _header(sender, batch_id, created),
                    [encode(lay, response_row(r), n) for n, r in enumerate(responses, start=1)])


def _rows(data: bytes, layout_id: str, fmt: str) -> tuple[Layout, dict[str, Any], list[dict[str, Any]]]:
    _, _, read = _format(fmt)
    result: tuple[Layout, dict[str, Any], list[dict[str, Any]]] = read(data, layout_id)
    return result


def read_requests(data: bytes, *, fmt: str = "fixed") -> tuple[dict[str, Any], list[ExchangeRequest]]:
    """(header, requests); a row that is not a valid request raises :class:`RecordFormatError` naming it."""
    _, header, rows = _rows(data, REQUEST_LAYOUT, fmt)
    out = []
    for n, row in enumerate(rows, start=1):
        try:
            out.append(row_request(row))
        except MessageError as exc:
            raise RecordFormatError(f"照会が正しくありません: {exc}", row=n) from None
    return header, out


def read_responses(data: bytes, *, fmt: str = "fixed") -> tuple[dict[str, Any], list[ExchangeResponse]]:
    _, header, rows = _rows(data, RESPONSE_LAYOUT, fmt)
    out = []
    for n, row in enumerate(rows, start=1):
        try:
            out.append(row_response(row))
        except MessageError as exc:
            raise RecordFormatError(f"応答が正しくありません: {exc}", row=n) from None
    return header, out


def _claimed(row: Mapping[str, Any], org: str) -> Claimed:
    def ident(key: str) -> str | None:
        v = row.get(key)
        from ..domain.message import ID_RE

        return v if isinstance(v, str) and ID_RE.match(v) else None

    affair, items = row.get("affair"), row.get("items")
    return Claimed(requester=org, provider=ident("provider") or "unknown",
                   affair=affair if isinstance(affair, str) and AFFAIR_RE.match(affair) else None,
                   items=tuple(i for i in items if isinstance(i, str) and ITEM_RE.match(i))[:50]
                   if isinstance(items, list) else (), message_id=ident("message_id"))


class BatchAdapter:
    """Answers a request file with a response file, row by row, through the exchange service."""

    def __init__(self, service: ExchangeService, gateway_id: str, *, fmt: str = "fixed") -> None:
        _format(fmt)
        self.service = service
        self.gateway_id = gateway_id
        self.fmt = fmt

    def encode(self, response: ExchangeResponse) -> bytes:
        encode, _, _ = _format(self.fmt)
        return encode(layout(RESPONSE_LAYOUT), response_row(response))

    def process(self, data: bytes, channel_org: str) -> tuple[bytes, list[Reply]]:
        """(response file, one reply per row). Raises :class:`RecordFormatError` for an unreadable file."""
        _, header, rows = _rows(data, REQUEST_LAYOUT, self.fmt)
        if header["sender"] != channel_org:
            raise RecordFormatError(f"ヘッダーの送信者 {header['sender']} がこの経路の団体 {channel_org} ではありません",
                                    field="sender", row=1)
        replies: list[Reply] = []
        for row in rows:
            try:
                request = row_request(row)
            except MessageError as exc:
                raw = repr(sorted(row.items())).encode("utf-8")
                replies.append(self.service.refuse_unauthenticated(
                    raw, _claimed(row, channel_org), RefusalCode.MALFORMED, f"照会の形式が正しくありません: {exc}",
                    self.encode))
                continue
            replies.append(self.service.handle(request.to_bytes(), request, channel_org, self.encode))
        _, assemble, _ = _format(self.fmt)
        out = assemble(layout(RESPONSE_LAYOUT), _header(self.gateway_id, str(header["batch_id"]), None),
                       [r.body for r in replies])
        return out, replies
