"""The canonical message and its JWS (pure): round trips, and every kind of bad message refused."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moyai.gateway.domain import jws
from moyai.gateway.domain.keystore import MemoryKeyStore
from moyai.gateway.domain.message import ExchangeRequest, ExchangeResponse, MessageError, new_message_id, new_nonce
from moyai.gateway.domain.signing import Ed25519Signer

CODE = "k0001." + "a" * 32


def _signer() -> Ed25519Signer:
    ks = MemoryKeyStore()
    ks.rotate()
    return Ed25519Signer(ks.current())


SIGNER = _signer()
PEERS = jws.PeerKeys({"kenpo-midori": {SIGNER.key_id: SIGNER.public_key()}})

ident = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z")
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | text,
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=8)


@st.composite
def requests(draw: st.DrawFn) -> ExchangeRequest:
    return ExchangeRequest(
        message_id=new_message_id(), requester=draw(ident), provider=draw(ident),
        affair=draw(st.from_regex(r"\A[A-Z]{2,3}-[0-9]{2}\Z")),
        items=tuple(draw(st.lists(st.from_regex(r"\A[a-z_]{1,10}\.[a-z_]{1,10}\Z"), min_size=1, max_size=4))),
        subject=CODE, nonce=new_nonce(), timestamp="2026-05-01T00:00:00.000000Z",
        body=draw(st.dictionaries(text, json_values, max_size=3)))


@settings(max_examples=60, deadline=None)
@given(requests())
def test_a_request_round_trips_through_its_canonical_bytes_and_a_jws(req: ExchangeRequest) -> None:
    assert ExchangeRequest.from_bytes(req.to_bytes()) == req
    signed = jws.sign(req.to_bytes(), SIGNER, "kenpo-midori")
    verified = jws.verify(signed, PEERS)
    assert (verified.org_id, ExchangeRequest.from_bytes(verified.payload)) == ("kenpo-midori", req)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["provided", "refused", "not_found", "failed", "unavailable"]),
       st.dictionaries(st.from_regex(r"\A[a-z_]{1,8}\.[a-z_]{1,8}\Z"), json_values, max_size=4), st.booleans())
def test_a_response_round_trips(status: str, items: dict[str, object], retryable: bool) -> None:
    resp = ExchangeResponse(message_id=new_message_id(), in_reply_to=None, requester="kenpo-midori",
                            provider="352152", affair="HI-01", subject=CODE, status=status, code="c",
                            reason_ja="理由", nonce=new_nonce(), timestamp="2026-05-01T00:00:00.000000Z",
                            items=items, not_held=("a.b",), retryable=retryable)
    assert ExchangeResponse.from_bytes(resp.to_bytes()) == resp


def _request() -> ExchangeRequest:
    return ExchangeRequest(new_message_id(), "kenpo-midori", "352152", "HI-01", ("resident_record.name",), CODE,
                           new_nonce(), "2026-05-01T00:00:00.000000Z")


@pytest.mark.parametrize(("change", "reason"), [
    ({"subject": "123456789018"}, "subject は照会者の符号です"),
    ({"items": []}, "items は空でない文字列の配列です"),
    ({"nonce": "abc"}, "nonce が正しくありません"),
    ({"timestamp": "2026-05-01 00:00:00"}, "timestamp が正しくありません"),
    ({"extra": 1}, "余分 ['extra']"),
    ({"type": "moyai.gateway.response"}, "照会の種類・版が違います"),
])
def test_a_malformed_request_is_refused_with_a_reason(change: dict[str, object], reason: str) -> None:
    data = {**_request().to_json(), **change}
    with pytest.raises(MessageError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        ExchangeRequest.from_json(data)


def test_non_canonical_bytes_are_refused() -> None:
    data = json.dumps(_request().to_json(), indent=1).encode()
    with pytest.raises(MessageError, match="正規化JSONではありません"):
        ExchangeRequest.from_bytes(data)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@pytest.mark.parametrize(("make", "reason"), [
    (lambda s: s[:-4] + (b"AAAA" if not s.endswith(b"AAAA") else b"BBBB"), "署名が正しくありません"),
    (lambda s: s.replace(b".", b"", 1), "JWS コンパクト形式"),
    (lambda s: _b64(b'{"alg":"none","kid":"kenpo-midori/k0001"}') + s[s.index(b"."):], "'none' は受け付けません"),
    (lambda s: _b64(b'{"alg":"EdDSA","kid":"pension-01/k0001"}') + s[s.index(b"."):], "登録されていません"),
    (lambda s: _b64(b'{"alg":"EdDSA","kid":"kenpo-midori/k0001","jwk":{}}') + s[s.index(b"."):],
     "受け付けない項目"),
    (lambda s: b"*" + s, "base64url"),
])
def test_bad_jws_are_refused_with_a_reason(make: object, reason: str) -> None:
    signed = jws.sign(_request().to_bytes(), SIGNER, "kenpo-midori")
    assert callable(make)
    with pytest.raises(jws.JwsError, match=reason.replace("(", r"\(")):
        jws.verify(make(signed), PEERS)
