"""SOAP 1.2 adapter with WS-Security (地域情報プラットフォーム style XML web services).

Envelope of a request (``Content-Type: application/soap+xml; charset=utf-8``)::

    <soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" …>
      <soap:Header>
        <wsse:Security soap:mustUnderstand="true">
          <wsu:Timestamp wsu:Id="ts-…"><wsu:Created>2026-05-01T01:00:00.000000Z</wsu:Created>
                                       <wsu:Expires>2026-05-01T01:05:00.000000Z</wsu:Expires></wsu:Timestamp>
          <ds:Signature> exc-c14n, ecdsa-sha256 (or rsa-sha256), two references: #body-… and #ts-…;
                         <ds:KeyInfo><ds:KeyName>organisation id/key id</ds:KeyName></ds:KeyInfo></ds:Signature>
        </wsse:Security>
      </soap:Header>
      <soap:Body wsu:Id="body-…">
        <m:ExchangeRequest v="1"> MessageID Requester Provider Affair Items/Item* Subject Nonce Body(value) </m:ExchangeRequest>
      </soap:Body>
    </soap:Envelope>

- The canonical ``timestamp`` is ``wsu:Created``; ``wsu:Expires`` must not be past. The service
  checks the window (±5 minutes), the nonce (replay) and everything else as for REST.
- The signature must cover exactly the Body and the Timestamp. Only the signed copies returned by
  the verifier are read (no signature wrapping). The key is looked up by ``KeyName`` in
  :class:`XmlPeers` — the certificates registered for each organisation — never taken from the
  message (a ``KeyValue`` or ``X509Data`` in the message is ignored).
- **Key type**: signxml (5.2) implements no EdDSA for XML signatures (RFC 9231's Ed25519 URI is
  not supported), so the organisations' SOAP keys are ECDSA P-256 (``ecdsa-sha256``), or RSA
  2048+ (``rsa-sha256``) for peers whose products only do RSA — one per organisation, with an
  X.509 certificate. The REST keys (Ed25519, :mod:`..domain.jws`) are separate.
- A response is a signed envelope as well: ``m:ExchangeResponse`` for ``provided`` and
  ``not_found``; for refusals and failures a ``soap:Fault`` (``soap:Sender`` for refusals,
  ``soap:Receiver`` for failures) with ``m:<code>`` as subcode, the Japanese reason as
  ``soap:Reason/soap:Text xml:lang="ja"`` and the whole response in ``soap:Detail``.
- Parsing refuses DOCTYPE and entity declarations (XXE, billion laughs) and loads nothing from the network.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml import XMLSigner as _Signer
from signxml import XMLVerifier as _Verifier
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration

from ..domain.log import format_time, parse_time
from ..domain.message import ID_RE, ExchangeRequest, ExchangeResponse, MessageError
from ..rest import AFFAIR_RE, ITEM_RE
from ..service import Claimed, ExchangeService, RefusalCode, Reply
from .xmlvalue import XmlValueError, read_value, safe_parse, write_value

__all__ = ["CONTENT_TYPE", "NS", "Received", "SoapAdapter", "SoapError", "XmlPeers", "XmlSigningKey", "open_reply",
           "parse_request", "parse_response", "receive", "render_request", "render_response", "request_to_soap",
           "response_from_soap"]

CONTENT_TYPE: Final = "application/soap+xml; charset=utf-8"
SOAP: Final = "http://www.w3.org/2003/05/soap-envelope"
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
XML_NS: Final = "http://www.w3.org/XML/1998/namespace"
NS: Final = "urn:moyai:gateway:exchange:1"
NSMAP: Final = {"soap": SOAP, "wsse": WSSE, "wsu": WSU, "m": NS}
ALLOWED_METHODS: Final = frozenset({SignatureMethod.ECDSA_SHA256, SignatureMethod.RSA_SHA256})
EXPIRES_AFTER: Final = dt.timedelta(minutes=5)
SIGNATURE_LOCATION: Final = f"./{{{SOAP}}}Header/{{{WSSE}}}Security/"


class SoapError(ValueError):
    """A SOAP message that cannot be accepted: ``code`` is a refusal code, reason in Japanese."""

    def __init__(self, code: str, reason_ja: str) -> None:
        super().__init__(reason_ja)
        self.code = code
        self.reason_ja = reason_ja


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


# -- keys ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XmlSigningKey:
    """One organisation's (or the gateway's) XML-signature key: ECDSA P-256 or RSA 2048+."""

    org_id: str
    key_id: str
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    def __post_init__(self) -> None:
        k = self.private_key
        if isinstance(k, ec.EllipticCurvePrivateKey) and not isinstance(k.curve, ec.SECP256R1):
            raise ValueError("ECDSA の鍵は P-256 に限ります")
        if isinstance(k, rsa.RSAPrivateKey) and k.key_size < 2048:
            raise ValueError("RSA の鍵は2048ビット以上です")

    @property
    def key_name(self) -> str:
        return f"{self.org_id}/{self.key_id}"

    @property
    def method(self) -> SignatureMethod:
        return SignatureMethod.ECDSA_SHA256 if isinstance(self.private_key, ec.EllipticCurvePrivateKey) \
            else SignatureMethod.RSA_SHA256


class XmlPeers:
    """Certificates of the organisations' XML-signature keys (organisation id → key id → certificate)."""

    def __init__(self, certs: Mapping[str, Mapping[str, x509.Certificate]] | None = None) -> None:
        self._certs: dict[str, dict[str, x509.Certificate]] = {o: dict(c) for o, c in (certs or {}).items()}

    def add(self, org_id: str, key_id: str, cert: x509.Certificate) -> None:
        public = cert.public_key()
        if not isinstance(public, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            raise ValueError("XML署名の証明書は ECDSA P-256 か RSA の鍵です")
        self._certs.setdefault(org_id, {})[key_id] = cert

    def get(self, key_name: str) -> tuple[str, x509.Certificate] | None:
        org, sep, key_id = key_name.partition("/")
        cert = self._certs.get(org, {}).get(key_id) if sep else None
        return (org, cert) if cert is not None else None


# -- building and signing ------------------------------------------------------------------------------


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    elem = etree.SubElement(parent, _q(NS, name))
    if text is not None:
        try:
            elem.text = text
        except ValueError:
            raise XmlValueError(f"{name} にXMLで表せない文字があります") from None
    return elem


def _opt(parent: etree._Element, name: str, value: str | None) -> None:
    elem = _sub(parent, name, value)
    if value is None:
        elem.set("nil", "true")


def _envelope(timestamp: str, content: etree._Element, key: XmlSigningKey) -> bytes:
    env = etree.Element(_q(SOAP, "Envelope"), nsmap=NSMAP)
    header = etree.SubElement(env, _q(SOAP, "Header"))
    security = etree.SubElement(header, _q(WSSE, "Security"))
    security.set(_q(SOAP, "mustUnderstand"), "true")
    suffix = secrets.token_hex(8)
    ts = etree.SubElement(security, _q(WSU, "Timestamp"))
    ts.set(_q(WSU, "Id"), f"ts-{suffix}")
    etree.SubElement(ts, _q(WSU, "Created")).text = timestamp
    etree.SubElement(ts, _q(WSU, "Expires")).text = format_time(parse_time(timestamp) + EXPIRES_AFTER)
    body = etree.SubElement(env, _q(SOAP, "Body"))
    body.set(_q(WSU, "Id"), f"body-{suffix}")
    body.append(content)
    key_info = etree.Element(_q(DS, "KeyInfo"))
    etree.SubElement(key_info, _q(DS, "KeyName")).text = key.key_name
    signer = _Signer(method=SignatureConstructionMethod.detached, signature_algorithm=key.method,
                     digest_algorithm=DigestAlgorithm.SHA256,
                     c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signature = signer.sign(env, key=key.private_key, reference_uri=[f"#body-{suffix}", f"#ts-{suffix}"],
                            key_info=key_info, id_attribute="Id")
    security.append(signature)
    out: bytes = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    return out


def _request_element(request: ExchangeRequest) -> etree._Element:
    root = etree.Element(_q(NS, "ExchangeRequest"), nsmap={"m": NS})
    root.set("v", "1")
    _sub(root, "MessageID", request.message_id)
    _sub(root, "Requester", request.requester)
    _sub(root, "Provider", request.provider)
    _sub(root, "Affair", request.affair)
    items = _sub(root, "Items")
    for item in request.items:
        _sub(items, "Item", item)
    _sub(root, "Subject", request.subject)
    _sub(root, "Nonce", request.nonce)
    write_value(_sub(root, "Body"), dict(request.body), NS)
    return root


FAULT_SENDER: Final = frozenset({"refused"})


def _response_element(response: ExchangeResponse) -> etree._Element:
    root = etree.Element(_q(NS, "ExchangeResponse"), nsmap={"m": NS})
    root.set("v", "1")
    _sub(root, "MessageID", response.message_id)
    _opt(root, "InReplyTo", response.in_reply_to)
    _sub(root, "Requester", response.requester)
    _sub(root, "Provider", response.provider)
    _opt(root, "Affair", response.affair)
    _opt(root, "Subject", response.subject)
    _sub(root, "Status", response.status)
    _sub(root, "Code", response.code)
    _sub(root, "ReasonJa", response.reason_ja)
    items = _sub(root, "Items")
    for item_id in sorted(response.items):
        elem = _sub(items, "Item")
        elem.set("id", item_id)
        write_value(elem, response.items[item_id], NS)
    not_held = _sub(root, "NotHeld")
    for item in response.not_held:
        _sub(not_held, "Item", item)
    _sub(root, "Retryable", "true" if response.retryable else "false")
    _sub(root, "Nonce", response.nonce)
    if response.status in ("provided", "not_found"):
        return root
    fault = etree.Element(_q(SOAP, "Fault"), nsmap={"soap": SOAP, "m": NS})
    code = etree.SubElement(fault, _q(SOAP, "Code"))
    etree.SubElement(code, _q(SOAP, "Value")).text = "soap:Sender" if response.status in FAULT_SENDER \
        else "soap:Receiver"
    sub = etree.SubElement(etree.SubElement(code, _q(SOAP, "Subcode")), _q(SOAP, "Value"))
    sub.text = f"m:{response.code}" if ID_RE.match(response.code) else "m:failed"
    reason = etree.SubElement(etree.SubElement(fault, _q(SOAP, "Reason")), _q(SOAP, "Text"))
    reason.set(_q(XML_NS, "lang"), "ja")
    try:
        reason.text = response.reason_ja
    except ValueError:
        raise XmlValueError("理由にXMLで表せない文字があります") from None
    etree.SubElement(fault, _q(SOAP, "Detail")).append(root)
    return fault


def render_request(request: ExchangeRequest, key: XmlSigningKey) -> bytes:
    """The signed SOAP envelope of a request (what a SOAP requester sends)."""
    return _envelope(request.timestamp, _request_element(request), key)


def render_response(response: ExchangeResponse, key: XmlSigningKey) -> bytes:
    """The signed SOAP envelope of a response (a Fault for refusals and failures)."""
    return _envelope(response.timestamp, _response_element(response), key)


# -- verifying and parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    org_id: str
    timestamp: str
    expires: dt.datetime
    content: etree._Element


def _one(parent: etree._Element, path: str, what: str) -> etree._Element:
    found = parent.findall(path, NSMAP)
    if len(found) != 1:
        raise SoapError(RefusalCode.MALFORMED, f"{what} がちょうど1つではありません")
    elem: etree._Element = found[0]
    return elem


def unverified_content(data: bytes) -> etree._Element | None:
    """The first element of the Body, unverified (only for the log of a refusal)."""
    try:
        root = safe_parse(data)
    except XmlValueError:
        return None
    body = root.find("soap:Body", NSMAP)
    return body[0] if body is not None and len(body) else None


def verify(data: bytes, peers: XmlPeers) -> Verified:
    """Check the envelope and its WS-Security signature; return the signed content.

    Raises :class:`SoapError` (``malformed`` for a document that is not an acceptable envelope,
    ``forged`` for a missing, unknown or bad signature).
    """
    try:
        root = safe_parse(data)
    except XmlValueError as exc:
        raise SoapError(RefusalCode.MALFORMED, str(exc)) from None
    if root.tag != _q(SOAP, "Envelope"):
        raise SoapError(RefusalCode.MALFORMED, "SOAP 1.2 の Envelope ではありません")
    security = _one(root, "soap:Header/wsse:Security", "wsse:Security ヘッダー")
    signatures = security.findall(_q(DS, "Signature"))
    if len(signatures) != 1:
        raise SoapError(RefusalCode.FORGED, "WS-Security の署名がありません（または複数あります）")
    names = signatures[0].findall(f"{_q(DS, 'KeyInfo')}/{_q(DS, 'KeyName')}")
    key_name = (names[0].text or "").strip() if len(names) == 1 else ""
    found = peers.get(key_name)
    if found is None:
        raise SoapError(RefusalCode.FORGED, f"署名の鍵 {key_name[:80]!r} は登録されていません")
    org_id, cert = found
    try:
        results = _Verifier().verify(
            root, x509_cert=cert, id_attribute="Id", ignore_ambiguous_key_info=True,
            expect_config=SignatureConfiguration(expect_references=2, signature_methods=ALLOWED_METHODS,
                                                 digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
                                                 location=SIGNATURE_LOCATION))
    except (InvalidSignature, InvalidInput) as exc:
        raise SoapError(RefusalCode.FORGED, f"WS-Security の署名が正しくありません（{type(exc).__name__}）") from None
    except Exception as exc:  # signxml raises several kinds for malformed signatures
        raise SoapError(RefusalCode.FORGED, f"WS-Security の署名を検証できません（{type(exc).__name__}）") from None
    signed = [r.signed_xml for r in (results if isinstance(results, list) else [results])]
    bodies = [e for e in signed if e is not None and e.tag == _q(SOAP, "Body")]
    stamps = [e for e in signed if e is not None and e.tag == _q(WSU, "Timestamp")]
    if len(bodies) != 1 or len(stamps) != 1:
        raise SoapError(RefusalCode.FORGED, "署名が Body と Timestamp をちょうど1つずつ対象にしていません")
    body, stamp = bodies[0], stamps[0]
    # The Body and Timestamp the message carries must be the signed ones (not a wrapped copy).
    outer_body = root.find("soap:Body", NSMAP)
    outer_stamp = security.find(_q(WSU, "Timestamp"))
    if outer_body is None or outer_stamp is None or outer_body.get(_q(WSU, "Id")) != body.get(_q(WSU, "Id")) or \
            outer_stamp.get(_q(WSU, "Id")) != stamp.get(_q(WSU, "Id")):
        raise SoapError(RefusalCode.FORGED, "署名された Body・Timestamp が文書の Body・Timestamp ではありません")
    created = (stamp.findtext(_q(WSU, "Created")) or "").strip()
    expires_text = (stamp.findtext(_q(WSU, "Expires")) or "").strip()
    try:
        expires = parse_time(expires_text)
        parse_time(created)
    except ValueError:
        raise SoapError(RefusalCode.MALFORMED, "wsu:Timestamp の Created・Expires が正しくありません") from None
    if len(body) != 1:
        raise SoapError(RefusalCode.MALFORMED, "soap:Body の要素がちょうど1つではありません")
    return Verified(org_id, created, expires, body[0])


def _text(root: etree._Element, name: str, *, optional: bool = False) -> str | None:
    elems = root.findall(f"m:{name}", NSMAP)
    if len(elems) != 1:
        raise XmlValueError(f"{name} がちょうど1つではありません")
    elem = elems[0]
    if elem.get("nil") == "true":
        if not optional:
            raise XmlValueError(f"{name} は省略できません")
        return None
    return elem.text or ""


def _req(root: etree._Element, name: str) -> str:
    value = _text(root, name)
    assert value is not None
    return value


def _strings(root: etree._Element, name: str) -> list[str]:
    container = root.findall(f"m:{name}", NSMAP)
    if len(container) != 1 or any(c.tag != _q(NS, "Item") for c in container[0]):
        raise XmlValueError(f"{name} は Item の並びです")
    return [c.text or "" for c in container[0]]


def _check_fields(root: etree._Element, allowed: tuple[str, ...], what: str) -> None:
    names = [etree.QName(c).localname if etree.QName(c).namespace == NS else c.tag for c in root]
    if sorted(names) != sorted(allowed):
        raise XmlValueError(f"{what}の要素が違います（{', '.join(str(n) for n in names)}）")


REQUEST_ELEMENTS: Final = ("MessageID", "Requester", "Provider", "Affair", "Items", "Subject", "Nonce", "Body")
RESPONSE_ELEMENTS: Final = ("MessageID", "InReplyTo", "Requester", "Provider", "Affair", "Subject", "Status", "Code",
                            "ReasonJa", "Items", "NotHeld", "Retryable", "Nonce")


def request_from_element(content: etree._Element, timestamp: str) -> ExchangeRequest:
    """The canonical request of a (verified) ``m:ExchangeRequest``; :class:`MessageError` if malformed."""
    try:
        if content.tag != _q(NS, "ExchangeRequest") or content.get("v") != "1":
            raise XmlValueError("m:ExchangeRequest（v=1）ではありません")
        _check_fields(content, REQUEST_ELEMENTS, "照会")
        body = content.find("m:Body", NSMAP)
        assert body is not None
        data: dict[str, Any] = {
            "type": "moyai.gateway.request", "v": 1, "message_id": _req(content, "MessageID"),
            "requester": _req(content, "Requester"), "provider": _req(content, "Provider"),
            "affair": _req(content, "Affair"), "items": _strings(content, "Items"),
            "subject": _req(content, "Subject"), "nonce": _req(content, "Nonce"), "timestamp": timestamp,
            "body": read_value(body, NS)}
    except XmlValueError as exc:
        raise MessageError(str(exc)) from None
    return ExchangeRequest.from_json(data)


def response_from_element(content: etree._Element, timestamp: str) -> ExchangeResponse:
    try:
        if content.tag == _q(SOAP, "Fault"):
            detail = content.findall("soap:Detail/m:ExchangeResponse", NSMAP)
            if len(detail) != 1:
                raise XmlValueError("soap:Fault に応答（soap:Detail/m:ExchangeResponse）がありません")
            content = detail[0]
        if content.tag != _q(NS, "ExchangeResponse") or content.get("v") != "1":
            raise XmlValueError("m:ExchangeResponse（v=1）ではありません")
        _check_fields(content, RESPONSE_ELEMENTS, "応答")
        items_elem = content.find("m:Items", NSMAP)
        assert items_elem is not None
        items: dict[str, Any] = {}
        for elem in items_elem:
            item_id = elem.get("id")
            if elem.tag != _q(NS, "Item") or item_id is None or item_id in items:
                raise XmlValueError("Items は重複しない id を持つ Item の並びです")
            items[item_id] = read_value(elem, NS)
        retryable = _req(content, "Retryable")
        if retryable not in ("true", "false"):
            raise XmlValueError("Retryable は true か false です")
        data: dict[str, Any] = {
            "type": "moyai.gateway.response", "v": 1, "message_id": _req(content, "MessageID"),
            "in_reply_to": _text(content, "InReplyTo", optional=True), "requester": _req(content, "Requester"),
            "provider": _req(content, "Provider"), "affair": _text(content, "Affair", optional=True),
            "subject": _text(content, "Subject", optional=True), "status": _req(content, "Status"),
            "code": _req(content, "Code"), "reason_ja": _req(content, "ReasonJa"), "items": items,
            "not_held": _strings(content, "NotHeld"), "retryable": retryable == "true",
            "nonce": _req(content, "Nonce"), "timestamp": timestamp}
    except XmlValueError as exc:
        raise MessageError(str(exc)) from None
    return ExchangeResponse.from_json(data)


def parse_request(data: bytes, peers: XmlPeers) -> tuple[ExchangeRequest, str, dt.datetime]:
    """Verify and parse a request envelope: (request, signing organisation, wsu:Expires)."""
    verified = verify(data, peers)
    return request_from_element(verified.content, verified.timestamp), verified.org_id, verified.expires


def parse_response(data: bytes, gateway_peers: XmlPeers) -> ExchangeResponse:
    """What a SOAP requester does with the reply: verify the gateway's signature, then parse."""
    verified = verify(data, gateway_peers)
    return response_from_element(verified.content, verified.timestamp)


request_to_soap = render_request
response_from_soap = parse_response


# -- the adapter -----------------------------------------------------------------------------------------


def _claimed(content: etree._Element | None, org: str | None = None) -> Claimed:
    """Best-effort reading of what an unauthenticated request claims (sanitised for the log)."""
    if content is None or content.tag != _q(NS, "ExchangeRequest"):
        return Claimed(requester=org or "unknown")

    def ident(name: str) -> str | None:
        v = content.findtext(f"m:{name}", namespaces=NSMAP)
        return v if v and ID_RE.match(v) else None

    affair = content.findtext("m:Affair", namespaces=NSMAP)
    items = [i.text for i in content.findall("m:Items/m:Item", NSMAP)]
    return Claimed(requester=org or ident("Requester") or "unknown", provider=ident("Provider") or "unknown",
                   affair=affair if affair and AFFAIR_RE.match(affair) else None,
                   items=tuple(i for i in items if i and ITEM_RE.match(i))[:50], message_id=ident("MessageID"))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Received:
    """A request envelope as read: ``request`` and its signer, or what to refuse it with.

    ``signer`` is the organisation whose registered key verified the signature (None when the
    signature did not verify); ``refusal`` is (claimed, code, Japanese reason) or None.
    """

    request: ExchangeRequest | None
    signer: str | None
    refusal: tuple[Claimed, str, str] | None


def receive(body: bytes, peers: XmlPeers, now: dt.datetime) -> Received:
    """Verify and read a request envelope (signature, content, ``wsu:Expires``): what any ``/soap`` does first."""
    try:
        verified = verify(body, peers)
    except SoapError as exc:
        return Received(None, None, (_claimed(unverified_content(body)), exc.code, exc.reason_ja))
    try:
        request = request_from_element(verified.content, verified.timestamp)
    except MessageError as exc:
        return Received(None, verified.org_id, (_claimed(verified.content, verified.org_id), RefusalCode.MALFORMED,
                                                f"照会の形式が正しくありません: {exc}"))
    if verified.expires < now:
        return Received(None, verified.org_id, (
            _claimed(verified.content, verified.org_id), RefusalCode.EXPIRED,
            f"wsu:Timestamp の有効期限 {format_time(verified.expires)} を過ぎています（期限切れ）"))
    return Received(request, verified.org_id, None)


def open_reply(data: bytes, gateway_peers: XmlPeers) -> tuple[str, ExchangeResponse]:
    """A gateway's signed reply: (signing organisation, response); :class:`SoapError` or
    :class:`~..domain.message.MessageError` when it is not one."""
    verified = verify(data, gateway_peers)
    return verified.org_id, response_from_element(verified.content, verified.timestamp)


class SoapAdapter:
    """``POST /soap``: signed SOAP envelope in, signed SOAP envelope (or Fault) out."""

    content_type: Final = CONTENT_TYPE

    def __init__(self, service: ExchangeService, peers: XmlPeers, key: XmlSigningKey,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.service = service
        self.peers = peers
        self.key = key
        self.clock = clock or service.clock

    def encode(self, response: ExchangeResponse) -> bytes:
        return render_response(response, self.key)

    def handle(self, body: bytes) -> Reply:
        received = receive(body, self.peers, self.clock())
        if received.refusal is not None:
            claimed, code, reason_ja = received.refusal
            return self.service.refuse_unauthenticated(body, claimed, code, reason_ja, self.encode)
        assert received.request is not None and received.signer is not None
        return self.service.handle(body, received.request, received.signer, self.encode)
