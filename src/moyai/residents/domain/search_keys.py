"""Search keys for the resident registry (住民記録): 氏名, カナ and 住所.

Counter staff type names and readings in whatever width, kana type and spacing
the keyboard gives them; the registry stores what the resident declared.  The
functions here map both sides to a *search key* so that the comparison is
tolerant of differences that never distinguish two people, and of nothing else.
A key is for matching only: it is never displayed and never written back.

What every key does (in this order)
    1. NFKC: half-width kana → full-width (``ﾀﾞ`` → ``ダ``), full-width latin and
       digits → ASCII, CJK compatibility ideographs → unified ideographs
       (塚 U+FA10 → 塚, 隆 U+F9DC → 隆), ``゛`` → combining mark, ``ゟ`` → ``ヨリ``…
    2. remove white space (anything ``str.isspace``, including U+3000), zero-width
       characters (U+200B–U+200D, U+2060, U+FEFF) and variation selectors
       (U+FE00–U+FE0F, U+E0100–U+E01EF: the IVS on 葛󠄀 / 辻󠄀 is dropped), plus
       the separators of the particular key (below).
    3. NFKC again, so that characters which became adjacent compose
       (``カ ゛`` → ``ガ``).  Upper-casing happens before this pass for the
       same reason.

``kana_key`` (フリガナ column)
    steps 1–3, hiragana → katakana, latin letters upper-cased.  Word separators of
    foreign-name readings — middle dots ``・ ･ ·``, ``゠ ＝ =`` and hyphen-likes
    ``- ‐ − – — ―`` — are removed.  The long-vowel mark ``ー`` (and ``ｰ``) is kept:
    it is part of the reading.  Small kana, ヴ/ブ, ヰ/イ, ヲ/オ are NOT folded.

``name_key`` (氏名 column: kanji, kana or latin names)
    as ``kana_key`` and additionally removes ``' ’ ‘ . ,`` between latin parts,
    and removes ``ー`` unless it directly follows a kana (so ``MARIAーLUISA``
    typed in IME full-width mode matches ``MARIA-LUISA``, while ``ジョー`` keeps
    its long vowel).  Rule for foreign names: spaces, hyphens, middle dots,
    apostrophes and periods never matter, hence ``MARIA-LUISA``,
    ``MARIA LUISA``, ``MARIA・LUISA`` and ``MARIALUISA`` all key to
    ``MARIALUISA``.  Finally every kanji listed in ``data/kanji_variants.yaml``
    is folded to the canonical (first) member of its group (髙→高, 﨑→崎, 𠮷→吉…).

``address_key`` (住所)
    steps 1–3 (hiragana is *kept*: さいたま市 and サイタマ市 are different
    strings in an address master), latin letters upper-cased, then

    * a hyphen-like character (``- ‐ ‑ ‒ – — ― − ー ─ ━``; ``－ ｰ ﹣`` via NFKC)
      directly after an ASCII digit becomes ``-``: ``１−２``, ``1ー2`` → ``1-2``;
    * a run of kanji numerals (``〇一二三四五六七八九十百千``) directly before
      ``丁目``, ``番`` (``番地``), ``号``, ``条`` or ``地割`` becomes arabic digits:
      ``一丁目`` → ``1丁目``, ``二十三番地`` → ``23番地``, ``北一条西二丁目`` →
      ``北1条西2丁目``, positional ``一〇五号`` → ``105号``.  A run that does not
      parse as a number (``十二十``) is left alone.

    It does NOT unify ``1丁目2番3号`` with ``1-2-3`` or ``番`` with ``番地``, and
    does not fold kanji variants or ケ/ヶ in place names.

All keys are idempotent (``key(key(x)) == key(x)``) and never contain white space.
The variant fold table is read once from the data file (``functools.cache``).
"""

from __future__ import annotations

import functools
import re
import unicodedata

import jaconv

from moyai.platform.codes.datafiles import DataFileError, load

__all__ = [
    "address_key",
    "address_keys",
    "fuzzy_kana_key",
    "is_kana_query",
    "kana_key",
    "kanji_variant_groups",
    "name_key",
    "query_terms",
]

_PACKAGE = "moyai.residents"
_VARIANTS = "kanji_variants"

# Invisible characters removed from every key besides ``str.isspace`` ones.
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")

# Hyphen-like characters (after NFKC: U+FF0D －, U+FE63 ﹣ and U+2011 have become
# ``-`` / U+2010).  The long-vowel mark ー is handled separately.
_HYPHENS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
# Middle dots and double hyphens used between the parts of foreign names.
_NAME_DOTS = frozenset("\u30fb\u00b7\u2027\u30a0=")  # ・ · ‧ ゠ = (＝ and ･ via NFKC)
_KANA_SEPARATORS = _HYPHENS | _NAME_DOTS
_NAME_SEPARATORS = _KANA_SEPARATORS | frozenset("'\u2018\u2019.,")
_CHOON = "\u30fc"  # ー KATAKANA-HIRAGANA PROLONGED SOUND MARK

# Address: hyphen-likes that become "-" after a digit (ｰ → ー and － → - by NFKC).
_ADDRESS_HYPHENS = _HYPHENS | frozenset("\u30fc\u2500\u2501")
_KANJI_DIGITS = {
    "〇": 0, "一": 1, "二": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_ADDRESS_NUMERAL = re.compile(
    "([" + "".join(_KANJI_DIGITS) + "".join(_KANJI_UNITS) + "]+)(?=丁目|番|号|条|地割)"
)


def _is_invisible(ch: str) -> bool:
    cp = ord(ch)
    return (
        ch.isspace()
        or ch in _ZERO_WIDTH
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0100 <= cp <= 0xE01EF
    )


def _is_kana(ch: str) -> bool:
    """Hiragana, katakana (incl. ー and the combining sound marks) or kana supplements."""
    cp = ord(ch)
    return 0x3041 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0x1B000 <= cp <= 0x1B16F


@functools.cache
def _latin_upper_table() -> dict[int, int]:
    """Lower → upper for latin letters whose upper case is one NFKC-stable character.

    ``str.upper`` on everything would also touch Greek/Cyrillic and expand ß → SS;
    the table keeps case folding to what a counter needs (ASCII and accented latin).
    """
    table: dict[int, int] = {}
    ranges = (range(0x0250), range(0x1E00, 0x1F00))
    for block in ranges:
        for cp in block:
            ch = chr(cp)
            up = ch.upper()
            if (
                len(up) == 1
                and up != ch
                and unicodedata.name(ch, "").startswith("LATIN")
                and unicodedata.normalize("NFKC", up) == up
            ):
                table[cp] = ord(up)
    return table


def _upper_latin(text: str) -> str:
    return text.translate(_latin_upper_table())


def _clean(text: str, separators: frozenset[str], *, drop_stray_choon: bool) -> str:
    """NFKC, then drop invisibles and ``separators`` (see the module docstring)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        if _is_invisible(ch) or ch in separators:
            continue
        if drop_stray_choon and ch == _CHOON and not (out and _is_kana(out[-1])):
            continue
        out.append(ch)
    return "".join(out)


def _finish(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def kana_key(text: str) -> str:
    """Search key for a reading (カナ): ``ｶﾀ ｶﾅ``, ``かたかな``, ``カタ　カナ`` → ``カタカナ``.

    Never raises; characters it does not know are kept as they are (after NFKC).
    """
    cleaned = _clean(text, _KANA_SEPARATORS, drop_stray_choon=False)
    return _finish(_upper_latin(jaconv.hira2kata(cleaned)))


def name_key(text: str) -> str:
    """Search key for a name (氏名): width, spaces, kana type, latin case, separators
    and the kanji variants of ``data/kanji_variants.yaml`` do not matter."""
    cleaned = _clean(text, _NAME_SEPARATORS, drop_stray_choon=True)
    keyed = _finish(_upper_latin(jaconv.hira2kata(cleaned)))
    return keyed.translate(_fold_table())


def address_key(text: str) -> str:
    """Search key for an address (住所): width, spaces, hyphens after digits and
    kanji numerals before 丁目/番/番地/号/条/地割 do not matter."""
    keyed = _finish(_upper_latin(_clean(text, frozenset(), drop_stray_choon=False)))
    keyed = _ADDRESS_NUMERAL.sub(_arabic, keyed)
    out: list[str] = []
    for ch in keyed:
        if ch in _ADDRESS_HYPHENS and out and out[-1] in "0123456789":
            ch = "-"
        out.append(ch)
    return "".join(out)


def query_terms(text: str) -> list[str]:
    """Split a free-text name query on white space (half/full width) into name keys."""
    terms = (name_key(part) for part in unicodedata.normalize("NFKC", text).split())
    return [term for term in terms if term]


def is_kana_query(text: str) -> bool:
    """True when the query is only kana (any width, hiragana or katakana), ``ー``,
    name separators ``・ ゠ ＝`` and spaces — then the caller searches the カナ column.

    An empty or all-space query is not a kana query.
    """
    converted = jaconv.hira2kata(unicodedata.normalize("NFKC", text))
    seen_kana = False
    for ch in converted:
        if ch.isspace() or ch in "\u30fb\u30a0=":
            continue
        cp = ord(ch)
        if 0x30A1 <= cp <= 0x30FA or 0x30FC <= cp <= 0x30FE or 0x31F0 <= cp <= 0x31FF:
            seen_kana = True
            continue
        return False
    return seen_kana


# --- kanji variants -------------------------------------------------------------------


@functools.cache
def kanji_variant_groups() -> tuple[tuple[str, ...], ...]:
    """The groups of ``data/kanji_variants.yaml``, validated; canonical form first."""
    data = load(_PACKAGE, _VARIANTS)
    if data.kind != "variant_table":
        raise DataFileError(
            f"{data.path}: kind が variant_table ではありません ({data.kind!r})"
        )
    if not isinstance(data.entries, list):
        raise DataFileError(f"{data.path}: entries がリストではありません")
    groups: list[tuple[str, ...]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data.entries):
        if not isinstance(raw, list) or len(raw) < 2:
            raise DataFileError(
                f"{data.path}: entries[{index}] は2文字以上のリストではありません"
            )
        group: list[str] = []
        for ch in raw:
            if not isinstance(ch, str) or len(ch) != 1:
                raise DataFileError(
                    f"{data.path}: entries[{index}] の {ch!r} は1文字ではありません"
                )
            if unicodedata.normalize("NFKC", ch) != ch:
                raise DataFileError(
                    f"{data.path}: entries[{index}] の {ch!r} は NFKC で別の文字になります"
                )
            if ch in seen:
                raise DataFileError(
                    f"{data.path}: {ch!r} が entries[{seen[ch]}] と entries[{index}] の両方にあります"
                )
            seen[ch] = index
            group.append(ch)
        groups.append(tuple(group))
    return tuple(groups)


@functools.cache
def _fold_table() -> dict[int, str]:
    return {
        ord(variant): group[0]
        for group in kanji_variant_groups()
        for variant in group[1:]
    }


def _arabic(match: re.Match[str]) -> str:
    numeral = match.group(1)
    value = _kanji_number(numeral)
    return numeral if value is None else str(value)


def _kanji_number(numeral: str) -> int | None:
    """``二十三`` → 23, ``十`` → 10, ``千二百`` → 1200, positional ``一〇五`` → 105.

    Returns None for runs that are not a well-formed number (``十二十``, ``二三十``).
    """
    if not any(ch in _KANJI_UNITS for ch in numeral):
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in numeral))
    total = 0
    digit: int | None = None
    last_unit = 10_000
    for ch in numeral:
        if ch in _KANJI_DIGITS:
            if digit is not None or _KANJI_DIGITS[ch] == 0:
                return None
            digit = _KANJI_DIGITS[ch]
        else:
            unit = _KANJI_UNITS[ch]
            if unit >= last_unit:
                return None
            total += (1 if digit is None else digit) * unit
            digit = None
            last_unit = unit
    return total + (digit or 0)


# Prefecture, county, municipality (四日市市, 廿日市市: a 市 directly followed by 市 is part of the name).
_CITY_PREFIX = re.compile(r"^(?:.{2,3}?[都道府県])?(?:.+?郡)?.+?[市区町村](?![市区町村])")


def address_keys(address: str) -> list[str]:
    """Search keys of an address: the whole, and the part after the municipality (町名から検索)."""
    full = address_key(address)
    if not full:
        return []
    out = [full]
    m = _CITY_PREFIX.match(full)
    if m and m.end() < len(full):
        town = full[m.end() :]
        out.append(town)
        for prefix in ("大字", "字"):  # 大字久米 is found by 久米
            if town.startswith(prefix) and len(town) > len(prefix):
                out.append(town[len(prefix) :])
                break
    return out


# ---------------------------------------------------------------- あいまい検索 (fuzzy kana)

# 標準仕様書 2.1.2: voiced/semi-voiced marks, the listed pairs (ワ=ハ, オ=ヲ, ヂ=ジ, ヅ=ズ, ヴ=ブ),
# small/large kana and the long-vowel mark are ignored; a ウ after an オ段 kana counts as オ.
_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_PAIRS = str.maketrans({"ヲ": "オ", "ワ": "ハ", "ヂ": "ジ", "ヅ": "ズ"})
_VU = (("ヴァ", "バ"), ("ヴィ", "ビ"), ("ヴェ", "ベ"), ("ヴォ", "ボ"), ("ヴ", "ブ"))
_O_ROW = frozenset("オコソトノホモヨロヲゴゾドボポョォ")


def _unvoice(ch: str) -> str:
    base = unicodedata.normalize("NFD", ch)[0]
    return base if base != ch else ch


def fuzzy_kana_key(text: str) -> str:
    """Search key for あいまい検索 of readings (標準仕様書 2.1.2-b, -f, -g).

    Applied after :func:`kana_key`: ー is dropped, ヲ→オ, ワ→ハ, ヂ→ジ, ヅ→ズ, ヴァ→バ (ヴ→ブ), small kana become
    large, voiced and semi-voiced kana lose their marks (ガ→カ, ピ→ヒ), and from the second
    character on a ウ that follows an オ段 kana becomes オ (トウキョウ ~ トオキョオ).
    """
    base = kana_key(text).replace(_CHOON, "")
    for vu, b in _VU:
        base = base.replace(vu, b)
    out: list[str] = []
    for i, ch in enumerate(base):
        if ch == "ウ" and i > 0 and base[i - 1] in _O_ROW:
            out.append("オ")
            continue
        out.append(ch)
    s = "".join(out).translate(_PAIRS).translate(_SMALL)
    return "".join(_unvoice(c) for c in s)
