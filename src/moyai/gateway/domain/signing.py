"""Signatures over log checkpoints (and, later, messages).

Two algorithms, named as in JOSE:

- ``HS256`` — HMAC-SHA256 with a secret key from a :class:`~.keystore.KeyStore`. Standard
  library only. Whoever can verify can also sign, so it proves a checkpoint was made by a holder
  of the log key (the gateway), not by someone who could only write to the log's database; it
  cannot be handed to an outside auditor.
- ``EdDSA`` — Ed25519 (RFC 8032), through PyNaCl (libsodium). The key store's 32 bytes are the
  private seed; the public key can be published so that anyone can verify checkpoints without
  being able to make one. libsodium rather than ``cryptography`` (OpenSSL) because the gateway
  verifies and signs a message per exchange: 58 µs to verify and 21 µs to sign a 600-byte
  message here, against 106 and 32 µs (docs/performance.md); libsodium also refuses
  non-canonical and small-order encodings.

:func:`default_signer` picks Ed25519 when it is available and HMAC otherwise. The algorithm
and key id are inside the signed bytes (see :mod:`.log`), and each verifier accepts a fixed set
of algorithms: :class:`PublicKeyVerifier`, which holds no secret, accepts Ed25519 only.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
from collections.abc import Collection, Mapping
from typing import Any, Final, Protocol

from .keystore import Key, KeyStore, KeyStoreError

__all__ = [
    "ED25519",
    "HS256",
    "Ed25519Signer",
    "HmacSigner",
    "KeyStoreVerifier",
    "PublicKeyVerifier",
    "SignatureVerifier",
    "Signer",
    "default_signer",
    "ed25519_available",
]

HS256: Final = "HS256"
ED25519: Final = "EdDSA"


def ed25519_available() -> bool:
    """Whether PyNaCl (needed for Ed25519) is installed."""
    return importlib.util.find_spec("nacl") is not None


class Signer(Protocol):
    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


class SignatureVerifier(Protocol):
    def verify(self, key_id: str, algorithm: str, data: bytes, signature: bytes) -> bool: ...


class HmacSigner:
    """HMAC-SHA256 with one key of the store."""

    algorithm: Final = HS256

    def __init__(self, key: Key) -> None:
        self._key = key

    @property
    def key_id(self) -> str:
        return self._key.id

    def sign(self, data: bytes) -> bytes:
        return hmac.new(self._key.material, data, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"HmacSigner(key_id={self._key.id!r})"


def _sodium() -> Any:
    import nacl.bindings

    return nacl.bindings


class Ed25519Signer:
    """Ed25519 with the first 32 bytes of a key of the store as the private seed."""

    algorithm: Final = ED25519

    def __init__(self, key: Key) -> None:
        self._key_id = key.id
        self._public, self._secret = _sodium().crypto_sign_seed_keypair(key.material[:32])

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, data: bytes) -> bytes:
        signed: bytes = _sodium().crypto_sign(data, self._secret)  # signature ‖ message
        return signed[:64]

    def public_key(self) -> bytes:
        """The raw 32-byte public key, to publish for outside verifiers."""
        return bytes(self._public)

    def __repr__(self) -> str:
        return f"Ed25519Signer(key_id={self._key_id!r})"


def _verify_ed25519(public_key: bytes, data: bytes, signature: bytes) -> bool:
    from nacl.exceptions import CryptoError

    if len(signature) != 64 or len(public_key) != 32:
        return False
    try:
        _sodium().crypto_sign_open(bytes(signature) + data, bytes(public_key))
    except (CryptoError, ValueError, TypeError):
        return False
    return True


class KeyStoreVerifier:
    """Verifies with the keys of the store that signed (HMAC, or Ed25519 from the seed)."""

    def __init__(self, keys: KeyStore, algorithms: Collection[str] = (HS256, ED25519)) -> None:
        self.keys = keys
        self.algorithms = frozenset(algorithms)

    def verify(self, key_id: str, algorithm: str, data: bytes, signature: bytes) -> bool:
        if algorithm not in self.algorithms:
            return False
        try:
            key = self.keys.get(key_id)
        except KeyStoreError:
            return False
        if algorithm == HS256:
            return hmac.compare_digest(HmacSigner(key).sign(data), signature)
        if algorithm == ED25519 and ed25519_available():
            return _verify_ed25519(Ed25519Signer(key).public_key(), data, signature)
        return False


class PublicKeyVerifier:
    """Verifies Ed25519 signatures with published public keys only (for auditors, residents' tools)."""

    def __init__(self, public_keys: Mapping[str, bytes]) -> None:
        self.public_keys = dict(public_keys)

    def verify(self, key_id: str, algorithm: str, data: bytes, signature: bytes) -> bool:
        public_key = self.public_keys.get(key_id)
        if algorithm != ED25519 or public_key is None or not ed25519_available():
            return False
        return _verify_ed25519(public_key, data, signature)


def default_signer(keys: KeyStore) -> Signer:
    """Ed25519 with the current key when PyNaCl is installed, else HMAC-SHA256."""
    key = keys.current()
    if ed25519_available():
        return Ed25519Signer(key)
    return HmacSigner(key)
