"""Property tests: every adapter round-trips the canonical request and response, Japanese text included."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moyai.gateway.adapters import batch, soap
from moyai.gateway.adapters.fixed import read_fixed, write_fixed
from moyai.gateway.adapters.layouts import RecordFormatError, carriable, layout
from moyai.gateway.domain import jws
from moyai.gateway.domain.keystore import MemoryKeyStore
from moyai.gateway.domain.message import ExchangeRequest, ExchangeResponse
from moyai.gateway.domain.signing import Ed25519Signer
from moyai.gateway.rest import request_to_jws
from tests.gateway.xml_kit import make_key

#: characters that have tripped Shift_JIS conversions: NEC/IBM extensions, look-alikes that do not
#: round-trip (U+2212, U+301C, U+00AC), outside JIS (𠮷, 髙 is inside cp932), half-width kana, 全角 space
AWKWARD = "髙﨑①Ⅻ㈱～〜−―—¬￢𠮷ｱｶﾞ\u3000\u309a\u0301ヴ・ー々〆"
NOT_XML = [chr(c) for c in range(0x20) if c not in (9, 10, 13)] + ["\ufffe", "\uffff"]
text = st.text(st.one_of(st.sampled_from(AWKWARD), st.characters(blacklist_categories=("Cs",),
                                                                 blacklist_characters=NOT_XML)), max_size=30)
keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=NOT_XML), max_size=12)
values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
ident = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}", fullmatch=True)
item = st.from_regex(r"[a-z_]{1,20}(\.[a-z_]{1,20})?", fullmatch=True)
code = st.from_regex(r"k[0-9]{4}\.[a-z2-7]{32}", fullmatch=True)
nonce = st.from_regex(r"[0-9a-f]{32,64}", fullmatch=True)
stamp = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
affair = st.from_regex(r"[A-Z][A-Z0-9-]{0,20}", fullmatch=True)

requests = st.builds(ExchangeRequest, message_id=ident, requester=ident, provider=ident, affair=affair,
                     items=st.lists(item, min_size=1, max_size=5).map(tuple), subject=code, nonce=nonce,
                     timestamp=stamp, body=st.dictionaries(keys, values, max_size=4))
responses = st.builds(
    ExchangeResponse, message_id=ident, in_reply_to=st.none() | ident, requester=ident, provider=ident,
    affair=st.none() | affair, subject=st.none() | code,
    status=st.sampled_from(["provided", "refused", "not_found", "failed", "unavailable"]),
    code=st.from_regex(r"[a-z_]{1,30}", fullmatch=True), reason_ja=text.filter(bool), nonce=nonce,
    timestamp=stamp, items=st.dictionaries(item, values, max_size=4),
    not_held=st.lists(item, max_size=3).map(tuple), retryable=st.booleans())

SOAP_KEY, SOAP_CERT = make_key("kenpo-midori")
SOAP_PEERS = soap.XmlPeers({"kenpo-midori": {"k0001": SOAP_CERT}})
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(requests)
def test_soap_round_trips_the_request(request: ExchangeRequest) -> None:
    parsed, org, _ = soap.parse_request(soap.render_request(request, SOAP_KEY), SOAP_PEERS)
    assert (parsed, org) == (request, "kenpo-midori")


@FAST
@given(responses)
def test_soap_round_trips_the_response_fault_or_not(response: ExchangeResponse) -> None:
    assert soap.parse_response(soap.render_response(response, SOAP_KEY), SOAP_PEERS) == response


@FAST
@given(st.lists(requests, min_size=1, max_size=3), st.sampled_from(["fixed", "csv"]))
def test_batch_files_round_trip_requests(reqs: list[ExchangeRequest], fmt: str) -> None:
    data = batch.write_requests(reqs, "kenpo-midori", fmt=fmt, batch_id="b1")
    header, parsed = batch.read_requests(data, fmt=fmt)
    assert parsed == reqs and header["sender"] == "kenpo-midori"


@FAST
@given(st.lists(responses, min_size=1, max_size=3), st.sampled_from(["fixed", "csv"]))
def test_batch_files_round_trip_responses(resps: list[ExchangeResponse], fmt: str) -> None:
    _, parsed = batch.read_responses(batch.write_responses(resps, "gateway-a", fmt=fmt), fmt=fmt)
    assert parsed == resps


_ED = MemoryKeyStore()
_ED.rotate()
ED_SIGNER = Ed25519Signer(_ED.current())
ED_PEERS = jws.PeerKeys({"kenpo-midori": {ED_SIGNER.key_id: ED_SIGNER.public_key()}})


@FAST
@given(requests)
def test_rest_round_trips_the_request(request: ExchangeRequest) -> None:
    verified = jws.verify(request_to_jws(request, ED_SIGNER, "kenpo-midori"), ED_PEERS)
    assert ExchangeRequest.from_bytes(verified.payload) == request


@settings(max_examples=200, deadline=None)
@given(text)
def test_a_fixed_text_field_round_trips_or_names_what_shift_jis_cannot_carry(value: str) -> None:
    lay = layout("exchange_request")
    row = {"message_id": "m1", "requester": "r", "provider": "p", "affair": value, "subject": "s", "nonce": "n",
           "timestamp": "t", "items": [], "body": {}}
    header = {"sender": "r", "batch_id": "b", "created": "c"}
    try:
        data = write_fixed(lay, header, [row])
    except RecordFormatError as exc:
        assert exc.field == "affair" and exc.row == 1
        bad = [ch for ch in value if not (ch.isascii() or carriable(ch))]
        assert bad or len(value.encode("cp932")) > 32 or value.endswith(" ") or "\r" in value or "\n" in value
        if bad:
            assert f"U+{ord(bad[0]):04X}" in exc.message
        return
    assert read_fixed(data, "exchange_request")[2][0]["affair"] == value


def test_the_awkward_characters_are_partly_refused() -> None:
    refused = [ch for ch in AWKWARD if not carriable(ch)]
    assert set(refused) >= {"𠮷", "−", "〜", "¬", "—", "\u309a", "\u0301"}
    assert "髙" not in refused and "①" not in refused and "～" not in refused


@pytest.mark.parametrize("fmt", ["fixed", "csv"])
def test_json_fields_carry_characters_outside_shift_jis_losslessly(fmt: str) -> None:
    resp = ExchangeResponse(message_id="m", in_reply_to="r", requester="a", provider="b", affair="HI-01",
                            subject=None, status="provided", code="provided", reason_ja="𠮷−〜", nonce="0" * 32,
                            timestamp="2026-05-01T01:00:00.000000Z", items={"x.y": {"name": "𠮷田\u3000〜"}})
    data = batch.write_responses([resp], "g", fmt=fmt)
    assert b"\\ud842\\udfb7" in data  # 𠮷 as a JSON escape in the cp932 file
    assert batch.read_responses(data, fmt=fmt)[1] == [resp]
