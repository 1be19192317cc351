"""Checkpoint and message signatures: HMAC-SHA256 always, Ed25519 through PyNaCl (pure)."""

from __future__ import annotations

import datetime as dt

from moyai.gateway.domain.keystore import Key, MemoryKeyStore
from moyai.gateway.domain.log import Checkpoint, LogEntry, LogWriter, body_digest, verify
from moyai.gateway.domain.signing import (
    ED25519,
    HS256,
    HmacSigner,
    KeyStoreVerifier,
    PublicKeyVerifier,
    Signer,
    default_signer,
    ed25519_available,
)

KEY = Key("k0001", bytes(range(32)))
WHEN = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_hmac_signature_verifies_only_with_its_key() -> None:
    signer = HmacSigner(KEY)
    signature = signer.sign(b"payload")
    verifier = KeyStoreVerifier(MemoryKeyStore([KEY]))
    assert verifier.verify("k0001", HS256, b"payload", signature)
    assert not verifier.verify("k0001", HS256, b"payload!", signature)
    assert not verifier.verify("k0002", HS256, b"payload", signature)  # unknown key id
    assert not verifier.verify("k0001", "none", b"payload", signature)
    assert not KeyStoreVerifier(MemoryKeyStore([KEY]), algorithms=[ED25519]).verify("k0001", HS256, b"payload", signature)
    assert KEY.material.hex() not in repr(signer)


def test_default_signer_follows_what_is_installed() -> None:
    signer = default_signer(MemoryKeyStore([KEY]))
    assert signer.algorithm == (ED25519 if ed25519_available() else HS256)
    assert signer.key_id == "k0001"


def _log(signer: Signer, n: int = 5) -> tuple[list[LogEntry], list[Checkpoint]]:
    writer = LogWriter("dc-b", signer, batch_size=2, clock=lambda: WHEN)
    entries: list[LogEntry] = []
    cps: list[Checkpoint] = []
    for i in range(n):
        entry, cp = writer.append(requester="352128", provider="352152", affair="CA-01", items=["resident_record.name"],
                                  outcome="provided", request_digest=body_digest(b"%d" % i))
        entries.append(entry)
        cps += [cp] if cp else []
    return entries, cps


def test_ed25519_checkpoints_verify_with_the_public_key_alone() -> None:
    from moyai.gateway.domain.signing import Ed25519Signer

    signer = Ed25519Signer(KEY)
    entries, cps = _log(signer)
    assert all(c.algorithm == ED25519 for c in cps)
    public = PublicKeyVerifier({"k0001": signer.public_key()})
    assert verify(entries, cps, log_id="dc-b", verifier=public).ok
    assert verify(entries, cps, log_id="dc-b", verifier=KeyStoreVerifier(MemoryKeyStore([KEY]))).ok
    # another key's public key, or an HMAC checkpoint, does not pass with public keys only
    other = Ed25519Signer(Key("k0001", bytes(range(1, 33))))
    assert not verify(entries, cps, log_id="dc-b", verifier=PublicKeyVerifier({"k0001": other.public_key()})).ok
    hmac_entries, hmac_cps = _log(HmacSigner(KEY))
    assert not verify(hmac_entries, hmac_cps, log_id="dc-b", verifier=public).ok


def test_public_key_verifier_without_cryptography_refuses() -> None:
    verifier = PublicKeyVerifier({"k0001": b"\x00" * 32})
    assert not verifier.verify("k0001", HS256, b"x", b"y")
    assert not verifier.verify("k0002", ED25519, b"x", b"y")


def test_ed25519_through_libsodium_equals_openssl_for_the_same_seed() -> None:
    """PyNaCl signs and verifies (the hot path); the certificates and keys outside it use
    ``cryptography`` (OpenSSL). Ed25519 is deterministic: same seed, same public key, same
    signatures, and each verifies the other's."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from moyai.gateway.domain.signing import Ed25519Signer, _verify_ed25519

    ours = Ed25519Signer(KEY)
    openssl = ed25519.Ed25519PrivateKey.from_private_bytes(KEY.material[:32])
    raw = openssl.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert ours.public_key() == raw
    for message in (b"", b"header.payload", "符号".encode() * 200):
        signature = ours.sign(message)
        assert len(signature) == 64
        assert signature == openssl.sign(message)
        openssl.public_key().verify(signature, message)  # raises if not
        assert _verify_ed25519(raw, message, signature)
        assert not _verify_ed25519(raw, message + b"!", signature)
        assert not _verify_ed25519(raw, message, bytes([signature[0] ^ 1]) + signature[1:])
        assert not _verify_ed25519(raw, message, signature[:63])  # truncated
        assert not _verify_ed25519(raw[:31], message, signature)  # not a key
        assert not _verify_ed25519(Ed25519Signer(Key("k0002", bytes(32))).public_key(), message, signature)
