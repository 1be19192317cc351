"""Keys of the gateway, kept outside the database, with ids and rotation.

One key store holds the keys of one purpose (the 符号 keys, the log-checkpoint keys …): each
key has an id (``k0001``, ``k0002`` …), one of them is *current* (used for new codes and new
signatures) and the older ones stay readable so that what they produced still resolves and
verifies. :meth:`KeyStore.rotate` makes a new key current; it never deletes an old one.

:class:`FileKeyStore` keeps a directory per purpose, outside the database and outside the
repository::

    /etc/moyai/keys/codes/            (mode 0700, owned by the gateway's user)
        k0001.key                      (mode 0600: 64 hex digits = 32 random bytes)
        k0002.key
        CURRENT                        ("k0002")

Keys are never logged: :class:`Key` prints its id only, and the store logs ids only.
"""

from __future__ import annotations

import abc
import logging
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "KEY_BYTES",
    "FileKeyStore",
    "Key",
    "KeyStore",
    "KeyStoreError",
    "MemoryKeyStore",
    "UnknownKeyError",
    "valid_key_id",
]

log = logging.getLogger(__name__)

#: Length of a new key (256 bits); shorter keys are refused.
KEY_BYTES: Final = 32
KEY_ID_RE: Final = re.compile(r"^k[0-9]{4,9}$")
CURRENT_FILE: Final = "CURRENT"
KEY_SUFFIX: Final = ".key"


class KeyStoreError(RuntimeError):
    """The key store cannot be used (missing, unsafe permissions, malformed key)."""


class UnknownKeyError(KeyStoreError, LookupError):
    """No key with this id."""


def valid_key_id(key_id: str) -> bool:
    return bool(KEY_ID_RE.match(key_id))


def _key_id(n: int) -> str:
    return f"k{n:04d}"


@dataclass(frozen=True, repr=False)
class Key:
    """A secret key and its id. ``repr`` and ``str`` never show the material."""

    id: str
    material: bytes

    def __post_init__(self) -> None:
        if not valid_key_id(self.id):
            raise KeyStoreError(f"鍵 id {self.id!r} が不正です（k と4〜9桁の数字）")
        if len(self.material) < KEY_BYTES:
            raise KeyStoreError(f"鍵 {self.id} が短すぎます（{KEY_BYTES} バイト以上が必要）")

    def __repr__(self) -> str:
        return f"Key(id={self.id!r}, material=<{len(self.material)} bytes, not shown>)"

    __str__ = __repr__


class KeyStore(abc.ABC):
    """Keys of one purpose: ``current()`` for new work, ``get(id)`` for what older keys made."""

    @abc.abstractmethod
    def current(self) -> Key:
        """The key for new codes and signatures (:class:`KeyStoreError` if there is none)."""

    @abc.abstractmethod
    def get(self, key_id: str) -> Key:
        """The key with this id (:class:`UnknownKeyError` if there is none)."""

    @abc.abstractmethod
    def rotate(self) -> Key:
        """Make a new random key current and return it; older keys stay readable."""

    @abc.abstractmethod
    def key_ids(self) -> tuple[str, ...]:
        """Ids of every key, oldest first."""


class MemoryKeyStore(KeyStore):
    """Keys in memory (tests, and a process that is handed its keys at start)."""

    def __init__(self, keys: list[Key] | None = None) -> None:
        self._keys: dict[str, Key] = {}
        self._current: str | None = None
        for key in keys or []:
            self._keys[key.id] = key
            self._current = key.id

    def current(self) -> Key:
        if self._current is None:
            raise KeyStoreError("鍵がありません（rotate で最初の鍵を作成してください）")
        return self._keys[self._current]

    def get(self, key_id: str) -> Key:
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyError(f"鍵 {key_id!r} はありません") from None

    def rotate(self) -> Key:
        n = max((int(k[1:]) for k in self._keys), default=0) + 1
        key = Key(_key_id(n), secrets.token_bytes(KEY_BYTES))
        self._keys[key.id] = key
        self._current = key.id
        log.info("鍵を更新しました: %s", key.id)
        return key

    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys, key=lambda k: int(k[1:])))


class FileKeyStore(KeyStore):
    """Keys in a directory (one file per key, ``CURRENT`` names the current one).

    The directory must not be readable by group or others, nor any key file (checked on every
    read unless ``check_permissions=False``, for file systems without POSIX modes). Keys are
    cached once read: a key file never changes after it is written. ``CURRENT`` is re-read when
    its inode or modification time changes, so a rotation by another process is seen.
    """

    def __init__(self, directory: str | os.PathLike[str], *, check_permissions: bool = True) -> None:
        self.directory = Path(directory)
        self.check_permissions = check_permissions and os.name == "posix"
        self._cache: dict[str, Key] = {}
        self._current: tuple[tuple[int, int], str] | None = None

    @classmethod
    def create(cls, directory: str | os.PathLike[str], *, check_permissions: bool = True) -> FileKeyStore:
        """Make the directory (mode 0700) and a first key if there is none yet."""
        path = Path(directory)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        store = cls(path, check_permissions=check_permissions)
        if not store.key_ids():
            store.rotate()
        return store

    # -- reading ---------------------------------------------------------------------------

    def _check_mode(self, path: Path) -> None:
        if not self.check_permissions:
            return
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            raise KeyStoreError(f"{path} は所有者以外も読み書きできます（chmod {'700' if path.is_dir() else '600'} が必要）")

    def _check_directory(self) -> None:
        if not self.directory.is_dir():
            raise KeyStoreError(f"鍵ディレクトリ {self.directory} がありません")
        self._check_mode(self.directory)

    def key_ids(self) -> tuple[str, ...]:
        self._check_directory()
        ids = [p.name[: -len(KEY_SUFFIX)] for p in self.directory.iterdir() if p.name.endswith(KEY_SUFFIX)]
        return tuple(sorted((i for i in ids if valid_key_id(i)), key=lambda k: int(k[1:])))

    def get(self, key_id: str) -> Key:
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        if not valid_key_id(key_id):
            raise UnknownKeyError(f"鍵 {key_id!r} はありません")
        self._check_directory()
        path = self.directory / f"{key_id}{KEY_SUFFIX}"
        try:
            self._check_mode(path)
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise UnknownKeyError(f"鍵 {key_id!r} はありません") from None
        try:
            material = bytes.fromhex(text)
        except ValueError:
            raise KeyStoreError(f"鍵ファイル {path} が16進数ではありません") from None
        key = Key(key_id, material)
        self._cache[key_id] = key
        return key

    def current(self) -> Key:
        self._check_directory()
        path = self.directory / CURRENT_FILE
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyStoreError(f"{self.directory} に現在の鍵がありません（rotate で最初の鍵を作成してください）") from None
        version = (st.st_ino, st.st_mtime_ns)  # CURRENT is replaced, never rewritten: a new inode
        if self._current is None or self._current[0] != version:
            key_id = path.read_text(encoding="ascii").strip()
            self._current = (version, key_id)
        return self.get(self._current[1])

    # -- writing ---------------------------------------------------------------------------

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _write_new_key(self) -> Key:
        """Write a new key file under the next free id (O_EXCL: two rotations never share an id)."""
        while True:
            ids = self.key_ids()
            n = (int(ids[-1][1:]) if ids else 0) + 1
            key = Key(_key_id(n), secrets.token_bytes(KEY_BYTES))
            path = self.directory / f"{key.id}{KEY_SUFFIX}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            try:
                os.write(fd, key.material.hex().encode("ascii") + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            return key

    def rotate(self) -> Key:
        self._check_directory()
        key = self._write_new_key()
        tmp = self.directory / f".{CURRENT_FILE}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key.id.encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / CURRENT_FILE)
        self._fsync_directory()
        self._cache[key.id] = key
        self._current = None
        log.info("鍵を更新しました: %s (%s)", key.id, self.directory)
        return key
