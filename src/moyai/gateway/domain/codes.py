"""符号: the pseudonymous code under which one organisation sees one person.

The code of a person for an organisation is a keyed function of the organisation and of the
platform's identity of the person (``person_key``, e.g. the 個人番号, which the platform holds
and never sends out)::

    digest = HMAC-SHA256(key, "moyai.gateway.code.v1" 0x00 len(org) org len(person) person)[:20]
    code   = "<key id>.<digest in lower-case base32, 32 characters>"     e.g. k0001.q3…

- HMAC is a pseudo-random function: without the key, the codes of two organisations for one
  person are unrelated strings, and a code says nothing about the 宛名番号 or 個人番号. A static
  salt would not do: a 12-digit 個人番号 has only 10**11 values (the last digit is a check
  digit), which anyone holding the salt could hash in an afternoon; the key never leaves the key
  store (never the database, never a log), so that search cannot start.
- The message is domain-separated and length-prefixed, so no (org, person) pair collides with
  another, and no other use of the key (if it were ever misused elsewhere) gives the same bytes.
- 160 bits of output: no collision in any population that exists.
- The key id is part of the code: after :meth:`~.keystore.KeyStore.rotate`, new codes use the
  new key, while every code already issued stays what it was (an organisation keeps seeing a
  person under one code) and is still checked against the key that made it.

:class:`CodeService` issues a code when a person first becomes known to an organisation and
resolves an organisation's code back to the person; the mapping lives in a :class:`CodeStore`
(the gateway's database in production, :class:`MemoryCodeStore` here).
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass
from typing import Final, Protocol

from .keystore import KEY_BYTES, KeyStore, UnknownKeyError

__all__ = [
    "CODE_RE",
    "Code",
    "CodeError",
    "CodeService",
    "CodeStore",
    "MemoryCodeStore",
    "derive_code",
    "is_code",
    "parse_code",
]

DOMAIN: Final = b"moyai.gateway.code.v1"
DIGEST_BYTES: Final = 20
DIGEST_CHARS: Final = 32  # base32 of 20 bytes, no padding
CODE_RE: Final = re.compile(r"^(k[0-9]{4,9})\.([a-z2-7]{32})$")


class CodeError(ValueError):
    """A malformed code, or one that does not check against the key that made it."""


def _length_prefixed(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def derive_code(key: bytes, org_id: str, person_key: str) -> str:
    """The digest part of a code: keyed, one-way, different for every organisation."""
    if len(key) < KEY_BYTES:
        raise ValueError(f"符号の鍵は {KEY_BYTES} バイト以上が必要です")
    if not org_id or not person_key:
        raise ValueError("団体と本人の識別子が必要です")
    message = DOMAIN + b"\x00" + _length_prefixed(org_id) + _length_prefixed(person_key)
    digest = hmac.digest(key, message, "sha256")[:DIGEST_BYTES]  # one-shot (OpenSSL), as hmac.new(…).digest()
    return base64.b32encode(digest).decode("ascii").lower()


@dataclass(frozen=True)
class Code:
    key_id: str
    digest: str

    def __str__(self) -> str:
        return f"{self.key_id}.{self.digest}"


def parse_code(text: str) -> Code:
    m = CODE_RE.match(text)
    if not m:
        raise CodeError("符号の形式が正しくありません")
    return Code(m.group(1), m.group(2))


def is_code(text: str) -> bool:
    return bool(CODE_RE.match(text))


class CodeStore(Protocol):
    """Where issued codes are kept: (organisation, person) ⇄ code."""

    def code_of(self, org_id: str, person_key: str) -> str | None: ...

    def person_of(self, org_id: str, code: str) -> str | None: ...

    def add(self, org_id: str, person_key: str, code: str) -> None: ...


class MemoryCodeStore:
    def __init__(self) -> None:
        self._by_person: dict[tuple[str, str], str] = {}
        self._by_code: dict[tuple[str, str], str] = {}

    def code_of(self, org_id: str, person_key: str) -> str | None:
        return self._by_person.get((org_id, person_key))

    def person_of(self, org_id: str, code: str) -> str | None:
        return self._by_code.get((org_id, code))

    def add(self, org_id: str, person_key: str, code: str) -> None:
        if (org_id, person_key) in self._by_person or (org_id, code) in self._by_code:
            raise CodeError("この符号はすでに発行されています")
        self._by_person[(org_id, person_key)] = code
        self._by_code[(org_id, code)] = person_key


class CodeService:
    """Issues and resolves codes with the keys of a :class:`~.keystore.KeyStore`."""

    def __init__(self, keys: KeyStore, store: CodeStore) -> None:
        self.keys = keys
        self.store = store

    def compute(self, key_id: str, org_id: str, person_key: str) -> str:
        """The code that key ``key_id`` gives the person for the organisation (no issuance)."""
        key = self.keys.get(key_id)
        return f"{key.id}.{derive_code(key.material, org_id, person_key)}"

    def code_for(self, org_id: str, person_key: str) -> str:
        """The organisation's code for the person: the one issued before, or a new one (current key)."""
        existing = self.store.code_of(org_id, person_key)
        if existing is not None:
            return existing
        code = self.compute(self.keys.current().id, org_id, person_key)
        self.store.add(org_id, person_key, code)
        return code

    def matches(self, code: str, org_id: str, person_key: str) -> bool:
        """Whether ``code`` is the organisation's code for the person (constant-time compare)."""
        try:
            parsed = parse_code(code)
            expected = self.compute(parsed.key_id, org_id, person_key)
        except (CodeError, UnknownKeyError):
            return False
        return hmac.compare_digest(expected, code)

    def resolve(self, org_id: str, code: str) -> str | None:
        """The person an organisation's code stands for, or None if it issued no such code.

        A mapping that does not recompute under the key named in the code (a row altered in the
        database) raises :class:`CodeError` rather than resolve to the wrong person.
        """
        parse_code(code)
        person_key = self.store.person_of(org_id, code)
        if person_key is None:
            return None
        if not self.matches(code, org_id, person_key):
            raise CodeError("符号の対応表が鍵と一致しません（改ざんの可能性）")
        return person_key

