"""The fallback font is really loaded and used; the speed-ups draw the very same certificate.

- The fallback face (Noto Serif CJK JP) loads without WeasyPrint's "cannot be loaded" warning, and
  a character that only it has is drawn from it (embedded as ``+MoyaiFallback``), not from some
  other font of the machine.
- :mod:`moyai.certificates.weasy` (no font copy per PDF, subsets from a prepared face) and the
  small user-agent stylesheet give the same fonts, glyphs and page as WeasyPrint's own way.
- The PAdES signature is made without pyHanko's dummy signature, and still when the room
  reserved for it is too small.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont
from weasyprint import CSS, HTML

from moyai.certificates import fonts, signing, weasy
from moyai.certificates.domain import Form
from moyai.certificates.render import _UA_ELEMENTS, Renderer, _PageHTML, renderer
from tests.certificates.test_cert_pdf import POPPLER, YOSHI, Tenant, embedded_fonts, household_cert, run
from tests.certificates.test_cert_pdf import tenant as tenant  # the fixture

FALLBACK_ONLY = "丛"  # U+4E1B: in Noto Serif CJK JP, in neither IPAex明朝 nor IPAmj明朝


def _drawn(ttf: TTFont, text: str, to_unicode: dict[int, str]) -> bool:
    """The glyph the PDF uses for ``text`` in this embedded font has an outline."""
    cids = [cid for cid, t in to_unicode.items() if t == text]
    if not cids:
        return False
    order = ttf.getGlyphOrder()
    pen = BoundsPen(ttf.getGlyphSet())
    ttf.getGlyphSet()[order[cids[0]]].draw(pen)
    return pen.bounds is not None


def test_the_fallback_face_loads_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="weasyprint")
    Renderer()
    assert not [r for r in caplog.records if "cannot be loaded" in r.getMessage()], caplog.text
    css = fonts.font_face_css()
    m = re.search(r'font-family: MoyaiFallback; src: url\("file://([^"]+)"\)', css)
    assert m, css  # a file of its own, not local() (which finds no face of a collection)
    face = TTFont(m.group(1), lazy=True)
    assert face["name"].getDebugName(1) == "Noto Serif CJK JP"
    assert frozenset(face.getBestCmap()) == fonts.coverage("fallback").codepoints


def test_a_character_only_the_fallback_has_is_drawn_from_it() -> None:
    cp = ord(FALLBACK_ONLY)
    assert cp in fonts.coverage("fallback").codepoints
    assert cp not in fonts.coverage("text").codepoints and cp not in fonts.coverage("name").codepoints
    cert = household_cert(address=f"山口県周南市{FALLBACK_ONLY}町一丁目1番地")
    pdf = renderer().render(cert, "x").pdf
    used = {re.sub(r"^[A-Z]{6}\+", "", base): (tu, ttf) for base, tu, ttf in embedded_fonts(pdf)}
    assert set(used) == {"MoyaiName", "MoyaiText", "MoyaiFallback"}, set(used)  # no other font of the machine
    tu, ttf = used["MoyaiFallback"]
    assert _drawn(ttf, FALLBACK_ONLY, tu), "丛 is not drawn from the fallback face"
    assert not any(FALLBACK_ONLY in t for t in used["MoyaiText"][0].values())
    tu_name, ttf_name = used["MoyaiName"]
    assert _drawn(ttf_name, YOSHI, tu_name)  # names stay in IPAmj明朝


def test_the_font_speed_ups_are_active_and_keep_one_view_per_face() -> None:
    r = renderer()
    r.render(household_cert(), "x")
    before = dict(weasy.stats)
    for _ in range(3):
        r.render(household_cert(), "x")
    assert weasy.active()
    assert weasy.stats["views"] == before["views"]  # one view per face, not one per PDF
    assert weasy.stats["view_hits"] >= before["view_hits"] + 6  # two fonts (names, text) in each of 3 PDFs
    assert weasy.stats["subsets"] >= before["subsets"] + 6
    assert weasy.stats["prepared"] == before["prepared"]  # each face prepared once


def _fonts_of(pdf: bytes) -> dict[str, dict[str, tuple[int, ...]]]:
    """Per embedded font (tag removed): text → the glyph's outline bounds."""
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    for base, tu, ttf in embedded_fonts(pdf):
        glyphs = ttf.getGlyphSet()
        order = ttf.getGlyphOrder()
        shapes: dict[str, tuple[int, ...]] = {}
        for cid, text in tu.items():
            pen = BoundsPen(glyphs)
            glyphs[order[cid]].draw(pen)
            shapes[text] = tuple(round(v) for v in (pen.bounds or ()))
        out[re.sub(r"^[A-Z]{6}\+", "", base)] = shapes
    return out


def _page_png(pdf: bytes, tmp_path: Path, name: str) -> bytes:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    run("pdftoppm", "-png", "-r", "100", "-singlefile", str(path), str(tmp_path / name))
    return (tmp_path / f"{name}.png").read_bytes()


def test_the_font_speed_ups_embed_the_same_glyphs(tmp_path: Path) -> None:
    cert = household_cert(address=f"山口県周南市{FALLBACK_ONLY}町一丁目1番地")
    r = renderer()
    fast = r.render(cert, "x").pdf
    with weasy.disabled():
        plain = r.render(cert, "x").pdf
    assert not weasy.active() or _fonts_of(fast) == _fonts_of(plain)
    shapes = _fonts_of(fast)
    assert shapes["MoyaiName"][YOSHI] and shapes["MoyaiFallback"][FALLBACK_ONLY]  # outlines, not blanks
    if POPPLER:
        assert _page_png(fast, tmp_path, "fast") == _page_png(plain, tmp_path, "plain")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.add(tag)


@pytest.mark.parametrize("form", [Form.HOUSEHOLD, Form.INDIVIDUAL])
def test_a_page_uses_only_the_elements_of_the_small_user_agent_sheet(form: Form) -> None:
    cert = dataclasses.replace(household_cert(n_extra=4), form=form, official_use=True, omitted=("個人番号",))
    parser = _Tags()
    parser.feed(renderer().html(cert, "x", watermark="見本"))
    assert parser.tags <= _UA_ELEMENTS, parser.tags - _UA_ELEMENTS
    assert {"table", "td", "img", "h1", "section", "div"} <= parser.tags


@pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftoppm) not installed")
def test_the_small_user_agent_sheet_draws_the_same_pages(tmp_path: Path) -> None:
    r = renderer()
    cert = dataclasses.replace(household_cert(n_extra=6), official_use=True)  # two pages
    page = r.html(cert, "x" * 150, watermark="見本")
    sheets = [r.stylesheet, CSS(string=r.page_css(cert))]
    small = _PageHTML(string=page).render(stylesheets=sheets, font_config=r.font_config)
    full = HTML(string=page).render(stylesheets=sheets, font_config=r.font_config)
    assert len(small.pages) == len(full.pages) == 2
    for i in (1, 2):
        a, b = tmp_path / f"small{i}", tmp_path / f"full{i}"
        (tmp_path / "s.pdf").write_bytes(small.write_pdf())
        (tmp_path / "f.pdf").write_bytes(full.write_pdf())
        run("pdftoppm", "-png", "-r", "100", "-f", str(i), "-l", str(i), "-singlefile", str(tmp_path / "s.pdf"), str(a))
        run("pdftoppm", "-png", "-r", "100", "-f", str(i), "-l", str(i), "-singlefile", str(tmp_path / "f.pdf"), str(b))
        assert Path(f"{a}.png").read_bytes() == Path(f"{b}.png").read_bytes(), f"page {i} differs"


def test_signing_reserves_room_without_a_dummy_signature(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyhanko.sign.signers import pdf_signer

    def no_estimate(*_a: object, **_k: object) -> None:
        raise AssertionError("pyHanko estimated the signature size")

    monkeypatch.setattr(pdf_signer.PdfSigningSession, "estimate_signature_container_size", no_estimate)
    pdf = renderer().render(household_cert(), signing.sign_payload(household_cert(), tenant.identity)).pdf
    signed = tenant.signer.sign(pdf)
    result = signing.verify_pdf(signed, [tenant.ca])
    assert result.genuine, result.problems


def test_a_signature_larger_than_the_room_reserved_is_made_again(tenant: Tenant) -> None:
    signer = signing.PdfSigner(tenant.identity)
    signer.bytes_reserved = 64  # far too small: pyHanko refuses, the signer retries with its estimate
    cert = household_cert()
    pdf = renderer().render(cert, signing.sign_payload(cert, tenant.identity)).pdf
    result = signing.verify_pdf(signer.sign(pdf), [tenant.ca])
    assert result.genuine, result.problems
    assert result.serial == cert.serial


def test_long_lived_objects_are_frozen_after_the_first_pdf() -> None:
    import gc

    renderer().render(household_cert(), "x")
    assert gc.get_freeze_count() > 10_000  # the app, the renderer: out of the full collections' way
    frozen = gc.get_freeze_count()
    renderer().render(household_cert(), "x")
    assert gc.get_freeze_count() == frozen  # once per process, not per PDF


def test_the_fallback_copy_is_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOYAI_FONT_CACHE", str(tmp_path / "cache"))
    src = fonts.font_files()[2]
    if src.path.suffix.lower() != ".ttc":
        pytest.skip("the fallback is a single font file here")
    first = weasy.fallback_face_file(src.path, src.index)
    assert first.parent == tmp_path / "cache" and first.stat().st_size > 1_000_000
    stamp = first.stat().st_mtime_ns
    assert weasy.fallback_face_file(src.path, src.index) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no half-written file left
    shutil.rmtree(tmp_path / "cache")
