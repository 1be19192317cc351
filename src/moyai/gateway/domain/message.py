"""The one internal (canonical) message of an exchange: a request and its response.

Every protocol adapter (REST/JSON now; SOAP and fixed-length files later) converts to and from
these two classes. On the wire of the REST adapter a message is its canonical JSON
(:mod:`.canonical`), signed as a compact JWS (:mod:`.jws`).

Request::

    {"type": "moyai.gateway.request", "v": 1, "message_id": "…", "requester": "kenpo-midori",
     "provider": "352152", "affair": "HI-01", "items": ["resident_record.address"],
     "subject": "<the requester's 符号 for the person>", "nonce": "<32+ hex>",
     "timestamp": "2026-05-01T00:00:00.000000Z", "body": {…}}

Response::

    {"type": "moyai.gateway.response", "v": 1, "message_id": "…", "in_reply_to": "<request id>",
     "requester", "provider", "affair", "subject": "<the requester's 符号, echoed>",
     "status": "provided" | "refused" | "not_found" | "failed" | "unavailable",
     "code": "<machine reason>", "reason_ja": "…", "items": {"resident_record.address": …},
     "not_held": [items the provider cannot answer], "retryable": false,
     "nonce": "…", "timestamp": "…"}

A response never carries the provider's 符号, a 宛名番号 or a 個人番号.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from . import canonical
from .codes import is_code

__all__ = ["REQUEST_TYPE", "RESPONSE_TYPE", "ExchangeRequest", "ExchangeResponse", "MessageError", "new_message_id",
           "new_nonce"]

REQUEST_TYPE: Final = "moyai.gateway.request"
RESPONSE_TYPE: Final = "moyai.gateway.response"
VERSION: Final = 1
NONCE_RE: Final = re.compile(r"^[0-9a-f]{32,64}$")
ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
TIME_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
STATUSES: Final = frozenset({"provided", "refused", "not_found", "failed", "unavailable"})
REQUEST_FIELDS: Final = frozenset({"type", "v", "message_id", "requester", "provider", "affair", "items", "subject",
                                   "nonce", "timestamp", "body"})
RESPONSE_FIELDS: Final = frozenset({"type", "v", "message_id", "in_reply_to", "requester", "provider", "affair",
                                    "subject", "status", "code", "reason_ja", "items", "not_held", "retryable",
                                    "nonce", "timestamp"})


class MessageError(ValueError):
    """A message that is not a well-formed canonical request or response (reason in Japanese)."""


def new_nonce() -> str:
    return secrets.token_hex(16)


def new_message_id() -> str:
    return uuid.uuid4().hex


def _str(data: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None = None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
        raise MessageError(f"{key} が正しくありません")
    return value


def _keys(data: Mapping[str, Any], allowed: frozenset[str], kind: str) -> None:
    if set(data) != allowed:
        missing, extra = sorted(allowed - set(data)), sorted(set(data) - allowed)
        raise MessageError(f"{kind}の項目が違います（不足 {missing}、余分 {extra}）")


@dataclass(frozen=True)
class ExchangeRequest:
    message_id: str
    requester: str
    provider: str
    affair: str
    items: tuple[str, ...]
    #: the requester's own 符号 for the person
    subject: str
    nonce: str
    #: UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
    timestamp: str
    #: anything else the requester sends (e.g. ``as_of``): canonical-JSON values only
    body: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": REQUEST_TYPE, "v": VERSION, "message_id": self.message_id, "requester": self.requester,
                "provider": self.provider, "affair": self.affair, "items": list(self.items),
                "subject": self.subject, "nonce": self.nonce, "timestamp": self.timestamp, "body": dict(self.body)}

    def to_bytes(self) -> bytes:
        return canonical.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: object) -> ExchangeRequest:
        if not isinstance(data, Mapping):
            raise MessageError("照会がオブジェクトではありません")
        _keys(data, REQUEST_FIELDS, "照会")
        if data["type"] != REQUEST_TYPE or data["v"] != VERSION:
            raise MessageError(f"照会の種類・版が違います（{REQUEST_TYPE} 版 {VERSION}）")
        items = data["items"]
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise MessageError("items は空でない文字列の配列です")
        subject = _str(data, "subject")
        if not is_code(subject):
            raise MessageError("subject は照会者の符号です（宛名番号・個人番号は送れません）")
        body = data["body"]
        if not isinstance(body, Mapping):
            raise MessageError("body はオブジェクトです")
        return cls(message_id=_str(data, "message_id", ID_RE), requester=_str(data, "requester", ID_RE),
                   provider=_str(data, "provider", ID_RE), affair=_str(data, "affair"), items=tuple(items),
                   subject=subject, nonce=_str(data, "nonce", NONCE_RE),
                   timestamp=_str(data, "timestamp", TIME_RE), body=dict(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> ExchangeRequest:
        try:
            return cls.from_json(canonical.loads(data))
        except canonical.CanonicalJSONError as exc:
            raise MessageError(f"照会が正規化JSONではありません: {exc}") from None


@dataclass(frozen=True)
class ExchangeResponse:
    message_id: str
    in_reply_to: str | None
    requester: str
    provider: str
    affair: str | None
    subject: str | None
    status: str
    code: str
    reason_ja: str
    nonce: str
    timestamp: str
    items: Mapping[str, Any] = field(default_factory=dict)
    not_held: tuple[str, ...] = ()
    #: the requester may send the request again (with a new nonce) and expect another outcome
    retryable: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise MessageError(f"status {self.status!r} は {sorted(STATUSES)} のいずれかです")

    def to_json(self) -> dict[str, Any]:
        return {"type": RESPONSE_TYPE, "v": VERSION, "message_id": self.message_id, "in_reply_to": self.in_reply_to,
                "requester": self.requester, "provider": self.provider, "affair": self.affair,
                "subject": self.subject, "status": self.status, "code": self.code, "reason_ja": self.reason_ja,
                "items": dict(self.items), "not_held": list(self.not_held), "retryable": self.retryable,
                "nonce": self.nonce, "timestamp": self.timestamp}

    def to_bytes(self) -> bytes:
        return canonical.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: object) -> ExchangeResponse:
        if not isinstance(data, Mapping):
            raise MessageError("応答がオブジェクトではありません")
        _keys(data, RESPONSE_FIELDS, "応答")
        if data["type"] != RESPONSE_TYPE or data["v"] != VERSION:
            raise MessageError(f"応答の種類・版が違います（{RESPONSE_TYPE} 版 {VERSION}）")
        items, not_held = data["items"], data["not_held"]
        if not isinstance(items, Mapping) or not isinstance(not_held, list) or not isinstance(data["retryable"], bool):
            raise MessageError("items・not_held・retryable の型が違います")
        for key in ("in_reply_to", "affair", "subject"):
            if data[key] is not None and not isinstance(data[key], str):
                raise MessageError(f"{key} は文字列か null です")
        return cls(message_id=_str(data, "message_id", ID_RE), in_reply_to=data["in_reply_to"],
                   requester=_str(data, "requester"), provider=_str(data, "provider"), affair=data["affair"],
                   subject=data["subject"], status=_str(data, "status"), code=_str(data, "code"),
                   reason_ja=_str(data, "reason_ja"), nonce=_str(data, "nonce", NONCE_RE),
                   timestamp=_str(data, "timestamp", TIME_RE), items=dict(items),
                   not_held=tuple(str(i) for i in not_held), retryable=data["retryable"])

    @classmethod
    def from_bytes(cls, data: bytes) -> ExchangeResponse:
        try:
            return cls.from_json(canonical.loads(data))
        except canonical.CanonicalJSONError as exc:
            raise MessageError(f"応答が正規化JSONではありません: {exc}") from None
