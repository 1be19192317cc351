"""The canonical JSON encoding that the exchange log hashes and signs.

The bytes are those of RFC 8785 (JSON Canonicalization Scheme) for the subset of JSON the
gateway uses — objects with string keys, arrays, strings, integers within ±(2**53 − 1),
``true``, ``false`` and ``null``:

- UTF-8, no insignificant whitespace, ``ensure_ascii`` off (日本語 is written as is);
- object keys sorted by their UTF-16 code units (as RFC 8785 requires; differs from a code point
  sort only for characters outside the BMP);
- strings escaped as ECMAScript ``JSON.stringify`` does: ``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``
  and ``\\u00XX`` (lower-case hex) for the other control characters, nothing else.

Floats are refused (their canonical form is a source of disagreement between implementations
and nothing the log records is fractional), and so are lone surrogates, non-string keys and
integers a JavaScript verifier would round.  :func:`loads` accepts only canonical input, so a
stored entry that was re-serialised in any other way (reordered keys, spaces, duplicate keys)
is noticed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final, TypeAlias

import orjson

__all__ = ["MAX_SAFE_INTEGER", "CanonicalJSONError", "JSONValue", "dumps", "is_canonical", "loads"]

JSONValue: TypeAlias = "bool | int | str | Sequence[JSONValue] | Mapping[str, JSONValue] | None"

#: Largest integer every JSON implementation (IEEE double) represents exactly.
MAX_SAFE_INTEGER: Final = 2**53 - 1


class CanonicalJSONError(ValueError):
    """A value cannot be encoded canonically, or bytes are not canonical JSON."""


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _encode(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalJSONError(f"整数 {value} は JSON で正確に表せる範囲（±2^53−1）を超えています")
        out.append(str(int(value)))
    elif isinstance(value, str):
        _check_text(value)
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Mapping):
        keys = list(value.keys())
        for k in keys:
            if not isinstance(k, str):
                raise CanonicalJSONError(f"オブジェクトのキー {k!r} が文字列ではありません")
            _check_text(k)
        out.append("{")
        for i, k in enumerate(sorted(keys, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _encode(value[k], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise CanonicalJSONError("浮動小数点数は正規化 JSON に含められません")
    else:
        raise CanonicalJSONError(f"{type(value).__name__} は JSON の値ではありません")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError("文字列に対になっていないサロゲートが含まれています") from exc


def _plain(value: object) -> bool:
    """Whether orjson's sorted-key encoding is the canonical form of ``value``: only dicts, lists,
    tuples, str, bool, None and safe ints, and no key outside the BMP (where orjson's sort by
    UTF-8 bytes and RFC 8785's by UTF-16 code units could differ). orjson escapes strings as
    ``json.dumps(ensure_ascii=False)`` and :func:`_encode` do (the property tests compare them).
    Anything else takes the element-by-element encoder, which also names what is wrong."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:  # type: ignore[operator]
                return False
        elif t is dict:
            for k, x in v.items():  # type: ignore[attr-defined]
                if type(k) is not str or (not k.isascii() and max(k) > "\uffff"):
                    return False
                stack.append(x)
        elif t is list or t is tuple:
            stack.extend(v)  # type: ignore[arg-type]
        else:
            return False
    return True


def dumps(value: object) -> bytes:
    """The canonical UTF-8 bytes of ``value`` (:class:`CanonicalJSONError` when it has none)."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate, or nesting deeper than orjson goes: the encoder below decides
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


def loads(data: bytes) -> object:
    """Parse canonical JSON; :class:`CanonicalJSONError` if ``data`` is not exactly canonical."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:  # not UTF-8, not JSON, NaN, an integer beyond 64 bits
        raise CanonicalJSONError(f"JSON として読めません: {exc}") from exc
    if dumps(value) != data:  # dumps refuses, and names, a float or an unsafe integer
        raise CanonicalJSONError("正規化された JSON ではありません（キー順・空白・重複キー・エスケープ）")
    return value


def is_canonical(data: bytes) -> bool:
    try:
        loads(data)
    except CanonicalJSONError:
        return False
    return True
