"""Search keys for 氏名 / カナ / 住所 (moyai.residents.domain.search_keys)."""

from __future__ import annotations

import unicodedata

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moyai.platform.codes.datafiles import load
from moyai.residents.domain.search_keys import (
    address_key,
    is_kana_query,
    kana_key,
    kanji_variant_groups,
    name_key,
    query_terms,
)

# --- kana_key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["ｶﾀｶﾅ", "カタカナ", "かたかな", "カタ\u3000カナ", " ｶﾀ ｶﾅ "]
)
def test_kana_key_width_kana_type_and_spaces(text: str) -> None:
    assert kana_key(text) == "カタカナ"


def test_kana_key_full_name() -> None:
    assert kana_key("ヤマダ\u3000タロウ") == "ヤマダタロウ"
    assert kana_key("やまだたろう") == "ヤマダタロウ"
    assert kana_key("ﾔﾏﾀﾞ ﾀﾛｳ") == "ヤマダタロウ"


def test_kana_key_half_width_voiced_marks_compose() -> None:
    assert kana_key("ﾀﾞ") == "ダ"
    assert kana_key("ﾊﾟﾋﾞ") == "パビ"
    assert kana_key("カ゛") == "ガ"  # stand-alone ゛ typed after the kana


def test_kana_key_keeps_long_vowel_and_small_kana() -> None:
    assert kana_key("ｼﾞｮｰ") == "ジョー"
    assert kana_key("じょー") == "ジョー"
    # conservative: these are NOT folded
    assert kana_key("ヴ") != kana_key("ブ")
    assert kana_key("ャ") != kana_key("ヤ")
    assert kana_key("ヲ") != kana_key("オ")


def test_kana_key_foreign_name_separators_and_latin() -> None:
    assert kana_key("ｽﾐｽ･ｼﾞｮﾝ") == "スミスジョン"
    assert kana_key("スミス＝ジョン") == "スミスジョン"
    assert kana_key("ａｂｃ 12") == "ABC12"


def test_kana_key_keeps_unknown_characters() -> None:
    assert kana_key("ヤマダ★") == "ヤマダ★"
    assert kana_key("") == ""


# --- name_key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("髙橋", "高橋"),
        ("山﨑", "山崎"),
        ("山嵜", "山崎"),
        ("齋藤", "斎藤"),
        ("齊藤", "斎藤"),
        ("斉藤", "斎藤"),
        ("渡邊", "渡辺"),
        ("渡邉", "渡辺"),
        ("𠮷田", "吉田"),
        ("濵田", "浜田"),
        ("長嶋", "長島"),
        ("德永", "徳永"),
        ("冨田", "富田"),
        ("\ufa10本", "塚本"),  # compatibility ideograph 塚 → 塚 via NFKC
        ("\uf9dc", "隆"),  # compatibility ideograph 隆 → 隆 via NFKC
        ("葛\U000e0100西", "葛西"),  # IVS variation selector dropped
    ],
)
def test_name_key_folds_kanji_variants(variant: str, canonical: str) -> None:
    assert name_key(variant) == name_key(canonical)
    assert name_key(variant) == canonical


def test_name_key_all_four_saito_are_one_key() -> None:
    assert {name_key(s) for s in ["齋藤", "斎藤", "齊藤", "斉藤"]} == {"斎藤"}


def test_name_key_distinct_names_stay_distinct() -> None:
    assert name_key("高橋") != name_key("高槁")
    assert name_key("藤") != name_key("籐")
    assert name_key("荻原") != name_key("萩原")


def test_name_key_spaces_width_and_kana() -> None:
    assert name_key("山田\u3000太郎") == name_key("山田 太郎") == "山田太郎"
    assert name_key("さくら") == name_key("ｻｸﾗ") == "サクラ"


def test_name_key_latin_case_and_width() -> None:
    assert name_key("ＳＭＩＴＨ\u3000Ｊｏｈｎ") == name_key("smith john") == "SMITHJOHN"


@pytest.mark.parametrize(
    "text",
    [
        "MARIA-LUISA",
        "MARIA LUISA",
        "MARIALUISA",
        "maria－luisa",
        "MARIA‐LUISA",
        "MARIA・LUISA",
        "MARIA･LUISA",
        "MARIAーLUISA",  # ー typed in IME full-width mode
        "Maria Luisa",
    ],
)
def test_name_key_foreign_name_separators_do_not_matter(text: str) -> None:
    # Rule: spaces, hyphens, middle dots (and ー not following kana) are all removed.
    assert name_key(text) == "MARIALUISA"


def test_name_key_apostrophes_and_periods() -> None:
    assert name_key("O'Brien") == name_key("O’BRIEN") == name_key("obrien") == "OBRIEN"
    assert name_key("J. Smith") == "JSMITH"


def test_name_key_keeps_long_vowel_after_kana() -> None:
    assert name_key("ジョー") == "ジョー"
    assert name_key("ｼﾞｮｰ　スミス") == "ジョースミス"
    assert name_key("ジョー") != name_key("ジョ")


def test_name_key_accented_latin_is_upper_cased_not_stripped() -> None:
    assert name_key("josé") == name_key("JOSÉ") == "JOSÉ"
    assert name_key("José") != name_key("JOSE")


# --- address_key ----------------------------------------------------------------------


def test_address_key_kanji_and_arabic_chome() -> None:
    expected = "周南市岐山通1丁目1番地"
    assert address_key("周南市岐山通一丁目１番地") == expected
    assert address_key("周南市岐山通1丁目1番地") == expected
    assert address_key("周南市 岐山通　１丁目１番地") == expected


@pytest.mark.parametrize(
    "text", ["１−２", "1-2", "1ー2", "１－２", "1‐2", "1 - 2", "1ｰ2"]
)
def test_address_key_hyphens_after_digits(text: str) -> None:
    assert address_key(text) == "1-2"


def test_address_key_keeps_long_vowel_in_words() -> None:
    assert address_key("コーポ岐山 101号室") == "コーポ岐山101号室"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("二十三番地", "23番地"),
        ("十丁目", "10丁目"),
        ("三十五号", "35号"),
        ("千二百三十四番地", "1234番地"),
        ("一〇五号", "105号"),
        ("北一条西二丁目", "北1条西2丁目"),
        ("第三地割", "第3地割"),
        ("十二十番", "十二十番"),  # not a number: left alone
        ("三軒茶屋", "三軒茶屋"),  # no 丁目/番/号 after it
    ],
)
def test_address_key_kanji_numerals(text: str, expected: str) -> None:
    assert address_key(text) == expected


def test_address_key_keeps_hiragana() -> None:
    assert address_key("さいたま市") != address_key("サイタマ市")


# --- query_terms / is_kana_query ------------------------------------------------------


def test_query_terms() -> None:
    assert query_terms(" 髙橋\u3000 たろう  ") == ["高橋", "タロウ"]
    assert query_terms("ＳＭＩＴＨ　john") == ["SMITH", "JOHN"]
    assert query_terms("\u3000 ") == []
    assert query_terms("- ・") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("やまだ\u3000たろう", True),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", True),
        ("ジョー", True),
        ("スミス・ジョン", True),
        ("山田", False),
        ("やまだ太郎", False),
        ("SMITH", False),
        ("ヤマダ1", False),
        ("", False),
        ("\u3000", False),
    ],
)
def test_is_kana_query(text: str, expected: bool) -> None:
    assert is_kana_query(text) is expected


# --- the data file --------------------------------------------------------------------


def test_variant_file_header() -> None:
    data = load("moyai.residents", "kanji_variants")
    assert data.kind == "variant_table"
    assert "search" in data.source
    assert "NOT an official" in data.source
    assert len(data.entries) >= 40


def test_variant_groups_are_well_formed() -> None:
    raw = load("moyai.residents", "kanji_variants").entries
    seen: set[str] = set()
    for group in raw:
        assert isinstance(group, list)
        assert all(isinstance(ch, str) and len(ch) == 1 for ch in group), group
        assert len(set(group)) == len(group) >= 2, group
        # no dead entries: NFKC would already have replaced such a member
        assert all(unicodedata.normalize("NFKC", ch) == ch for ch in group), group
        assert not seen & set(group), group
        seen |= set(group)


def test_variant_groups_canonical_first() -> None:
    groups = kanji_variant_groups()
    by_first = {g[0]: g for g in groups}
    assert by_first["高"] == ("高", "髙")
    assert by_first["崎"][:2] == ("崎", "﨑")
    assert by_first["斎"] == ("斎", "齋", "齊", "斉")
    assert by_first["吉"] == ("吉", "𠮷")
    for group in groups:
        for member in group:
            assert name_key(member) == group[0]


# --- properties -----------------------------------------------------------------------

_TRICKY = st.sampled_from(
    list(
        " \u3000\u00a0-‐−－ーｰ・･゠＝'’.,゛\u3099\u0301\u200b\ufe00"
        "aAｱｶﾞかカ高髙﨑𠮷\ufa10１一丁目番号十ß¨ゟ"
    )
)
_TEXT = st.text(st.one_of(_TRICKY, st.characters()), max_size=20)
_KATAKANA = st.text(
    st.one_of(
        st.characters(min_codepoint=0x30A1, max_codepoint=0x30FA),
        st.sampled_from(list("ーヽヾ")),
    )
)


@given(_TEXT)
def test_kana_key_idempotent(text: str) -> None:
    key = kana_key(text)
    assert kana_key(key) == key


@given(_TEXT)
def test_name_key_idempotent(text: str) -> None:
    key = name_key(text)
    assert name_key(key) == key


@given(_TEXT)
def test_address_key_idempotent(text: str) -> None:
    key = address_key(text)
    assert address_key(key) == key


@given(_KATAKANA)
def test_kana_key_ignores_hiragana_katakana(text: str) -> None:
    assert kana_key(jaconv.kata2hira(text)) == kana_key(text)


@given(_TEXT)
def test_keys_never_contain_white_space(text: str) -> None:
    for key in (kana_key(text), name_key(text), address_key(text), *query_terms(text)):
        assert not any(ch.isspace() for ch in key), key


@given(_TEXT)
def test_query_terms_are_name_keys(text: str) -> None:
    for term in query_terms(text):
        assert term
        assert name_key(term) == term
