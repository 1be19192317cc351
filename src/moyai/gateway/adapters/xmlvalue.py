"""Canonical-JSON values as XML elements, and a parser that refuses DTDs and entities.

A value is written into an element with an attribute ``t`` naming its JSON type::

    <m:Value t="object"><m:Member k="address" t="string">山口県…</m:Member>
                        <m:Member k="katagaki" t="null"/></m:Value>
    <m:Value t="array"><m:Element t="number">1</m:Element></m:Value>

so that every canonical-JSON value (objects, arrays, strings, integers, booleans, null) comes
back exactly. Characters XML 1.0 cannot carry (most C0 control characters) are refused with
:class:`XmlValueError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from lxml import etree

__all__ = ["MAX_XML_BYTES", "XmlValueError", "read_value", "safe_parse", "write_value"]

MAX_XML_BYTES: Final = 1 << 20


class XmlValueError(ValueError):
    """A value or document XML cannot carry, or a document that is not acceptable (reason in Japanese)."""


def _parser() -> etree.XMLParser:
    # No entity expansion, no DTD loading, no network: XXE and "billion laughs" are inert; a
    # DOCTYPE at all is refused in safe_parse.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def safe_parse(data: bytes) -> etree._Element:
    """Parse an XML document from an untrusted peer (size-limited, no DOCTYPE, no entities)."""
    if len(data) > MAX_XML_BYTES:
        raise XmlValueError(f"XML文書が大きすぎます（{MAX_XML_BYTES}バイトまで）")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmlValueError("DOCTYPE・実体宣言を含むXML文書は受け付けません")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlValueError(f"XMLとして読めません: {exc}") from None
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise XmlValueError("DOCTYPE を含むXML文書は受け付けません")
    return root


def _text(elem: etree._Element, value: str) -> None:
    try:
        elem.text = value
    except ValueError:
        raise XmlValueError("XMLで表せない文字（制御文字など）が含まれています") from None


def write_value(elem: etree._Element, value: Any, ns: str) -> None:
    """Write a canonical-JSON value into ``elem`` (sets ``t`` and the content)."""
    if value is None:
        elem.set("t", "null")
    elif isinstance(value, bool):
        elem.set("t", "boolean")
        elem.text = "true" if value else "false"
    elif isinstance(value, int):
        elem.set("t", "number")
        elem.text = str(value)
    elif isinstance(value, str):
        elem.set("t", "string")
        _text(elem, value)
    elif isinstance(value, Mapping):
        elem.set("t", "object")
        for key in sorted(value):
            if not isinstance(key, str):
                raise XmlValueError("オブジェクトのキーは文字列です")
            child = etree.SubElement(elem, f"{{{ns}}}Member")
            try:
                child.set("k", key)
            except ValueError:
                raise XmlValueError("XMLで表せない文字（制御文字など）がキーに含まれています") from None
            write_value(child, value[key], ns)
    elif isinstance(value, Sequence):
        elem.set("t", "array")
        for item in value:
            write_value(etree.SubElement(elem, f"{{{ns}}}Element"), item, ns)
    else:
        raise XmlValueError(f"XMLに変換できない値の型です: {type(value).__name__}")


def read_value(elem: etree._Element, ns: str) -> Any:
    """The canonical-JSON value written by :func:`write_value`."""
    kind = elem.get("t")
    text = elem.text or ""
    children = list(elem)
    if kind in ("null", "boolean", "number", "string") and children:
        raise XmlValueError(f"{etree.QName(elem).localname} の値（{kind}）に子要素があります")
    if kind == "null":
        return None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise XmlValueError(f"真偽値が正しくありません: {text!r}")
        return text == "true"
    if kind == "number":
        if not text.lstrip("-").isdigit() or text.startswith("+") or text != text.strip():
            raise XmlValueError(f"整数が正しくありません: {text!r}")
        return int(text)
    if kind == "string":
        return text
    if kind == "object":
        out: dict[str, Any] = {}
        for child in children:
            key = child.get("k")
            if child.tag != f"{{{ns}}}Member" or key is None or key in out:
                raise XmlValueError("オブジェクトの要素は重複しないキー k を持つ Member です")
            out[key] = read_value(child, ns)
        return out
    if kind == "array":
        if any(child.tag != f"{{{ns}}}Element" for child in children):
            raise XmlValueError("配列の要素は Element です")
        return [read_value(child, ns) for child in children]
    raise XmlValueError(f"値の型 t={kind!r} が正しくありません")
