"""Check digits: 個人番号, 全国地方公共団体コード, modulus 11 (宛名番号 / 世帯番号)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moyai.platform.codes.checkdigits import (
    check_individual_number,
    check_local_government_code,
    check_mod11,
    individual_number_check_digit,
    is_valid_individual_number,
    is_valid_local_government_code,
    is_valid_mod11,
    local_government_code_check_digit,
    mod11_check_digit,
    with_mod11,
)

digits = st.text(alphabet="0123456789", min_size=11, max_size=11)


def _individual_remainder(first11: str) -> int:
    weights = (2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6)
    return sum(int(c) * w for c, w in zip(reversed(first11), weights, strict=True)) % 11


# --- 個人番号 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["123456789018", "983205673214"])
def test_individual_number_valid_examples(number: str) -> None:
    assert is_valid_individual_number(number) is True
    assert check_individual_number(number) is None
    assert individual_number_check_digit(number[:11]) == int(number[11])


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("123456789019", "個人番号の検査用数字が正しくありません"),
        ("983205673215", "個人番号の検査用数字が正しくありません"),
        ("12345678901", "個人番号は12桁の数字です"),
        ("1234567890180", "個人番号は12桁の数字です"),
        ("", "個人番号は12桁の数字です"),
        ("12345678901a", "個人番号は12桁の数字です"),
        ("1234 5678 9018", "個人番号は12桁の数字です"),
        ("１２３４５６７８９０１８", "個人番号は12桁の数字です"),  # full-width: caller normalises
        ("12345678901٨", "個人番号は12桁の数字です"),  # Arabic-Indic digit
    ],
)
def test_individual_number_refused_with_reason(number: str, message: str) -> None:
    assert check_individual_number(number) == message
    assert is_valid_individual_number(number) is False


@pytest.mark.parametrize("bad", ["1234567890", "123456789012", "１２３４５６７８９０１", "abcdefghijk"])
def test_individual_number_check_digit_rejects_bad_input(bad: str) -> None:
    with pytest.raises(ValueError, match="first11 must be 11 ASCII digits"):
        individual_number_check_digit(bad)


def test_individual_number_remainders_zero_and_one_both_give_zero() -> None:
    # remainder 0 and remainder 1 both give check digit 0 (standards.md §4)
    assert _individual_remainder("00000000000") == 0
    assert individual_number_check_digit("00000000000") == 0
    assert _individual_remainder("00000000006") == 1  # 6 × 2 = 12 ≡ 1
    assert individual_number_check_digit("00000000006") == 0
    assert _individual_remainder("00000000001") == 2
    assert individual_number_check_digit("00000000001") == 9


@given(digits)
def test_individual_number_with_computed_check_digit_is_valid(first11: str) -> None:
    assert is_valid_individual_number(first11 + str(individual_number_check_digit(first11)))


@given(digits, st.integers(0, 11), st.integers(1, 9))
def test_individual_number_single_digit_change(first11: str, pos: int, delta: int) -> None:
    """Any one changed digit makes the number invalid, except the one blind spot of the official
    formula: remainders 0 and 1 both give check digit 0, so a change that moves the remainder
    between 0 and 1 keeps the number valid (e.g. 595748906820 → 795748906820)."""
    number = first11 + str(individual_number_check_digit(first11))
    changed_digit = str((int(number[pos]) + delta) % 10)
    changed = number[:pos] + changed_digit + number[pos + 1 :]
    assert changed != number
    blind_spot = pos < 11 and _individual_remainder(number[:11]) <= 1 and _individual_remainder(changed[:11]) <= 1
    assert is_valid_individual_number(changed) is blind_spot


def test_individual_number_blind_spot_example() -> None:
    assert is_valid_individual_number("595748906820") is True
    assert is_valid_individual_number("795748906820") is True


@given(digits.filter(lambda d: _individual_remainder(d) >= 2), st.integers(0, 11), st.integers(1, 9))
def test_individual_number_single_digit_change_detected_outside_blind_spot(first11: str, pos: int, delta: int) -> None:
    number = first11 + str(individual_number_check_digit(first11))
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert is_valid_individual_number(changed) is False
    assert check_individual_number(changed) == "個人番号の検査用数字が正しくありません"


# --- 全国地方公共団体コード ----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["352152", "352071", "352101", "352128", "355020", "131016"])
def test_local_government_code_valid_examples(code: str) -> None:
    assert is_valid_local_government_code(code) is True
    assert check_local_government_code(code) is None
    assert local_government_code_check_digit(code[:5]) == int(code[5])


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("352153", "地方公共団体コードの検査用数字が正しくありません"),
        ("131017", "地方公共団体コードの検査用数字が正しくありません"),
        ("35215", "地方公共団体コードは6桁の数字です"),
        ("3521520", "地方公共団体コードは6桁の数字です"),
        ("３５２１５２", "地方公共団体コードは6桁の数字です"),
        ("", "地方公共団体コードは6桁の数字です"),
    ],
)
def test_local_government_code_refused(code: str, message: str) -> None:
    assert check_local_government_code(code) == message
    assert is_valid_local_government_code(code) is False


def test_local_government_code_remainders() -> None:
    # Σ = 0 → remainder 0 → 11 − 0 = 11 → last digit 1
    assert local_government_code_check_digit("00000") == 1
    # 0·6+0·5+0·4+0·3+6·2 = 12 → remainder 1 → 10 → 0
    assert local_government_code_check_digit("00006") == 0
    # 1·2 = 2 → remainder 2 → 9
    assert local_government_code_check_digit("00001") == 9


def test_local_government_code_check_digit_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="first5 must be 5 ASCII digits"):
        local_government_code_check_digit("3521")


# --- modulus 11 (宛名番号 / 世帯番号) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "check"),
    [
        # weights from the rightmost body digit: 2, 3, 4, 5, 6, 7, 2 …
        ("1", 9),  # 1·2 = 2 → 11 − 2 = 9
        ("10", 8),  # 0·2 + 1·3 = 3 → 8
        ("1234567", 4),  # 7·2+6·3+5·4+4·5+3·6+2·7+1·2 = 106 → r 7 → 4
        ("0000000", 0),  # r 0 → 0 (the standard)
        ("6", 0),  # 6·2 = 12 → r 1 → 0 (UNCONFIRMED choice)
        ("1000000", 9),  # 1·2 (7th from the right cycles back to weight 2) → 9
    ],
)
def test_mod11_check_digit(body: str, check: int) -> None:
    assert mod11_check_digit(body) == check
    assert with_mod11(body) == body + str(check)


@pytest.mark.parametrize(
    ("number", "label", "length", "message"),
    [
        ("12345674", "宛名番号", None, None),
        ("12345675", "宛名番号", None, "宛名番号の検査用数字が正しくありません"),
        ("1", "宛名番号", None, "宛名番号は2桁以上の数字です"),
        ("", "世帯番号", None, "世帯番号は2桁以上の数字です"),
        ("１２３４５６７４", "世帯番号", None, "世帯番号は2桁以上の数字です"),
        ("12345674", "宛名番号", 8, None),
        ("12345674", "宛名番号", 10, "宛名番号は10桁の数字です"),
        ("0012345674", "宛名番号", 10, None),
    ],
)
def test_check_mod11(number: str, label: str, length: int | None, message: str | None) -> None:
    assert check_mod11(number, label, length) == message


def test_mod11_rejects_bad_body() -> None:
    with pytest.raises(ValueError, match="body must be one or more ASCII digits"):
        mod11_check_digit("")
    with pytest.raises(ValueError, match="body must be one or more ASCII digits"):
        with_mod11("12a")


@given(st.text(alphabet="0123456789", min_size=1, max_size=15))
def test_mod11_round_trip(body: str) -> None:
    number = with_mod11(body)
    assert len(number) == len(body) + 1
    assert number[:-1] == body
    assert is_valid_mod11(number) is True
    assert check_mod11(number, "宛名番号") is None


@given(st.text(alphabet="0123456789", min_size=1, max_size=15), st.integers(1, 9))
def test_mod11_wrong_check_digit_is_invalid(body: str, delta: int) -> None:
    number = with_mod11(body)
    wrong = number[:-1] + str((int(number[-1]) + delta) % 10)
    assert is_valid_mod11(wrong) is False
    assert check_mod11(wrong, "世帯番号") == "世帯番号の検査用数字が正しくありません"
