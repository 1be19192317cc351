"""Trust: a per-団体 key signs each certificate twice, so that anyone can check it.

1. **PAdES** (pyHanko): the PDF carries a CMS signature (PAdES B-B, SHA-256, ECDSA P-256) by
   the 団体's certificate. :func:`verify_pdf` detects any change to the file: a byte inside the
   signed ranges breaks the digest, bytes appended after signing leave part of the file
   uncovered, and the one gap the signature cannot cover (its own ``/Contents``) must hold exactly
   the hex that the signature decodes from, followed by zero padding.
2. **QR code** (segno): a short text, signed with the same key (raw ECDSA r‖s), that names the
   certificate and carries the SHA-256 digest of the certified content::

       MYC1|<団体コード>|<serial>|<YYYYMMDD>|<digest, base64url>|<key id>|<signature, base64url>

   A phone or a counter terminal checks it offline with the 団体's public key alone
   (:func:`verify_payload`); :func:`verify_pdf` also recomputes the digest from the content
   attached to the PDF.

Keys live outside the database and the repository (:class:`FileIdentityStore`, one directory per
団体, private key mode 0600). :func:`make_test_ca` and :func:`issue_identity` make a throw-away CA
and 団体 certificate at run time, for tests and the demo: no private key is ever committed.
No time-stamp authority is reachable here, so the level is PAdES B-B (no B-T/B-LT yet).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Final

from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID, ObjectIdentifier
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .domain import Certificate, canonical_json
from .render import ATTACHMENT_NAME

PAYLOAD_PREFIX: Final = "MYC1"
_CURVE: Final = ec.SECP256R1()
DOCUMENT_SIGNING: Final = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning (RFC 9336)


class VerificationError(ValueError):
    """A payload or PDF that is not genuine; ``message`` in Japanese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text) or len(text) % 4 == 1:
        raise VerificationError("QRコードの内容が正しくありません")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:  # unused low bits set: another spelling of the same bytes
        raise VerificationError("QRコードの内容が正しくありません")
    return raw


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """8 hex digits of the SHA-256 of the public key (SubjectPublicKeyInfo, DER)."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()[:8]


# --- identities -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningIdentity:
    """A 団体's signing key and certificate, with the chain up to (and including) its root."""

    tenant_code: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        pk = self.certificate.public_key()
        assert isinstance(pk, ec.EllipticCurvePublicKey)
        return pk

    def __repr__(self) -> str:  # never print the key
        return f"SigningIdentity({self.tenant_code}, key {self.key_id})"


def tenant_of(cert: x509.Certificate) -> str | None:
    """The 団体コード a signing certificate was issued to (its subject's serialNumber)."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    value = attrs[0].value if attrs else None
    return value if isinstance(value, str) else None


def _name(cn: str, org: str, serial: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
             x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def make_test_ca(name: str = "Moyai Test CA", *, now: dt.datetime | None = None,
                 days: int = 3650) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA made at run time (tests, demo). Never use it for real certificates."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(_CURVE)
    subject = _name(name, "Moyai (test only)")
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_identity(tenant_code: str, tenant_name: str, ca_key: ec.EllipticCurvePrivateKey,
                   ca_cert: x509.Certificate, *, now: dt.datetime | None = None, days: int = 825) -> SigningIdentity:
    """A new key for a 団体 and its certificate signed by ``ca_key``."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(_CURVE)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{tenant_name}長 証明書発行", tenant_name, tenant_code))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return SigningIdentity(tenant_code, key, cert, (ca_cert,))


class FileIdentityStore:
    """``<root>/<団体コード>/key.pem`` (0600), ``cert.pem``, ``chain.pem``; ``<root>/trust/*.pem`` are
    the roots a verifier trusts. ``root`` defaults to ``$MOYAI_CERT_KEY_DIR`` or
    ``/etc/moyai/keys/certificates``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root or os.environ.get("MOYAI_CERT_KEY_DIR", "/etc/moyai/keys/certificates"))

    def save(self, identity: SigningIdentity) -> None:
        d = self.root / identity.tenant_code
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path = d / "key.pem"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(identity.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        (d / "cert.pem").write_bytes(identity.certificate.public_bytes(serialization.Encoding.PEM))
        (d / "chain.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in identity.chain))

    def load(self, tenant_code: str) -> SigningIdentity:
        d = self.root / tenant_code
        try:
            key = serialization.load_pem_private_key((d / "key.pem").read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate((d / "cert.pem").read_bytes())
            chain_path = d / "chain.pem"
            chain = tuple(x509.load_pem_x509_certificates(chain_path.read_bytes())) if chain_path.exists() else ()
        except FileNotFoundError as exc:
            raise LookupError(f"団体 {tenant_code} の署名鍵がありません（{d}）") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"団体 {tenant_code} の署名鍵が ECDSA ではありません")
        return SigningIdentity(tenant_code, key, cert, chain)

    def add_trust_root(self, cert: x509.Certificate) -> None:
        d = self.root / "trust"
        d.mkdir(parents=True, exist_ok=True)
        fp = cert.fingerprint(hashes.SHA256()).hex()[:16]
        (d / f"{fp}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def trust_roots(self) -> list[x509.Certificate]:
        d = self.root / "trust"
        return [x509.load_pem_x509_certificate(p.read_bytes()) for p in sorted(d.glob("*.pem"))] if d.is_dir() else []


def init_test_keys(store: FileIdentityStore, tenants: Iterable[tuple[str, str]]) -> list[str]:
    """Give each (団体コード, 団体名) without a key a new one signed by the store's own test CA.

    The test CA (``<root>/test-ca/``, key 0600) is made on first use and its certificate added to
    ``trust/``; existing keys are kept. For evaluation and the demo only: production keys come from
    the 団体's real CA and are placed in the store as files. Returns the codes given a new key."""
    ca_dir = store.root / "test-ca"
    if (ca_dir / "key.pem").exists():
        loaded = serialization.load_pem_private_key((ca_dir / "key.pem").read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError("試験用認証局の鍵が ECDSA ではありません")
        ca_key, ca_cert = loaded, x509.load_pem_x509_certificate((ca_dir / "cert.pem").read_bytes())
    else:
        ca_key, ca_cert = make_test_ca()
        ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(ca_dir / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        (ca_dir / "cert.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        store.add_trust_root(ca_cert)
    made = []
    for code, name in tenants:
        if not (store.root / code / "key.pem").exists():
            store.save(issue_identity(code, name, ca_key, ca_cert))
            made.append(code)
    return made


# --- the QR payload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QrPayload:
    tenant: str
    serial: str
    issued_on: dt.date
    digest: bytes  # SHA-256 of the certified content
    key_id: str


def _signed_part(tenant: str, serial: str, issued_on: dt.date, digest: bytes, kid: str) -> str:
    return "|".join((PAYLOAD_PREFIX, tenant, serial, f"{issued_on:%Y%m%d}", _b64(digest), kid))


def sign_payload(cert: Certificate, identity: SigningIdentity) -> str:
    """The QR code's text for ``cert``, signed with the 団体's key."""
    if cert.issuer.tenant_code != identity.tenant_code:
        raise ValueError("証明書の団体と署名鍵の団体が違います")
    body = _signed_part(identity.tenant_code, cert.serial, cert.issued_on, cert.digest(), identity.key_id)
    der = identity.key.sign(body.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return body + "|" + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def parse_payload(text: str) -> tuple[QrPayload, str, bytes]:
    """(payload, signed text, raw signature) without checking the signature."""
    parts = text.strip().split("|")
    if len(parts) != 7 or parts[0] != PAYLOAD_PREFIX:
        raise VerificationError("Moyai の証明書のQRコードではありません")
    _, tenant, serial, ymd, digest, kid, sig = parts
    try:
        issued_on = dt.datetime.strptime(ymd, "%Y%m%d").date()
    except ValueError:
        raise VerificationError("QRコードの発行日が正しくありません") from None
    raw_digest, raw_sig = _unb64(digest), _unb64(sig)
    if len(raw_digest) != 32 or len(raw_sig) != 64 or not tenant.isdigit():
        raise VerificationError("QRコードの内容が正しくありません")
    return QrPayload(tenant, serial, issued_on, raw_digest, kid), "|".join(parts[:6]), raw_sig


def verify_payload(text: str, public_keys: Iterable[ec.EllipticCurvePublicKey] | Mapping[str, Iterable[
        ec.EllipticCurvePublicKey]]) -> QrPayload:
    """Check a QR text offline against the 団体's public key(s); returns it when genuine.

    ``public_keys``: the keys of the 団体 (any of them may have signed), or a mapping 団体コード →
    keys (a verifier of several 団体).
    """
    payload, body, sig = parse_payload(text)
    keys = list(public_keys.get(payload.tenant, ()) if isinstance(public_keys, Mapping) else public_keys)
    candidates = [k for k in keys if key_id(k) == payload.key_id]
    if not candidates:
        raise VerificationError(f"団体 {payload.tenant} の鍵 {payload.key_id} は登録されていません")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    for k in candidates:
        try:
            k.verify(der, body.encode(), ec.ECDSA(hashes.SHA256()))
            return payload
        except InvalidSignature:
            continue
    raise VerificationError("QRコードの署名が正しくありません（偽造または改ざんの可能性があります）")


# --- PAdES ----------------------------------------------------------------------------------------


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class PdfSigner:
    """Signs PDFs for one 団体 (the pyHanko signer is built once).

    The room for the signature (``/Contents``) is reserved from the size of the certificates it
    embeds: left to itself, pyHanko builds a whole dummy signature for every PDF only to measure
    it (about 40 % of the signing time). Should a signature ever not fit, the PDF is signed again
    with pyHanko's own estimate."""

    def __init__(self, identity: SigningIdentity) -> None:
        self.identity = identity
        certs_der = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in (identity.certificate, *identity.chain))
        self.bytes_reserved = 2 * (certs_der + 4096)  # hex digits: the CMS is the certificates and < 1 KB more
        key_der = identity.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        self._signer = signers.SimpleSigner(
            signing_cert=_asn1_cert(identity.certificate),
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs([_asn1_cert(c) for c in identity.chain]),
        )

    def sign(self, pdf: bytes, *, reason: str = "住民票の写し等の電子証明", location: str = "") -> bytes:
        meta = signers.PdfSignatureMetadata(
            field_name="MoyaiCertificate",
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason=reason,
            location=location or None,
        )
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        try:
            out = signers.sign_pdf(writer, meta, signer=self._signer, bytes_reserved=self.bytes_reserved)
        except SigningError as exc:
            if "larger than expected" not in str(exc):
                raise
            writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
            out = signers.sign_pdf(writer, meta, signer=self._signer)
        return bytes(out.getbuffer())


@dataclass
class VerificationResult:
    """What :func:`verify_pdf` found. ``genuine`` only when every check passed."""

    genuine: bool
    problems: list[str] = field(default_factory=list)
    tenant: str | None = None
    serial: str | None = None
    issued_on: dt.date | None = None
    signer: str | None = None
    signed_at: dt.datetime | None = None
    content: dict[str, Any] | None = None


def _embedded_file(reader: PdfFileReader, name: str) -> bytes | None:
    root = reader.root
    try:
        names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError:
        return None
    for i in range(0, len(names) - 1, 2):
        spec = names[i + 1]
        if str(names[i]) == name or str(spec.get("/UF", spec.get("/F", ""))) == name:
            data: bytes = spec["/EF"]["/F"].data
            return data
    return None


def _der_length(b: bytes) -> int:
    """Length of the DER SEQUENCE at the start of ``b`` (the CMS ContentInfo)."""
    if len(b) < 2 or b[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    if b[1] < 0x80:
        return 2 + b[1]
    n = b[1] & 0x7F
    if not 1 <= n <= 4:
        raise ValueError("bad DER length")
    return 2 + n + int.from_bytes(b[2:2 + n], "big")


def _contents_gap_ok(data: bytes, byte_range: Sequence[int], contents: bytes) -> bool:
    """The unsigned gap between the two signed ranges holds exactly ``<hex of the signature>``
    (one letter case throughout) and, after the signature's DER, only zero padding: a parser would
    ignore a changed padding byte or a hex digit in the other case, this check does not."""
    start, end = byte_range[0] + byte_range[1], byte_range[2]
    gap = data[start:end]
    hexed = binascii.hexlify(contents)
    if gap not in (b"<" + hexed + b">", b"<" + hexed.upper() + b">"):
        return False
    return not any(contents[_der_length(contents):])


def _cms_strict(contents: bytes) -> bool:
    """The parts of the CMS that its signature does not cover are exactly as :class:`PdfSigner` writes
    them: canonical DER, one SignerInfo, no unsigned attributes or CRLs, the digest algorithm list equal
    to the signer's (the embedded certificates: :func:`_embedded_certs_known`)."""
    der = contents[:_der_length(contents)]
    info = cms.ContentInfo.load(der)
    if info.dump(force=True) != der or info["content_type"].native != "signed_data":
        return False
    sd = info["content"]
    signer_infos = list(sd["signer_infos"])
    if len(signer_infos) != 1 or sd["version"].native != "v1" or sd["crls"].native:
        return False
    si = signer_infos[0]
    if si["version"].native != "v1" or si["unsigned_attrs"].native:
        return False
    if [a.dump() for a in sd["digest_algorithms"]] != [si["digest_algorithm"].dump()]:
        return False
    return not (sd["encap_content_info"]["content_type"].native != "data"
                or sd["encap_content_info"]["content"].native)


def _embedded_certs_known(contents: bytes, signer_cert: x509.Certificate, roots: Sequence[x509.Certificate]) -> bool:
    """Every certificate embedded in the CMS (not covered by its signature) is byte-for-byte the
    validated signer's or a trusted root's: a changed copy of the root would otherwise go unnoticed."""
    sd = cms.ContentInfo.load(contents[:_der_length(contents)])["content"]
    allowed = {c.public_bytes(serialization.Encoding.DER) for c in (signer_cert, *roots)}
    return all(c.chosen.dump() in allowed for c in sd["certificates"])


def verify_pdf(path: str | os.PathLike[str] | bytes, trust_roots: Sequence[x509.Certificate] | None = None
               ) -> VerificationResult:
    """Check a certificate PDF: PAdES signature intact, covering the whole file, by a certificate
    that chains to a trusted root; the QR payload genuine and matching the attached content.

    ``path`` may also be the PDF's bytes. ``trust_roots`` default to the store's
    (:class:`FileIdentityStore`).
    """
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    roots = list(trust_roots) if trust_roots is not None else FileIdentityStore().trust_roots()
    result = VerificationResult(genuine=False)
    try:
        _verify(data, roots, result)
    except Exception as exc:  # a damaged file: whatever the parser says, it is not genuine
        result.problems.append(f"PDFが壊れているか変更されています（{type(exc).__name__}）")
    result.genuine = not result.problems
    return result


def _verify(data: bytes, roots: list[x509.Certificate], result: VerificationResult) -> None:
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        sigs = reader.embedded_signatures
    except Exception as exc:  # a damaged file: whatever the parser says, it is not genuine
        result.problems.append(f"PDFとして読めません（{type(exc).__name__}）")
        return
    if len(sigs) != 1:
        result.problems.append(f"署名が{len(sigs)}個あります（1個のはずです）")
        return
    sig = sigs[0]
    try:
        vc = ValidationContext(trust_roots=[_asn1_cert(c) for c in roots], allow_fetching=False,
                               revocation_mode="soft-fail")
        status = validate_pdf_signature(sig, vc, key_usage_settings=KeyUsageConstraints(
            key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False))
    except Exception as exc:
        result.problems.append(f"署名を検証できません（{type(exc).__name__}: {exc}）")
        return
    if not status.intact or not status.valid:
        result.problems.append("署名の後に内容が変更されています（署名が一致しません）")
    if not status.trusted:
        result.problems.append("署名者の証明書が信頼できる発行元につながりません")
    if status.coverage is None or status.coverage.name != "ENTIRE_FILE":
        result.problems.append("署名の後にファイルが変更または追記されています")
    signer_cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    try:
        if not _contents_gap_ok(data, list(sig.byte_range), sig.pkcs7_content) or not _cms_strict(
                sig.pkcs7_content):
            result.problems.append("署名値の領域が変更されています")
        elif status.trusted and not _embedded_certs_known(sig.pkcs7_content, signer_cert, roots):
            result.problems.append("署名に含まれる証明書が変更されています")
    except Exception:
        result.problems.append("署名値の領域を確認できません")
    result.signer = signer_cert.subject.rfc4514_string()
    result.signed_at = status.signer_reported_dt
    result.tenant = tenant_of(signer_cert)
    _check_payload(reader, signer_cert, result)


def _check_payload(reader: PdfFileReader, signer_cert: x509.Certificate, result: VerificationResult) -> None:
    try:
        info = reader.trailer["/Info"]
        payload_text = str(info.get("/Keywords", ""))
    except KeyError:
        payload_text = ""
    raw = _embedded_file(reader, ATTACHMENT_NAME)
    if not payload_text or raw is None:
        result.problems.append("検証用コードまたは証明内容が見つかりません")
        return
    pk = signer_cert.public_key()
    if not isinstance(pk, ec.EllipticCurvePublicKey):
        result.problems.append("署名者の鍵の種類が違います")
        return
    try:
        payload = verify_payload(payload_text, [pk])
    except VerificationError as exc:
        result.problems.append(exc.message)
        return
    content = json.loads(raw)
    if canonical_json(content) != raw or hashlib.sha256(raw).digest() != payload.digest:
        result.problems.append("証明内容が検証用コードの要約と一致しません")
    if content.get("serial") != payload.serial or content.get("tenant") != payload.tenant:
        result.problems.append("証明内容と検証用コードの証明書番号が一致しません")
    if result.tenant != payload.tenant:
        result.problems.append("検証用コードの団体と署名者の団体が違います")
    result.serial, result.issued_on, result.content = payload.serial, payload.issued_on, content
