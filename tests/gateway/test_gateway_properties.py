"""Property tests: RFC 6962 Merkle inclusion proofs and the canonical JSON encoding (pure)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moyai.gateway.domain import canonical
from moyai.gateway.domain.merkle import (
    InclusionProof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)

# --- Merkle tree ----------------------------------------------------------------------------------

#: The test vectors of the certificate-transparency reference implementations.
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", bytes(range(0x50, 0x58)),
             bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_match_the_certificate_transparency_vectors() -> None:
    assert merkle_root([]).hex() == hashlib.sha256(b"").hexdigest()
    for n, root in enumerate(CT_ROOTS, start=1):
        assert merkle_root(CT_LEAVES[:n]).hex() == root


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH written as literally as RFC 6962 §2.1 states it."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


batches = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


@st.composite
def batch_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    leaves = draw(batches)
    return leaves, draw(st.integers(0, len(leaves) - 1))


@given(batch_and_index())
@settings(max_examples=300)
def test_every_index_of_every_batch_size_verifies(case: tuple[list[bytes], int]) -> None:
    leaves, index = case
    root = merkle_root(leaves)
    assert root == reference_root(leaves)
    proof = inclusion_proof(leaves, index)
    assert proof.index == index and proof.tree_size == len(leaves)
    assert len(proof.path) <= max(1, (len(leaves) - 1).bit_length())
    assert verify_inclusion(leaves[index], proof, root)
    assert InclusionProof.from_json(proof.to_json()) == proof


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


@given(batch_and_index(), st.data())
@settings(max_examples=300)
def test_any_bit_flip_fails(case: tuple[list[bytes], int], data: st.DataObject) -> None:
    leaves, index = case
    root = merkle_root(leaves)
    proof = inclusion_proof(leaves, index)
    leaf = leaves[index]
    targets = ["root"] + (["leaf"] if leaf else []) + [f"path{i}" for i in range(len(proof.path))]
    target = data.draw(st.sampled_from(targets))
    if target == "root":
        assert not verify_inclusion(leaf, proof, flip(root, data.draw(st.integers(0, 255))))
    elif target == "leaf":
        assert not verify_inclusion(flip(leaf, data.draw(st.integers(0, len(leaf) * 8 - 1))), proof, root)
    else:
        i = int(target[4:])
        path = list(proof.path)
        path[i] = flip(path[i], data.draw(st.integers(0, 255)))
        assert not verify_inclusion(leaf, InclusionProof(proof.index, proof.tree_size, tuple(path)), root)


@given(batch_and_index(), st.data())
def test_proof_of_another_leaf_or_a_longer_path_fails(case: tuple[list[bytes], int], data: st.DataObject) -> None:
    leaves, index = case
    root = merkle_root(leaves)
    proof = inclusion_proof(leaves, index)
    other = data.draw(st.binary(max_size=40).filter(lambda b: b != leaves[index]))
    assert not verify_inclusion(other, proof, root)
    assert not verify_inclusion(leaves[index], InclusionProof(index, len(leaves), (*proof.path, root)), root)


def test_malformed_proofs_fail() -> None:
    leaves = [b"a", b"b", b"c"]
    root = merkle_root(leaves)
    assert not verify_inclusion(b"a", InclusionProof(3, 3, inclusion_proof(leaves, 0).path), root)
    assert not verify_inclusion(b"a", InclusionProof(0, 3, (b"short",)), root)
    with pytest.raises(IndexError):
        inclusion_proof(leaves, 3)


# --- canonical JSON ---------------------------------------------------------------------------------

# any character but a lone surrogate, with the ones JSON escapes (controls, quote, backslash), the
# line separators and characters outside the BMP drawn often: orjson's escaping and key order are
# compared with the element-by-element encoder's
text = st.text(st.characters(exclude_categories=["Cs"])
               | st.sampled_from(['"', "\\", "\x7f", "\u2028", "\u2029", "\ufeff", "\U0001f600", "住", "\x00",
                                  "\x1f", "\b", "\f", "\n", "\r", "\t"]), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-canonical.MAX_SAFE_INTEGER, canonical.MAX_SAFE_INTEGER) | text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=30,
)


@given(json_values)
@settings(max_examples=300)
def test_canonical_json_round_trips(value: Any) -> None:
    encoded = canonical.dumps(value)
    decoded = canonical.loads(encoded)
    assert decoded == value and canonical.dumps(decoded) == encoded
    assert json.loads(encoded.decode("utf-8")) == value  # any JSON parser reads it
    assert canonical.is_canonical(encoded)


@given(json_values)
@settings(max_examples=300)
def test_the_fast_encoder_writes_the_same_bytes_as_the_element_by_element_one(value: Any) -> None:
    out: list[str] = []
    canonical._encode(value, out)
    assert canonical.dumps(value) == "".join(out).encode("utf-8")


@given(st.dictionaries(text, json_values, max_size=8), st.randoms(use_true_random=False))
def test_canonical_json_ignores_insertion_order(value: dict[str, Any], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert canonical.dumps(dict(items)) == canonical.dumps(value)


@given(json_values.filter(lambda v: isinstance(v, dict | list) and len(v) > 0))
def test_non_canonical_spellings_are_refused(value: Any) -> None:
    spaced = json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")
    assert spaced == canonical.dumps(value) or not canonical.is_canonical(spaced)


def test_canonical_json_bytes() -> None:
    value = {"b": [1, True, None], "a": "住民票\n\"x\"\u001f", "é": -5, "": {}}
    assert canonical.dumps(value) == '{"":{},"a":"住民票\\n\\"x\\"\\u001f","b":[1,true,null],"é":-5}'.encode()
    # keys sort by UTF-16 code units (RFC 8785): U+1F600 (D83D DE00) before U+FB01
    assert canonical.dumps({"\ufb01": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb01":1}'.encode()
    assert canonical.loads('{"\U0001f600":2,"\ufb01":1}'.encode()) == {"\ufb01": 1, "\U0001f600": 2}


@pytest.mark.parametrize("value", [1.5, {"x": float("nan")}, 2**53, -(2**53), "\ud800", {1: "a"}, b"bytes", {"s": {1, 2}}])
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(canonical.CanonicalJSONError):
        canonical.dumps(value)


@pytest.mark.parametrize("data", [b'{"b":1,"a":2}', b'{"a": 1}', b'{"a":1,"a":1}', b"1.0", b"NaN", b'"\\u00e9"',
                                  b"\xff", b"[1,]", b"1e5", b"-0", b"[1.5]", b'"\\ud800"', b"\xef\xbb\xbf{}",
                                  b"9007199254740992", b"18446744073709551616", b'"\\u001F"', b"\"\x7f\"x",
                                  # keys in code point (UTF-8) order, not RFC 8785's UTF-16 order
                                  b'{"\xef\xac\x81":2,"\xf0\x9f\x98\x80":1}'])
def test_non_canonical_input_is_refused(data: bytes) -> None:
    with pytest.raises(canonical.CanonicalJSONError):
        canonical.loads(data)


@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31), timezones=st.just(dt.UTC)))
def test_a_log_time_reads_back_as_the_instant_it_spells(t: dt.datetime) -> None:
    from moyai.gateway.domain.log import format_time, parse_time

    assert parse_time(format_time(t)) == t



_SPELLING = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{1,6}Z"


@given(st.from_regex(_SPELLING, fullmatch=True) | st.text(max_size=40))
def test_a_log_time_is_read_as_strptime_reads_its_spelling_and_any_other_text_is_refused(text: str) -> None:
    from moyai.gateway.domain.log import parse_time

    try:
        expected: dt.datetime | None = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        expected = None  # e.g. month 13
    try:
        got: dt.datetime | None = parse_time(text)
    except ValueError:
        got = None
    assert got == (expected if re.fullmatch(_SPELLING, text) else None)
