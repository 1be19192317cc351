"""A certificate as an A4 PDF, with WeasyPrint, from an HTML page built here (no Django, no Jinja).

- Dates come formatted from :mod:`.domain` (和暦; 西暦 for a foreign resident's 生年月日 and 満了日).
- Names in IPAmj明朝, the rest in IPAex明朝 / Noto Serif CJK JP (:mod:`.fonts`); a character
  none of them has stops the rendering (:func:`.fonts.check_glyphs`).
- Every page carries the 発行番号 with 頁／総頁 (5.5); the 認証文, date, 職名・氏名, 電子公印
  and the QR code come once, at the end, so on the last page only (5.1).
- Text too long for its box is set smaller (down to a floor) and then over two lines (5.8);
  what still does not fit is reported in :attr:`Rendered.alerts`.
- The certified content (JSON) is attached to the PDF (``certificate.json``), so that a verifier
  can recompute the digest the QR code vouches for.

One :class:`Renderer` holds one ``FontConfiguration`` and one parsed stylesheet, reused for every
certificate: building them costs far more than a page. The page is laid out with a user-agent
stylesheet cut down to the elements a certificate uses, and :mod:`.weasy` spares WeasyPrint a copy
of each whole font file per PDF (see ``docs/certificates.md``, "Speed").
"""

from __future__ import annotations

import base64
import gc
import html
import io
import math
import os
import threading
import unicodedata
from dataclasses import dataclass, field
from string import Template
from typing import Final

import segno
from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration

from moyai.platform.codes.wareki import format_wareki

from . import fonts, weasy
from .domain import OFFICIAL_USE_MARK, Certificate, Entry, Member

ATTACHMENT_NAME: Final = "certificate.json"

_STYLE: Final = """
@page {
  size: A4 portrait;
  margin: 16mm 14mm 20mm 14mm;
  @bottom-left { font-family: MoyaiText, MoyaiFallback; font-size: 8pt; }
}
html { font-family: MoyaiText, MoyaiFallback, MoyaiName; font-size: 9.5pt; color: #000; }
body { margin: 0; }
h1 { font-size: 18pt; text-align: center; letter-spacing: 0.5em; margin: 0 0 1mm 0; font-weight: normal; }
p.form { text-align: center; margin: 0 0 4mm 0; font-size: 9pt; }
p.asof { text-align: right; margin: 0 0 2mm 0; }
.name { font-family: MoyaiName, MoyaiText, MoyaiFallback; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { border: 0.3mm solid #000; padding: 1mm 1.5mm; vertical-align: middle; text-align: left;
         line-height: 1.25; overflow: hidden; }
th { width: 26mm; font-weight: normal; font-size: 8pt; }
table.household { margin-bottom: 3mm; }
table.member { margin-bottom: 3mm; break-inside: avoid; }
td.person { font-size: 13pt; }
span.no { font-size: 8pt; margin-right: 2mm; }
p.omitted { font-size: 8pt; margin: 2mm 0; }
p.end { text-align: center; margin: 1mm 0 4mm 0; font-size: 9pt; }
section.certify { break-inside: avoid; margin-top: 6mm; }
section.certify p.text { font-size: 11pt; margin: 0 0 3mm 0; }
section.certify p.date { margin: 0 0 4mm 8mm; }
table.sign td { border: none; padding: 0; vertical-align: middle; }
table.sign td.qr { width: 34mm; font-size: 6.5pt; text-align: center; }
table.sign td.qr img { width: 30mm; height: 30mm; }
table.sign td.title { font-size: 12pt; width: 50mm; }
table.sign td.iname { font-size: 14pt; width: 40mm; }
table.sign td.seal { width: 26mm; }
table.seal { width: 22mm; height: 22mm; border: 0.7mm solid #000; table-layout: fixed; }
table.seal td { border: none; padding: 0; text-align: center; font-size: 14pt; line-height: 1; }
p.serial { font-size: 7pt; margin: 2mm 0 0 0; }
p.official { float: right; margin: 0; border: 0.5mm solid #000; padding: 0.5mm 3mm; font-size: 12pt; }
div.watermark { position: fixed; top: 110mm; left: 0; width: 182mm; text-align: center; font-size: 72pt;
                color: #999; opacity: 0.35; transform: rotate(-30deg); }
"""

# The user-agent stylesheet for the few elements a certificate uses, with WeasyPrint's own
# defaults for them (weasyprint/css/html5_ua.css). WeasyPrint's full sheet has some 250 rules,
# many with attribute selectors tried on every element: matching them was a fifth of the layout
# time. Only the elements in _UA_ELEMENTS may appear in a certificate's page (tested: the page is
# drawn the same with either sheet).
_UA_ELEMENTS: Final = frozenset({"html", "head", "meta", "title", "body", "div", "h1", "p", "section", "table",
                                 "tbody", "tr", "td", "th", "span", "img", "br"})
_UA_STYLE: Final = """
head, meta, title { display: none }
html, body, div, h1, p, section { display: block }
html { color-scheme: light }
body { margin: 8px }
p { margin-top: 1em; margin-bottom: 1em }
h1 { margin-top: .67em; margin-bottom: .67em; font-size: 2em; font-weight: bold; bookmark-level: 1;
     bookmark-label: content(text); hyphens: manual; break-after: avoid; break-inside: avoid }
table { display: table; box-sizing: border-box; border-spacing: 2px; border-collapse: separate;
        text-indent: initial; border-color: gray }
tbody { display: table-row-group; vertical-align: middle; border-color: inherit }
tr { display: table-row; vertical-align: inherit; border-color: inherit }
td, th { display: table-cell; padding: 1px; vertical-align: inherit; border-color: gray }
th { font-weight: bold }
img { overflow: hidden }
br::before { content: "\\A"; white-space: pre-line }
@page { margin: 75px; @bottom-left { text-align: left; vertical-align: middle } }
"""


class _PageHTML(HTML):
    """A certificate's page: WeasyPrint with the small user-agent stylesheet above."""

    ua_stylesheet: CSS | None = None

    def _ua_stylesheets(self, forms: bool = False) -> list[CSS]:
        if forms or self.ua_stylesheet is None:
            return super()._ua_stylesheets(forms)  # type: ignore[misc, no-any-return]
        return [self.ua_stylesheet]


_PAGE: Final = Template("""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>$title</title>
<meta name="author" content="$issuer_title"><meta name="keywords" content="$payload"></head>
<body>
$official
<h1>$title</h1>
<p class="form">（$form）</p>
$asof
$watermark
<table class="household">
$address_row
$head
</table>
$members
$omitted
<p class="end">以下余白</p>
<section class="certify">
<p class="text">$certification_text</p>
<p class="date">$issued_on</p>
<table class="sign"><tr><td class="title">$issuer_title</td><td class="iname name">$issuer_name</td>
<td class="seal">$seal</td><td></td><td class="qr"><img src="$qr" alt="検証用QRコード"><br>検証用コード</td></tr></table>
<p class="serial">証明書番号 $serial</p>
</section>
</body></html>
""")

# Widths (mm) of the value boxes, for shrinking text to fit.
_FULL_MM: Final = 182.0 - 26.0 - 3.0
_HALF_MM: Final = (182.0 - 2 * 26.0) / 2 - 3.0


def _ems(text: str) -> float:
    """Approximate width in em: wide (全角) characters 1, others 0.55."""
    return sum(1.0 if unicodedata.east_asian_width(c) in ("W", "F") else 0.55 for c in text)


def fit(text: str, width_mm: float, base_pt: float, *, min_pt: float = 6.5, lines: int = 2) -> tuple[float, bool]:
    """Font size (pt) that fits ``text`` in a box ``width_mm`` wide: the base size if it fits on
    one line, else smaller, down to ``min_pt`` over up to ``lines`` lines. Second value: True when
    it still overflows (標準仕様書 5.8: raise an alert)."""
    ems = _ems(text)
    if ems == 0:
        return base_pt, False
    width_pt = width_mm * 72 / 25.4
    one_line = width_pt / ems
    if one_line >= base_pt:
        return base_pt, False
    if one_line >= min_pt:
        return math.floor(one_line * 10) / 10, False
    wrapped = width_pt * lines / ems
    size = max(min_pt, min(base_pt, math.floor(wrapped * 10) / 10))
    return size, wrapped < min_pt


@dataclass
class Rendered:
    pdf: bytes
    pages: int
    alerts: list[str] = field(default_factory=list)


def _css_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _e(s: str) -> str:
    return html.escape(s, quote=True)


def qr_data_uri(payload: str) -> str:
    """The QR code (segno, error correction M) as a PNG data URI (cheaper to lay out than SVG)."""
    qr = segno.make(payload, error="m", micro=False)
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=4, border=2)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _seal(text: str) -> str:
    """A square black 電子公印 (at most 25 mm, 5.6) with its text in columns read right to left."""
    chars = list(text) or ["印"]
    cols = 1 if len(chars) <= 3 else (2 if len(chars) <= 6 else 3)
    rows = math.ceil(len(chars) / cols)
    columns = [chars[i * rows:(i + 1) * rows] for i in range(cols)][::-1]  # first column at the right
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(col[r]) if r < len(col) else ''}</td>" for col in columns) + "</tr>"
        for r in range(rows)
    )
    return f'<table class="seal" aria-label="電子公印">{body}</table>'


class Renderer:
    """Renders certificates; thread-safe, one per process is enough."""

    def __init__(self) -> None:
        weasy.install()  # font data without a copy per PDF, subsets from a prepared face
        self.font_config = FontConfiguration()
        self.stylesheet = CSS(string=fonts.font_face_css() + _STYLE, font_config=self.font_config)
        if _PageHTML.ua_stylesheet is None:
            _PageHTML.ua_stylesheet = CSS(string=_UA_STYLE)
        self._lock = threading.Lock()  # FontConfiguration is not documented as thread-safe

    def html(self, cert: Certificate, qr_payload: str, alerts: list[str] | None = None, *,
             watermark: str = "") -> str:
        alerts = alerts if alerts is not None else []
        address_pt, over = fit(cert.address, _FULL_MM, 11.0)
        if over:
            alerts.append(f"住所が枠に収まりません: {cert.address}")
        head = ""
        if cert.head_name is not None:
            head = f'<tr><th>世帯主</th><td class="name">{_e(cert.head_name)}</td></tr>'
        members = "\n".join(self._member(i, m, alerts) for i, m in enumerate(cert.members, 1))
        omitted = ""
        if cert.omitted:
            omitted = f'<p class="omitted">記載を省略した事項：{_e("、".join(cert.omitted))}</p>'
        asof = ""
        if cert.as_of != cert.issued_on:
            asof = f'<p class="asof">{_e(format_wareki(cert.as_of))}現在の記載事項</p>'
        return _PAGE.substitute(
            title=_e(cert.title),
            form=_e(cert.form.label),
            asof=asof,
            watermark=f'<div class="watermark">{_e(watermark)}</div>' if watermark else "",
            official=f'<p class="official">{_e(OFFICIAL_USE_MARK)}</p>' if cert.official_use else "",
            address_row=(f'<tr><th>住所</th><td class="fit" style="font-size:{address_pt:g}pt">{_e(cert.address)}</td></tr>'
                         if cert.address else ""),
            head=head,
            members=members,
            omitted=omitted,
            certification_text=_e(cert.certification_text),
            issued_on=_e(format_wareki(cert.issued_on)),
            issuer_title=_e(cert.issuer.title),
            issuer_name=_e(cert.issuer.name),
            seal=_seal(cert.issuer.seal_text),
            qr=qr_data_uri(qr_payload),
            payload=_e(qr_payload),
            serial=_e(cert.serial),
        )

    def _member(self, no: int, m: Member, alerts: list[str]) -> str:
        name_pt, over = fit(m.name, _FULL_MM, 13.0)
        if over:
            alerts.append(f"氏名が枠に収まりません: {m.name}")
        rows = [f'<tr><th><span class="no">{no}</span>氏名</th>'
                f'<td colspan="3" class="person name" style="font-size:{name_pt:g}pt">{_e(m.name)}</td></tr>']
        pending: list[Entry] = []

        def cell(e: Entry, width: float, span: int) -> str:
            pt, over = fit(e.value, width, 9.5)
            if over:
                alerts.append(f"{e.label}が枠に収まりません: {e.value}")
            cls = ' class="name"' if e.name else ""
            colspan = f' colspan="{span}"' if span > 1 else ""
            return f'<th>{_e(e.label)}</th><td{cls}{colspan} style="font-size:{pt:g}pt">{_e(e.value)}</td>'

        def flush() -> None:
            if pending:
                cells = "".join(cell(e, _HALF_MM, 1) for e in pending)
                rows.append(f"<tr>{cells}{'<th></th><td></td>' if len(pending) == 1 else ''}</tr>")
                pending.clear()

        for e in m.entries:
            if _ems(e.value) > 16:  # a long value takes a whole row
                flush()
                rows.append(f"<tr>{cell(e, _FULL_MM, 3)}</tr>")
                continue
            pending.append(e)
            if len(pending) == 2:
                flush()
        flush()
        return '<table class="member">' + "".join(rows) + "</table>"

    @staticmethod
    def page_css(cert: Certificate) -> str:
        """The 発行番号 with 頁／総頁 at the foot of every page (5.5)."""
        return ("@page { @bottom-left { content: " + _css_string("発行番号 " + cert.issue_number.text() + " ")
                + ' counter(page) "/" counter(pages); } }')

    def render(self, cert: Certificate, qr_payload: str, *, check: bool = True, watermark: str = "") -> Rendered:
        """The PDF (unsigned). Raises :class:`.domain.CertificateError` on a character no font has.

        ``watermark`` (e.g. 「見本」) is printed across every page: a preview is never a certificate."""
        if check:
            fonts.check_glyphs([*cert.all_text(), (watermark, False)])
        alerts: list[str] = []
        page = self.html(cert, qr_payload, alerts, watermark=watermark)
        attachment = Attachment(string=cert.canonical_bytes().decode(), name=ATTACHMENT_NAME,
                                description="証明した内容（検証用）")
        page_css = CSS(string=self.page_css(cert))
        with self._lock:
            doc = _PageHTML(string=page).render(stylesheets=[self.stylesheet, page_css], font_config=self.font_config)
            pdf = doc.write_pdf(attachments=[attachment], pdf_identifier=cert.serial.encode())
        assert pdf is not None
        _freeze_long_lived()
        return Rendered(pdf=pdf, pages=len(doc.pages), alerts=alerts)


_frozen = False


def _freeze_long_lived() -> None:
    """Once per process, after the first PDF: move every object alive then (Django, the app, the
    renderer's fonts and stylesheets) out of the garbage collector's sight (``gc.freeze``).

    A PDF makes some hundred thousand objects; Python's full collections, every few certificates,
    then walked the whole heap of a server process each time (about 100 ms: most of the p95
    tail). Frozen objects are never collected, so the pending garbage is collected first; the
    cost is the objects alive at that moment that later become cyclic garbage (a one-off, small).
    ``MOYAI_GC_FREEZE=0`` turns it off."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    if os.environ.get("MOYAI_GC_FREEZE", "1") == "0":
        return
    gc.collect()
    gc.freeze()


_default: Renderer | None = None
_default_lock = threading.Lock()


def renderer() -> Renderer:
    """The process's renderer (built on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Renderer()
        return _default

