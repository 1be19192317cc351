"""符号 (per-organisation pseudonymous codes) and the key store (pure, no database)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import stat
from pathlib import Path

import pytest

from moyai.gateway.domain.codes import CodeError, CodeService, MemoryCodeStore, derive_code, is_code, parse_code
from moyai.gateway.domain.keystore import (
    FileKeyStore,
    Key,
    KeyStoreError,
    MemoryKeyStore,
    UnknownKeyError,
)
from moyai.platform.codes.checkdigits import individual_number_check_digit

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
ATENA_NO = "000000012345"


def individual_number(first11: str) -> str:
    return first11 + str(individual_number_check_digit(first11))


MY_NUMBER = individual_number("12345678901")


def test_codes_differ_per_organisation_and_are_stable() -> None:
    a1 = derive_code(KEY, "352152", MY_NUMBER)
    a2 = derive_code(KEY, "352152", MY_NUMBER)
    b = derive_code(KEY, "kenpo-midori", MY_NUMBER)
    assert a1 == a2
    assert a1 != b
    assert len(a1) == 32 and set(a1) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_codes_depend_on_the_key_and_the_person() -> None:
    assert derive_code(KEY, "352152", MY_NUMBER) != derive_code(OTHER_KEY, "352152", MY_NUMBER)
    assert derive_code(KEY, "352152", MY_NUMBER) != derive_code(KEY, "352152", individual_number("12345678902"))


def test_message_is_unambiguous() -> None:
    # without length prefixes ("ab", "c") and ("a", "bc") would hash the same bytes
    assert derive_code(KEY, "ab", "c") != derive_code(KEY, "a", "bc")


def test_short_or_empty_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        derive_code(b"salt", "352152", MY_NUMBER)
    with pytest.raises(ValueError):
        derive_code(KEY, "", MY_NUMBER)


def test_code_reveals_neither_atena_no_nor_individual_number() -> None:
    service = CodeService(MemoryKeyStore([Key("k0001", KEY)]), MemoryCodeStore())
    code = service.code_for("352152", MY_NUMBER)
    assert is_code(code)
    for secret in (MY_NUMBER, ATENA_NO, MY_NUMBER[:6], MY_NUMBER[-6:], ATENA_NO.lstrip("0")):
        assert secret not in code
    # not a static-salt construction: plain and salted hashes of the number are not the code
    digest = parse_code(code).digest
    for guess in (hashlib.sha256(MY_NUMBER.encode()).digest(), hashlib.sha256(b"352152" + MY_NUMBER.encode()).digest(),
                  hmac.new(b"", MY_NUMBER.encode(), hashlib.sha256).digest()):
        assert guess.hex()[:32] != digest


def test_brute_force_without_the_key_finds_nothing() -> None:
    """An attacker who knows the construction and the candidate numbers but not the key."""
    code = derive_code(KEY, "352152", MY_NUMBER)
    candidates = [individual_number(f"{n:011d}") for n in range(12345678800, 12345679000)]
    assert MY_NUMBER in candidates
    wrong_keys = [bytes(32), OTHER_KEY, hashlib.sha256(b"moyai").digest()]
    assert not [c for k in wrong_keys for c in candidates if derive_code(k, "352152", c) == code]
    # the same search with the key does find the number: the test would notice a keyless construction
    assert [c for c in candidates if derive_code(KEY, "352152", c) == code] == [MY_NUMBER]


def test_code_for_issues_once_and_resolves() -> None:
    service = CodeService(MemoryKeyStore([Key("k0001", KEY)]), MemoryCodeStore())
    city = service.code_for("352152", MY_NUMBER)
    union = service.code_for("kenpo-midori", MY_NUMBER)
    assert city != union and parse_code(city).digest != parse_code(union).digest
    assert service.code_for("352152", MY_NUMBER) == city
    assert service.resolve("352152", city) == MY_NUMBER
    assert service.resolve("kenpo-midori", union) == MY_NUMBER
    # one organisation's code means nothing to another
    assert service.resolve("kenpo-midori", city) is None
    with pytest.raises(CodeError):
        service.resolve("352152", MY_NUMBER)


def test_rotation_keeps_old_codes_resolvable() -> None:
    keys = MemoryKeyStore()
    keys.rotate()
    service = CodeService(keys, MemoryCodeStore())
    old = service.code_for("352152", MY_NUMBER)
    assert parse_code(old).key_id == "k0001"
    new_key = keys.rotate()
    assert new_key.id == "k0002" and keys.current().id == "k0002"
    # a person already known keeps the code; a newcomer gets one under the new key
    assert service.code_for("352152", MY_NUMBER) == old
    newcomer = individual_number("98765432109")
    fresh = service.code_for("352152", newcomer)
    assert parse_code(fresh).key_id == "k0002"
    assert service.resolve("352152", old) == MY_NUMBER
    assert service.resolve("352152", fresh) == newcomer
    assert service.matches(old, "352152", MY_NUMBER) and not service.matches(old, "352152", newcomer)
    # the same person under the new key would get another code
    assert service.compute("k0002", "352152", MY_NUMBER) != old


def test_altered_mapping_is_not_resolved_to_the_wrong_person() -> None:
    store = MemoryCodeStore()
    service = CodeService(MemoryKeyStore([Key("k0001", KEY)]), store)
    code = service.code_for("352152", MY_NUMBER)
    store._by_code[("352152", code)] = individual_number("11111111111")  # a row altered in the database
    with pytest.raises(CodeError, match="改ざん"):
        service.resolve("352152", code)


def test_code_with_unknown_key_id_does_not_match() -> None:
    service = CodeService(MemoryKeyStore([Key("k0001", KEY)]), MemoryCodeStore())
    code = service.code_for("352152", MY_NUMBER)
    assert not service.matches(code.replace("k0001", "k0009"), "352152", MY_NUMBER)


# --- key store ---------------------------------------------------------------------------------------


def test_key_never_shows_its_material() -> None:
    key = Key("k0001", KEY)
    for text in (repr(key), str(key), f"{key}"):
        assert KEY.hex() not in text and "k0001" in text
    with pytest.raises(KeyStoreError):
        Key("k0001", b"short")
    with pytest.raises(KeyStoreError):
        Key("current", KEY)


def test_empty_store_has_no_current_key(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError):
        MemoryKeyStore().current()
    store = FileKeyStore(tmp_path / "none")
    with pytest.raises(KeyStoreError, match="ありません"):
        store.current()


def test_file_store_rotates_and_keeps_old_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = FileKeyStore.create(tmp_path / "codes")
    first = store.current()
    assert first.id == "k0001" and len(first.material) == 32
    second = store.rotate()
    assert second.id == "k0002" and store.current() == second and store.key_ids() == ("k0001", "k0002")
    assert store.get("k0001").material == first.material
    # another process (a second instance) reads the same keys and sees the rotation
    other = FileKeyStore(tmp_path / "codes")
    assert other.current().material == second.material
    third = store.rotate()
    assert other.current().id == third.id
    with pytest.raises(UnknownKeyError):
        store.get("k0009")
    with pytest.raises(UnknownKeyError):
        store.get("../etc/passwd")
    # files: directory 0700, keys 0600; no key material in the logs
    assert stat.S_IMODE((tmp_path / "codes").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "codes" / "k0002.key").stat().st_mode) == 0o600
    assert "k0002" in caplog.text
    for key in (first, second, third):
        assert key.material.hex() not in caplog.text


def test_file_store_refuses_keys_readable_by_others(tmp_path: Path) -> None:
    store = FileKeyStore.create(tmp_path / "codes")
    os.chmod(tmp_path / "codes" / "k0001.key", 0o644)
    with pytest.raises(KeyStoreError, match="所有者以外"):
        FileKeyStore(tmp_path / "codes").current()
    os.chmod(tmp_path / "codes" / "k0001.key", 0o600)
    os.chmod(tmp_path / "codes", 0o755)  # noqa: S103 - the unsafe mode under test
    with pytest.raises(KeyStoreError, match="所有者以外"):
        FileKeyStore(tmp_path / "codes").current()
    os.chmod(tmp_path / "codes", 0o700)
    assert store.current().id == "k0001"


def test_file_store_refuses_a_malformed_key(tmp_path: Path) -> None:
    FileKeyStore.create(tmp_path / "codes")
    path = tmp_path / "codes" / "k0001.key"
    path.write_text("not hex\n")
    with pytest.raises(KeyStoreError, match="16進数"):
        FileKeyStore(tmp_path / "codes").current()
    path.write_text("00ff\n")
    with pytest.raises(KeyStoreError, match="短すぎ"):
        FileKeyStore(tmp_path / "codes").current()


def test_codes_survive_a_restart_with_the_file_store(tmp_path: Path) -> None:
    store = MemoryCodeStore()
    code = CodeService(FileKeyStore.create(tmp_path / "codes"), store).code_for("352152", MY_NUMBER)
    FileKeyStore(tmp_path / "codes").rotate()
    restarted = CodeService(FileKeyStore(tmp_path / "codes"), store)
    assert restarted.resolve("352152", code) == MY_NUMBER
    assert restarted.matches(code, "352152", MY_NUMBER)
