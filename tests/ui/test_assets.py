"""The built static assets: design tokens as custom properties, WCAG 2.2 AA contrast, no CDN."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import moyai.ui

STATIC = Path(moyai.ui.__file__).parent / "static" / "ui"
FRONTEND = Path(moyai.ui.__file__).parents[3] / "frontend"
TEMPLATES = Path(moyai.ui.__file__).parent / "templates"


def _tokens() -> dict[str, str]:
    css = (STATIC / "tokens.css").read_text(encoding="utf-8")
    return dict(re.findall(r"(--[a-z0-9-]+):\s*([^;]+);", css))


def _rules() -> list[tuple[str, dict[str, str]]]:
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "counter.css").read_text(encoding="utf-8"), flags=re.S)
    out = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decls = dict((k.strip(), v.strip()) for k, v in re.findall(r"([a-z-]+)\s*:\s*([^;]+)", body))
        out.append((selector.strip(), decls))
    return out


def _resolve(value: str, tokens: dict[str, str]) -> str:
    for _ in range(5):
        m = re.search(r"var\((--[a-z0-9-]+)\)", value)
        if not m:
            return value
        assert m.group(1) in tokens, f"{m.group(1)} is not a design token"
        value = value.replace(m.group(0), tokens[m.group(1)])
    return value


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.strip().lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    assert re.fullmatch(r"[0-9a-fA-F]{6}", h), f"not an opaque colour: {hex_colour}"
    r, g, b = (int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def luminance(hex_colour: str) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in _rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the classic AA grey
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_tokens_css_holds_the_design_tokens_package() -> None:
    tokens = _tokens()
    assert len(tokens) >= 200
    assert tokens["--color-primitive-blue-900"] == "#0017c1"
    assert tokens["--color-neutral-white"] == "#ffffff"
    lock = json.loads((FRONTEND / "package-lock.json").read_text(encoding="utf-8"))
    version = lock["packages"]["node_modules/@digital-go-jp/design-tokens"]["version"]
    assert f"@digital-go-jp/design-tokens {version}" in (STATIC / "tokens.css").read_text(encoding="utf-8")
    htmx = lock["packages"]["node_modules/htmx.org"]["version"]
    assert f"htmx.org {htmx}" in (STATIC / "VERSIONS.txt").read_text(encoding="utf-8")
    assert (STATIC / "htmx.min.js").stat().st_size > 10_000


def test_every_colour_in_the_stylesheet_is_a_token() -> None:
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "counter.css").read_text(encoding="utf-8"), flags=re.S)
    assert not re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(", css)


def test_text_and_background_pairs_reach_wcag_aa() -> None:
    tokens = _tokens()
    pairs = []
    for selector, decls in _rules():
        if "color" not in decls:
            continue
        assert "background-color" in decls, f"{selector}: sets color without background-color"
        fg, bg = _resolve(decls["color"], tokens), _resolve(decls["background-color"], tokens)
        ratio = contrast(fg, bg)
        pairs.append((selector, ratio))
        assert ratio >= 4.5, f"{selector}: {fg} on {bg} is {ratio:.2f}:1 (AA needs 4.5:1)"
    assert len(pairs) >= 25


def test_focus_indicator_and_control_borders_reach_3_to_1() -> None:
    """WCAG 2.2 1.4.11 / 2.4.7 / 2.4.13: the focus ring and input borders against their surroundings."""
    tokens = _tokens()
    rules = dict(_rules())
    focus = rules[":focus-visible"]
    outline = _resolve(focus["outline"].split()[-1], tokens)
    halo = _resolve(focus["box-shadow"].split()[-1], tokens)
    page = _resolve(rules["body"]["background-color"], tokens)
    header = _resolve(rules[".site-header"]["background-color"], tokens)
    assert contrast(outline, page) >= 3  # black ring on the white page
    assert contrast(halo, header) >= 3  # yellow halo on the dark header
    assert focus["outline"].startswith("4px")  # thick enough to be seen (2.4.13: at least 2px)
    inputs = next(d for s, d in _rules() if s.startswith('input[type="text"]'))
    border = _resolve(inputs["border"].split()[-1], tokens)
    assert contrast(border, page) >= 3


def test_templates_load_nothing_from_another_origin() -> None:
    for path in TEMPLATES.rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', html), path
