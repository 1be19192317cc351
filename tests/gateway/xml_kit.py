"""XML-signature keys for the SOAP tests: ECDSA P-256 (or RSA) keys and self-signed certificates made here."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from moyai.gateway.adapters.soap import SoapAdapter, XmlPeers, XmlSigningKey
from tests.gateway.exchange_kit import Kit


def make_key(org_id: str, key_id: str = "k0001", *, kind: str = "ec") -> tuple[XmlSigningKey, x509.Certificate]:
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{org_id} {key_id}")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650)).sign(private, hashes.SHA256()))
    return XmlSigningKey(org_id, key_id, private), cert


class SoapKit:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.keys: dict[str, XmlSigningKey] = {}
        peers = XmlPeers()
        for org, kind in (("kenpo-midori", "ec"), ("pension-01", "rsa"), ("350001", "ec")):
            key, cert = make_key(org, kind=kind)
            self.keys[org] = key
            peers.add(org, key.key_id, cert)
        self.gateway_key, gateway_cert = make_key("gateway-a")
        self.gateway_peers = XmlPeers({"gateway-a": {"k0001": gateway_cert}})
        self.adapter = SoapAdapter(kit.service, peers, self.gateway_key)
