"""A development PKI for mutual TLS between gateways and organisations (テスト用認証局).

One Ed25519 key per party serves both TLS (its certificate) and the JWS signature on its
messages: the organisation that presents a client certificate is the one whose key signs, and
the gateway's published keys (:meth:`Pki.peer_keys`) are read from the certificates, not from
any configuration of their own. Made at run time (``moyai gateway pki init DIR``, or by the
tests); no private key is ever committed.

Layout of ``DIR``::

    ca.pem                          the test CA's certificate (what every party trusts)
    private/ca/ca-key.pem           the CA's private key (0600; only ``pki init``/``issue`` need it)
    certs/<party>.<key id>.pem      one certificate per party and key (public; what a gateway loads)
    private/<party>/                that party's key store (FileKeyStore: k0001.key, CURRENT) and
                                    tls-key.pem (the same key as PKCS#8, for the TLS libraries)
    certs/xml/<party>.<key id>.pem  the party's XML-signature certificate (ECDSA P-256: signxml has no
                                    EdDSA), for the SOAP adapter; its key is private/<party>/xml-key.pem
    keys/codes/                     the 符号 key store (shared by both data centres)
    keys/log-a/, keys/log-b/        each data centre's log-checkpoint key

Parties: ``gateway-a`` / ``gateway-b`` (server certificate for 127.0.0.1 and localhost, usable
as a client certificate when one gateway forwards to the other), and every organisation of
``organisations.yaml`` (client certificates, subject CN = organisation id).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..domain import jws
from ..domain.keystore import FileKeyStore, Key
from ..domain.organisations import directory
from ..domain.signing import Ed25519Signer

__all__ = ["DATA_CENTRES", "Party", "Pki", "PkiError", "gateway_party", "init_pki"]

DATA_CENTRES: Final = ("a", "b")
ORGANISATION_NAME: Final = "Moyai development PKI"
CERT_RE: Final = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\.(k[0-9]{4,9})\.pem$")


class PkiError(RuntimeError):
    pass


def gateway_party(dc: str) -> str:
    """The party (certificate CN, JWS organisation) of a data centre's gateway."""
    if dc not in DATA_CENTRES:
        raise PkiError(f"データセンターは a または b です（{dc!r}）")
    return f"gateway-{dc}"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION_NAME),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _private_key(key: Key) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(key.material[:32])


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


@dataclass(frozen=True)
class Party:
    """Where one party's certificate and keys are (``private`` exists only where it was issued)."""

    name: str
    key_id: str
    cert: Path
    tls_key: Path
    keystore: Path

    def signer(self) -> Ed25519Signer:
        return Ed25519Signer(FileKeyStore(self.keystore).get(self.key_id))


class Pki:
    """A PKI directory made by :func:`init_pki`."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        if not (self.dir / "ca.pem").is_file():
            raise PkiError(f"{self.dir} に認証局の証明書 ca.pem がありません（moyai gateway pki init で作成します）")

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.pem"

    def keys_dir(self, purpose: str) -> Path:
        return self.dir / "keys" / purpose

    def party(self, name: str) -> Party:
        certs = sorted(self.dir.glob(f"certs/{name}.k*.pem"))
        if not certs:
            raise PkiError(f"{name} の証明書がありません")
        m = CERT_RE.match(certs[-1].name)
        assert m is not None
        private = self.dir / "private" / name
        return Party(name, m.group(2), certs[-1], private / "tls-key.pem", private)

    def peer_keys(self) -> jws.PeerKeys:
        """Organisation → key id → Ed25519 public key, from every certificate the CA issued."""
        ca = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        keys = jws.PeerKeys()
        for path in sorted((self.dir / "certs").glob("*.pem")):
            m = CERT_RE.match(path.name)
            if m is None:
                continue
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                raise PkiError(f"{path.name} はこの認証局が発行した証明書ではありません") from None
            cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            if cn != m.group(1):
                raise PkiError(f"{path.name} の主体名 {cn!r} がファイル名と一致しません")
            public = cert.public_key()
            if not isinstance(public, ed25519.Ed25519PublicKey):
                raise PkiError(f"{path.name} の鍵が Ed25519 ではありません")
            keys.add(m.group(1), m.group(2), public.public_bytes(serialization.Encoding.Raw,
                                                                  serialization.PublicFormat.Raw))
        return keys

    def xml_certificates(self) -> dict[str, dict[str, x509.Certificate]]:
        """Organisation → key id → XML-signature certificate (SOAP), each checked against the CA."""
        ca = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        certs: dict[str, dict[str, x509.Certificate]] = {}
        for path in sorted((self.dir / "certs" / "xml").glob("*.pem")):
            m = CERT_RE.match(path.name)
            if m is None:
                continue
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                raise PkiError(f"xml/{path.name} はこの認証局が発行した証明書ではありません") from None
            certs.setdefault(m.group(1), {})[m.group(2)] = cert
        return certs

    def xml_key(self, name: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
        """(key id, private key) of a party's XML-signature key."""
        certs = sorted(self.dir.glob(f"certs/xml/{name}.k*.pem"))
        m = CERT_RE.match(certs[-1].name) if certs else None
        if m is None:
            raise PkiError(f"{name} の XML 署名証明書がありません")
        key = serialization.load_pem_private_key((self.dir / "private" / name / "xml-key.pem").read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{name} の XML 署名鍵が ECDSA ではありません")
        return m.group(2), key

    # -- issuing ------------------------------------------------------------------------------

    def issue_xml(self, name: str, *, days: int = 30,
                  ca: tuple[x509.Certificate, ed25519.Ed25519PrivateKey] | None = None) -> Path:
        """An ECDSA P-256 XML-signature key and certificate for ``name`` (key id k0001)."""
        ca_cert, ca_key = ca or self._ca()
        private = self.dir / "private" / name
        private.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(ca_key, None))
        (self.dir / "certs" / "xml").mkdir(parents=True, exist_ok=True)
        path = self.dir / "certs" / "xml" / f"{name}.k0001.pem"
        _write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(private / "xml-key.pem", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()), 0o600)
        return path

    def _ca(self) -> tuple[x509.Certificate, ed25519.Ed25519PrivateKey]:
        ca_key = serialization.load_pem_private_key((self.dir / "private" / "ca" / "ca-key.pem").read_bytes(), None)
        if not isinstance(ca_key, ed25519.Ed25519PrivateKey):
            raise PkiError("認証局の鍵が Ed25519 ではありません")
        return x509.load_pem_x509_certificate(self.ca_cert.read_bytes()), ca_key

    def issue(self, name: str, *, server: bool = False, days: int = 30,
              not_before: dt.datetime | None = None, ca: tuple[x509.Certificate, ed25519.Ed25519PrivateKey] | None
              = None) -> Party:
        """A new key (its own key store) and certificate for ``name`` (a new key id if it had one)."""
        ca_cert, ca_key = ca or self._ca()
        private = self.dir / "private" / name
        if (private / "CURRENT").exists():
            key = FileKeyStore(private).rotate()
        else:
            key = FileKeyStore.create(private).current()
        pk = _private_key(key)
        start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
        builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
                   .public_key(pk.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(ca_key, None)
        (self.dir / "certs").mkdir(exist_ok=True)
        path = self.dir / "certs" / f"{name}.{key.id}.pem"
        _write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(private / "tls-key.pem", pk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()), 0o600)
        return Party(name, key.id, path, private / "tls-key.pem", private)


def init_pki(target: str | os.PathLike[str], *, organisations: Iterable[str] | None = None,
             days: int = 30) -> Pki:
    """A new test CA, both gateways' certificates, a client certificate per organisation, key stores."""
    root = Path(target)
    if (root / "ca.pem").exists():
        raise PkiError(f"{root} にはすでに認証局があります")
    root.mkdir(parents=True, exist_ok=True)
    (root / "private").mkdir(mode=0o700, exist_ok=True)
    (root / "private" / "ca").mkdir(mode=0o700, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ed25519.Ed25519PrivateKey.generate()
    ca_cert = (x509.CertificateBuilder().subject_name(_name("Moyai test CA")).issuer_name(_name("Moyai test CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .sign(ca_key, None))
    _write(root / "private" / "ca" / "ca-key.pem", ca_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    _write(root / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    pki = Pki(root)
    ca = (ca_cert, ca_key)
    orgs = organisations if organisations is not None else [o.id for o in directory().organisations.values()]
    for party in (*(gateway_party(dc) for dc in DATA_CENTRES), *orgs):
        pki.issue(party, server=party.startswith("gateway-"), days=days, ca=ca)
        pki.issue_xml(party, days=days, ca=ca)
    (root / "keys").mkdir(mode=0o700, exist_ok=True)
    for purpose in ("codes", *(f"log-{dc}" for dc in DATA_CENTRES)):
        FileKeyStore.create(root / "keys" / purpose)
    return pki
