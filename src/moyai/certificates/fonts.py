"""The fonts of a certificate and the check that every character has a glyph in them.

Names are set in IPAmj明朝 (the 文字情報基盤 MJ characters: 𠮷, 髙, 﨑 and variation sequences),
other text in IPAex明朝 with Noto Serif CJK JP behind it; all three come from Debian packages
(``fonts-ipamj-mincho``, ``fonts-ipaexfont``, ``fonts-noto-cjk``).

WeasyPrint (through Pango and fontconfig) would quietly take a glyph from any other font on the
machine, or print a blank box, for a character missing from these. :func:`check_glyphs` looks
every character up in the character maps of the very font files the stylesheet names, and a
character no font of its chain has is an error (標準仕様書 5.8: an alert, never a substitute).
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fontTools.ttLib import TTFont

from .domain import CertificateError, CertificateErrorCode


@dataclass(frozen=True)
class FontFile:
    family: str  # the family name the stylesheet uses
    path: Path
    index: int = 0  # face number in a collection (.ttc)
    package: str = ""  # the Debian package that ships it

    def css_src(self) -> str:
        return f'url("{self.path.as_uri()}")'


def _env_path(var: str, default: str) -> Path:
    return Path(os.environ.get(var, default))


@functools.cache
def font_files() -> tuple[FontFile, FontFile, FontFile]:
    """(names, text, fallback): IPAmj明朝, IPAex明朝, Noto Serif CJK JP (paths may be overridden by
    MOYAI_FONT_NAME / MOYAI_FONT_TEXT / MOYAI_FONT_FALLBACK)."""
    name = FontFile("MoyaiName", _env_path("MOYAI_FONT_NAME", "/usr/share/fonts/truetype/ipamj/ipamjm.ttf"),
                    package="fonts-ipamj-mincho")
    text = FontFile("MoyaiText", _env_path("MOYAI_FONT_TEXT", "/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf"),
                    package="fonts-ipaexfont")
    noto = _env_path("MOYAI_FONT_FALLBACK", "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")
    fallback = FontFile("MoyaiFallback", noto, index=_face_index(noto, "Noto Serif CJK JP"), package="fonts-noto-cjk")
    for f in (name, text, fallback):
        if not f.path.is_file():
            raise FileNotFoundError(f"フォント {f.path} がありません（Debian パッケージ {f.package} を入れてください）")
    return name, text, fallback


def _face_index(path: Path, family: str) -> int:
    """Index of ``family`` in a font collection (0 for a single font or when not found)."""
    if path.suffix.lower() != ".ttc" or not path.is_file():
        return 0
    from fontTools.ttLib import TTCollection

    coll = TTCollection(str(path), lazy=True)
    try:
        for i, font in enumerate(coll.fonts):
            if font["name"].getDebugName(1) == family:
                return i
    finally:
        coll.close()
    return 0


NAME_CHAIN: Final = ("name", "text", "fallback")  # names: IPAmj明朝 first
TEXT_CHAIN: Final = ("text", "fallback", "name")  # other text: IPAex, Noto, then IPAmj (rare place names)


@dataclass(frozen=True)
class Coverage:
    """The characters (and variation sequences) one font maps to a glyph."""

    codepoints: frozenset[int]
    sequences: frozenset[tuple[int, int]]  # (base, variation selector) of its format-14 table


@functools.cache
def coverage(role: str) -> Coverage:
    f = dict(zip(("name", "text", "fallback"), font_files(), strict=True))[role]
    font = TTFont(str(f.path), fontNumber=f.index, lazy=True)
    try:
        cmap = font["cmap"]
        cps = frozenset(cmap.getBestCmap() or {})
        seqs: set[tuple[int, int]] = set()
        for table in cmap.tables:
            if table.format == 14:
                for vs, pairs in table.uvsDict.items():
                    seqs.update((base, vs) for base, _glyph in pairs)
    finally:
        font.close()
    return Coverage(cps, frozenset(seqs))


def _is_selector(cp: int) -> bool:
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def _ignorable(ch: str) -> bool:
    return ch.isspace() or (unicodedata.category(ch) in ("Cc", "Cf") and not _is_selector(ord(ch)))


def missing_glyphs(text: str, *, name: bool) -> list[str]:
    """Characters (or base+selector sequences) of ``text`` that no font of its chain has."""
    chain = [coverage(r) for r in (NAME_CHAIN if name else TEXT_CHAIN)]
    out: list[str] = []
    prev: str | None = None
    for ch in text:
        cp = ord(ch)
        if _is_selector(cp):
            if prev is None or not any((ord(prev), cp) in c.sequences for c in chain):
                out.append((prev or "") + ch)
        elif not _ignorable(ch) and not any(cp in c.codepoints for c in chain):
            out.append(ch)
        prev = ch
    return out


def check_glyphs(texts: Iterable[tuple[str, bool]]) -> None:
    """Raise :class:`CertificateError` naming every character no font of its chain has."""
    missing: dict[str, None] = {}
    for text, name in texts:
        for ch in missing_glyphs(text, name=name):
            missing.setdefault(ch)
    if missing:
        shown = "、".join(f"「{c}」(U+{'+'.join(f'{ord(x):04X}' for x in c)})" for c in missing)
        raise CertificateError(CertificateErrorCode.MISSING_GLYPH,
                               f"証明書のフォントにない文字があります: {shown}。外字の登録が必要です")


def font_face_css() -> str:
    """The three ``@font-face`` rules, each loading the very face :func:`coverage` reads.

    WeasyPrint loads a font file whole: given the Noto collection (or ``local()``, which fails
    for it) the fallback would not be the JP face, or not load at all. The JP face is therefore
    loaded from a single-face copy (:func:`.weasy.fallback_face_file`)."""
    from .weasy import fallback_face_file

    name, text, fallback = font_files()
    faces = [f"@font-face {{ font-family: {f.family}; src: {f.css_src()}; }}" for f in (name, text)]
    single = FontFile(fallback.family, fallback_face_file(fallback.path, fallback.index), package=fallback.package)
    faces.append(f"@font-face {{ font-family: {single.family}; src: {single.css_src()}; }}")
    return "\n".join(faces)
