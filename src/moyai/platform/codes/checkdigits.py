"""Check digits (検査用数字) of the numbers a resident registry keeps.

- 個人番号 (individual number, "My Number"): 12 digits, the last one a check digit over the
  first 11 (行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第8条).
  From the rightmost of the 11 digits, weights 2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6;
  r = Σ mod 11; check = 0 when r ≤ 1, else 11 − r.
- 全国地方公共団体コード (local government code): 6 digits = prefecture (2) + municipality (3) +
  check digit.  Weights 6, 5, 4, 3, 2 on the first five; check = last digit of 11 − (Σ mod 11).
- 宛名番号 (addressee number) and 世帯番号 (household number): a sequence number followed by a
  modulus-11 check digit, weights 2..7 (住民記録システム標準仕様書 1.1.13, "M11W2～7", remainder 0
  gives 0).

UNCONFIRMED (宛名番号 / 世帯番号): the standard names the method but leaves open two details.
This module chooses, and callers must not rely on anything else without changing it here:

1. the weights 2, 3, 4, 5, 6, 7, 2, 3 … are applied starting from the RIGHTMOST digit of the
   body (the digit next to the check digit), cycling;
2. r = Σ mod 11; check = 0 when r is 0 (as the standard says) AND when r is 1 (11 − 1 = 10 has
   no single digit; the standard is silent), else 11 − r.

Only ASCII digits are accepted: full-width digits (全角数字) must be normalised by the caller
(e.g. with ``unicodedata.normalize("NFKC", …)``); they are refused here, never accepted silently.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "check_individual_number",
    "check_local_government_code",
    "check_mod11",
    "individual_number_check_digit",
    "is_valid_individual_number",
    "is_valid_local_government_code",
    "is_valid_mod11",
    "local_government_code_check_digit",
    "mod11_check_digit",
    "with_mod11",
]

_INDIVIDUAL_NUMBER_WEIGHTS: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6)  # rightmost first
_LOCAL_GOVERNMENT_WEIGHTS: tuple[int, ...] = (6, 5, 4, 3, 2)  # leftmost first
_MOD11_WEIGHTS: tuple[int, ...] = (2, 3, 4, 5, 6, 7)  # cycling, rightmost body digit first


def _is_ascii_digits(s: str, length: int | None = None) -> bool:
    if not s or not s.isascii() or not s.isdigit():
        return False
    return length is None or len(s) == length


def _require_digits(s: str, length: int | None, what: str) -> None:
    if not _is_ascii_digits(s, length):
        size = f"{length} ASCII digits" if length is not None else "one or more ASCII digits"
        raise ValueError(f"{what} must be {size}, got {s!r}")


def _weighted_sum_from_right(digits: str, weights: Sequence[int]) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        total += int(ch) * weights[i % len(weights)]
    return total


# --- 個人番号 (individual number) ------------------------------------------------------------


def individual_number_check_digit(first11: str) -> int:
    """Check digit of a 個人番号 from its first 11 digits (ValueError when not 11 ASCII digits)."""
    _require_digits(first11, 11, "first11")
    r = _weighted_sum_from_right(first11, _INDIVIDUAL_NUMBER_WEIGHTS) % 11
    return 0 if r <= 1 else 11 - r


def check_individual_number(s: str) -> str | None:
    """None when ``s`` is a valid 個人番号, else the reason in Japanese."""
    if not _is_ascii_digits(s, 12):
        return "個人番号は12桁の数字です"
    if individual_number_check_digit(s[:11]) != int(s[11]):
        return "個人番号の検査用数字が正しくありません"
    return None


def is_valid_individual_number(s: str) -> bool:
    return check_individual_number(s) is None


# --- 全国地方公共団体コード (local government code) -------------------------------------------


def local_government_code_check_digit(first5: str) -> int:
    """Check digit of a 全国地方公共団体コード from its first 5 digits."""
    _require_digits(first5, 5, "first5")
    total = sum(int(ch) * w for ch, w in zip(first5, _LOCAL_GOVERNMENT_WEIGHTS, strict=True))
    return (11 - total % 11) % 10


def check_local_government_code(code: str) -> str | None:
    """None when ``code`` is a valid 6-digit 全国地方公共団体コード, else the reason in Japanese."""
    if not _is_ascii_digits(code, 6):
        return "地方公共団体コードは6桁の数字です"
    if local_government_code_check_digit(code[:5]) != int(code[5]):
        return "地方公共団体コードの検査用数字が正しくありません"
    return None


def is_valid_local_government_code(code: str) -> bool:
    return check_local_government_code(code) is None


# --- modulus 11, weights 2..7 (宛名番号 / 世帯番号) --------------------------------------------


def mod11_check_digit(body: str) -> int:
    """Modulus-11 check digit (weights 2..7 from the rightmost body digit; r 0 or 1 → 0)."""
    _require_digits(body, None, "body")
    r = _weighted_sum_from_right(body, _MOD11_WEIGHTS) % 11
    return 0 if r <= 1 else 11 - r


def with_mod11(body: str) -> str:
    """``body`` with its modulus-11 check digit appended as the last digit."""
    return body + str(mod11_check_digit(body))


def check_mod11(number: str, label: str, length: int | None = None) -> str | None:
    """None when ``number`` (body + check digit) is valid, else the reason in Japanese.

    ``label`` names the number in the message (e.g. "宛名番号"); ``length``, when given, is the
    required total number of digits including the check digit.
    """
    if length is not None:
        if not _is_ascii_digits(number, length):
            return f"{label}は{length}桁の数字です"
    elif not _is_ascii_digits(number) or len(number) < 2:
        return f"{label}は2桁以上の数字です"
    if mod11_check_digit(number[:-1]) != int(number[-1]):
        return f"{label}の検査用数字が正しくありません"
    return None


def is_valid_mod11(number: str) -> bool:
    return check_mod11(number, "番号") is None
