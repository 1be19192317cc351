"""Rendering and trust: fonts and glyphs, pages, QR payload, PAdES, one-byte changes, PNG."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from cryptography import x509
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.reader import PdfFileReader

from moyai.certificates import domain as d
from moyai.certificates import fonts, signing
from moyai.certificates.domain import CertificateError, CertificateErrorCode, Form, OptionalItem
from moyai.certificates.issuance import Produced, produce
from moyai.certificates.render import fit, renderer
from tests.certificates.test_cert_domain import ISSUER, NOW, NUMBER, foreigner, japanese, person

POPPLER = shutil.which("pdftoppm") is not None and shutil.which("pdftotext") is not None


def run(tool: str, *args: str, data: bytes | None = None) -> bytes:
    exe = shutil.which(tool)
    assert exe is not None, f"{tool} is not installed"
    return subprocess.run([exe, *args], input=data, capture_output=True, check=True).stdout  # noqa: S603
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftoppm, pdftotext) not installed")
YOSHI = "\U00020bb7"  # 𠮷 (JIS X 0213 level 3/4, outside the BMP)


@dataclass
class Tenant:
    ca: x509.Certificate
    identity: signing.SigningIdentity
    signer: signing.PdfSigner


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    ca_key, ca = signing.make_test_ca()
    ident = signing.issue_identity("352152", "周南市", ca_key, ca)
    return Tenant(ca, ident, signing.PdfSigner(ident))


def household_cert(n_extra: int = 0, address: str = "山口県周南市岐山通一丁目1番地") -> d.Certificate:
    head = dataclasses.replace(japanese(), family_name=f"{YOSHI}田", given_name="一郎", address=address,
                               katagaki="髙﨑ハイツ101号")
    wife = dataclasses.replace(person("妻", "昭和47年2月3日", sex="2"), family_name=f"{YOSHI}田",
                               given_name="花子", address=address)
    lodger = dataclasses.replace(foreigner(), relationship="同居人", address=address)
    extra = [dataclasses.replace(person("子", f"平成{10 + i}年4月1日"), address=address) for i in range(n_extra)]
    members = [head, wife, lodger, *extra]
    return d.compose(d.Selection(d.CertificateKind.RESIDENT_COPY, Form.HOUSEHOLD, d.Requester.SELF,
                                 frozenset({OptionalItem.HEAD_RELATIONSHIP}), "旅券申請"),
                     persons=members, household=members, as_of=NOW.date(), issued_at=NOW, issuer=ISSUER,
                     issue_number=NUMBER, serial="352152-20260502-000011")


@pytest.fixture(scope="module")
def produced(tenant: Tenant) -> Produced:
    return produce(household_cert(), tenant.signer)


# --- fonts ----------------------------------------------------------------------------------------


def _tounicode(cmap: bytes) -> dict[int, str]:
    """CID → text from a ToUnicode CMap (bfchar and bfrange entries)."""
    out: dict[int, str] = {}
    text = cmap.decode("latin-1")
    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for cid, uni in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(cid, 16)] = bytes.fromhex(uni).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, uni in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            start = int.from_bytes(bytes.fromhex(uni), "big")
            for i, cid in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                out[cid] = chr(start + i)
    return out


def embedded_fonts(pdf: bytes) -> Iterator[tuple[str, dict[int, str], TTFont]]:
    """(BaseFont, CID → text, the embedded font file) of every font of every page."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    kids = reader.root["/Pages"]["/Kids"]
    for i in range(len(kids)):
        page = kids[i].get_object()
        for _key, ref in page["/Resources"]["/Font"].items():
            font = ref.get_object()
            desc = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            file = desc["/FontFile2"] if "/FontFile2" in desc else desc["/FontFile3"]  # TrueType or CFF
            yield (str(font["/BaseFont"]).lstrip("/"), _tounicode(font["/ToUnicode"].data), TTFont(BytesIO(file.data)))


def test_a_rare_kanji_of_a_name_is_in_the_embedded_subset_of_ipamj(produced: Produced) -> None:
    found = []
    for base, to_unicode, ttf in embedded_fonts(produced.pdf):
        cids = [cid for cid, t in to_unicode.items() if t == YOSHI]
        if not cids:
            continue
        found.append(base)
        assert re.fullmatch(r"[A-Z]{6}\+MoyaiName", base), base  # a subset (tag+) of the names' font
        glyph_order = ttf.getGlyphOrder()
        glyf = ttf["glyf"]
        drawn = [g for g in glyph_order if glyf[g].numberOfContours != 0]
        assert len(drawn) < 200  # a subset (glyph ids kept), not the 60,000 glyphs of IPAmj明朝
        glyph = glyf[glyph_order[cids[0]]]
        assert glyph.numberOfContours != 0, "the glyph of 𠮷 is empty"
    assert found, "𠮷 is in no embedded font"
    if shutil.which("pdffonts"):
        out = run("pdffonts", "-", data=produced.pdf).decode()
        line = next(ln for ln in out.splitlines() if "+MoyaiName" in ln)
        assert line.split()[-5:-2] == ["yes", "yes", "yes"]  # embedded, subset, ToUnicode


def test_only_the_certificate_fonts_are_embedded(produced: Produced) -> None:
    names = {re.sub(r"^[A-Z]{6}\+", "", base) for base, _, _ in embedded_fonts(produced.pdf)}
    assert names <= {"MoyaiName", "MoyaiText", "MoyaiFallback"}, names


@pytest.mark.parametrize("bad", ["😀", "\U00030000", "\ue000", "あ\U000e0100"])
def test_a_character_missing_from_every_font_is_an_error(bad: str, tenant: Tenant) -> None:
    cert = household_cert()
    cert = dataclasses.replace(cert, members=(dataclasses.replace(cert.members[0], name=f"山田{bad}"),
                                              *cert.members[1:]))
    with pytest.raises(CertificateError) as e:
        renderer().render(cert, "x")
    assert e.value.code == CertificateErrorCode.MISSING_GLYPH
    assert f"{ord(bad[-1]):04X})" in e.value.message


def test_variation_sequences_and_rare_kanji_are_covered() -> None:
    assert fonts.missing_glyphs(f"{YOSHI}髙﨑 葛\U000e0100 SILVA", name=True) == []
    assert fonts.missing_glyphs("令和8年5月2日　① Ω é", name=False) == []


def test_text_shrinks_to_fit_and_alerts_when_it_cannot() -> None:
    assert fit("短い住所", 100, 11.0) == (11.0, False)
    size, over = fit("長" * 60, 100, 11.0)
    assert 6.5 <= size < 11.0 and not over
    size, over = fit("長" * 200, 100, 11.0)
    assert size == 6.5 and over
    long_address = "山口県周南市" + "大字長い地名" * 40
    rendered = renderer().render(household_cert(address=long_address), "x")
    assert any("住所" in a for a in rendered.alerts)


# --- pages ----------------------------------------------------------------------------------------


def page_texts(pdf: bytes, tmp: Path) -> list[str]:
    path = tmp / "c.pdf"
    path.write_bytes(pdf)
    out = run("pdftotext", "-layout", str(path), "-").decode()
    return out.split("\f")[:-1]


@needs_poppler
def test_issue_number_on_every_page_and_certification_text_on_the_last(tenant: Tenant, tmp_path: Path) -> None:
    p = produce(household_cert(n_extra=9), tenant.signer)
    assert p.pages >= 2
    pages = page_texts(p.pdf, tmp_path)
    assert len(pages) == p.pages
    for i, text in enumerate(pages, 1):
        assert f"20260502 周南市 本庁1 プリンタ001 011 {i}/{p.pages}" in text
        has_cert_text = "相違ないことを証明する" in re.sub(r"\s", "", text)
        assert has_cert_text == (i == p.pages), f"認証文 on page {i}"
    last = re.sub(r"\s", "", pages[-1])
    assert "令和8年5月2日" in last and "山口県周南市長" in last


@needs_poppler
def test_foreign_dates_in_western_calendar_in_the_pdf(produced: Produced, tmp_path: Path) -> None:
    text = re.sub(r"\s", "", "".join(page_texts(produced.pdf, tmp_path)))
    assert "1980年3月4日" in text  # 生年月日 of the foreign resident
    assert "昭和45年5月5日" in text
    assert "123456789018" not in text  # 個人番号 not requested


# --- QR payload -----------------------------------------------------------------------------------


def test_qr_payload_verified_offline(produced: Produced, tenant: Tenant) -> None:
    cert = household_cert()
    p = signing.verify_payload(produced.payload, [tenant.identity.public_key])
    assert (p.tenant, p.serial, p.issued_on) == ("352152", cert.serial, NOW.date())
    assert p.digest == cert.digest()
    assert signing.verify_payload(produced.payload, {"352152": [tenant.identity.public_key]}) == p
    assert len(produced.payload) < 200


def test_forged_qr_payloads_are_refused(produced: Produced, tenant: Tenant) -> None:
    good = produced.payload
    parts = good.split("|")
    keys = [tenant.identity.public_key]
    tampered_digest = "|".join([*parts[:4], signing._b64(b"\x00" * 32), *parts[5:]])
    tampered_serial = "|".join([parts[0], parts[1], "352152-20260502-000012", *parts[3:]])
    tampered_date = "|".join([*parts[:3], "20260503", *parts[4:]])
    for forged in (tampered_digest, tampered_serial, tampered_date):
        with pytest.raises(signing.VerificationError):
            signing.verify_payload(forged, keys)
    # signed by another key that claims the 団体 (its key id is not the 団体's)
    other_key, other_ca = signing.make_test_ca("Forger")
    forger = signing.issue_identity("352152", "周南市", other_key, other_ca)
    with pytest.raises(signing.VerificationError, match="登録されていません"):
        signing.verify_payload(signing.sign_payload(household_cert(), forger), keys)
    # the right key id but a signature of other bytes
    sig_of_other = signing.sign_payload(dataclasses.replace(household_cert(), serial="x"), tenant.identity)
    spliced = "|".join([*parts[:6], sig_of_other.split("|")[-1]])
    with pytest.raises(signing.VerificationError, match="署名が正しくありません"):
        signing.verify_payload(spliced, keys)
    for junk in ("", "hello", good + "|x", good.replace("MYC1", "MYC2"), good[:-3]):
        with pytest.raises(signing.VerificationError):
            signing.verify_payload(junk, keys)
    # another 団体's key
    with pytest.raises(signing.VerificationError):
        signing.verify_payload(good, {"352071": keys})


# --- PAdES and changes ----------------------------------------------------------------------------


def test_signed_pdf_verifies(produced: Produced, tenant: Tenant, tmp_path: Path) -> None:
    path = tmp_path / "cert.pdf"
    path.write_bytes(produced.pdf)
    r = signing.verify_pdf(path, [tenant.ca])
    assert r.genuine, r.problems
    assert (r.tenant, r.serial, r.issued_on) == ("352152", "352152-20260502-000011", NOW.date())
    assert r.content is not None and r.content["members"][0]["name"] == f"{YOSHI}田　一郎"


def test_untrusted_signer_is_refused(produced: Produced) -> None:
    _, stranger_ca = signing.make_test_ca("Stranger")
    r = signing.verify_pdf(produced.pdf, [stranger_ca])
    assert not r.genuine and any("信頼" in p for p in r.problems)


def _positions(pdf: bytes, start: int, end: int) -> list[int]:
    spread = list(range(0, len(pdf), max(1, len(pdf) // 40)))
    return sorted({*spread, start - 1, start, start + 1, end - 2, end - 1, end, len(pdf) - 1,
                   len(pdf) - 10, pdf.index(b"/ByteRange") + 12, pdf.index(b"startxref") + 12})


def test_any_one_byte_change_is_detected(produced: Produced, tenant: Tenant) -> None:
    pdf = produced.pdf
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    br = list(reader.embedded_signatures[0].byte_range)
    gap_start, gap_end = br[0] + br[1], br[2]  # the /Contents hex string, <...>
    checked = 0
    for pos in _positions(pdf, gap_start, gap_end):
        for flip in (0x01, 0x20):
            changed = bytearray(pdf)
            changed[pos] ^= flip
            r = signing.verify_pdf(bytes(changed), [tenant.ca])
            assert not r.genuine, f"change at byte {pos} (^{flip:#x}) not detected"
            checked += 1
    assert checked > 80


def test_changes_inside_the_signature_value_are_detected(produced: Produced, tenant: Tenant) -> None:
    """The /Contents hex string is the one part of the file the signature cannot cover."""
    pdf = produced.pdf
    sig = PdfFileReader(BytesIO(pdf), strict=False).embedded_signatures[0]
    br = list(sig.byte_range)
    hex_start = br[0] + br[1] + 1  # after "<"
    der_len = signing._der_length(sig.pkcs7_content)
    padding_at = hex_start + 2 * der_len + 10
    assert padding_at < br[2] - 1 and pdf[padding_at:padding_at + 1] == b"0"

    def changed(pos: int, new: bytes) -> bytes:
        out = bytearray(pdf)
        out[pos:pos + 1] = new
        assert bytes(out) != pdf
        return bytes(out)

    in_der = hex_start + der_len  # a hex digit in the middle of the signature's DER
    other_digit = b"0" if pdf[in_der:in_der + 1] != b"0" else b"1"
    letters = [i for i in range(hex_start, hex_start + 2 * der_len) if pdf[i:i + 1] in b"abcdefABCDEF"]
    swapped = pdf[letters[0]:letters[0] + 1].swapcase()  # the same value in the other case
    for variant in (changed(padding_at, b"1"), changed(in_der, other_digit), changed(letters[0], swapped)):
        assert not signing.verify_pdf(variant, [tenant.ca]).genuine


def test_appended_update_and_truncation_are_detected(produced: Produced, tenant: Tenant) -> None:
    assert not signing.verify_pdf(produced.pdf + b"\n% appended\n", [tenant.ca]).genuine
    assert not signing.verify_pdf(produced.pdf[:-5], [tenant.ca]).genuine
    assert not signing.verify_pdf(b"not a pdf", [tenant.ca]).genuine


def test_unsigned_pdf_is_not_genuine(tenant: Tenant) -> None:
    pdf = renderer().render(household_cert(), "x").pdf
    r = signing.verify_pdf(pdf, [tenant.ca])
    assert not r.genuine and r.problems


def test_identity_store_round_trip(tmp_path: Path, tenant: Tenant) -> None:
    store = signing.FileIdentityStore(tmp_path / "keys")
    store.save(tenant.identity)
    store.add_trust_root(tenant.ca)
    key_file = tmp_path / "keys" / "352152" / "key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    loaded = store.load("352152")
    assert loaded.key_id == tenant.identity.key_id and "PRIVATE" not in repr(loaded)
    assert store.trust_roots() == [tenant.ca]
    with pytest.raises(LookupError):
        store.load("352071")


# --- a page a person can look at ------------------------------------------------------------------


@needs_poppler
def test_first_page_renders_to_png(produced: Produced, tmp_path: Path) -> None:
    pdf = tmp_path / "cert.pdf"
    pdf.write_bytes(produced.pdf)
    run("pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(tmp_path / "page"))
    png = (tmp_path / "page.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert abs(height / width - 297 / 210) < 0.01  # A4 portrait
    assert len(png) > 20_000  # not a blank page


@needs_poppler
@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbar-tools (zbarimg) not installed")
def test_qr_code_printed_on_the_page_scans_and_verifies_offline(produced: Produced, tenant: Tenant,
                                                                tmp_path: Path) -> None:
    pdf = tmp_path / "cert.pdf"
    pdf.write_bytes(produced.pdf)
    run("pdftoppm", "-png", "-r", "200", "-singlefile", str(pdf), str(tmp_path / "page"))
    scanned = run("zbarimg", "--raw", "-q", str(tmp_path / "page.png")).decode().strip()
    assert scanned == produced.payload
    assert signing.verify_payload(scanned, [tenant.identity.public_key]).digest == household_cert().digest()


def test_cli_verify_and_verify_qr(produced: Produced, tenant: Tenant, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from typer.testing import CliRunner

    from moyai.certificates.cli import app

    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(tenant.ca.public_bytes(serialization.Encoding.PEM))
    cert_pem = tmp_path / "tenant.pem"
    cert_pem.write_bytes(tenant.identity.certificate.public_bytes(serialization.Encoding.PEM))
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(produced.pdf)
    changed = bytearray(produced.pdf)
    changed[len(changed) // 3] ^= 0x01
    bad.write_bytes(bytes(changed))
    runner = CliRunner()
    ok = runner.invoke(app, ["verify", str(good), "--trust", str(ca_pem)])
    assert ok.exit_code == 0 and "真正です" in ok.output
    ko = runner.invoke(app, ["verify", str(bad), "--trust", str(ca_pem)])
    assert ko.exit_code == 1 and "真正ではありません" in ko.output
    qr = runner.invoke(app, ["verify-qr", produced.payload, "--cert", str(cert_pem)])
    assert qr.exit_code == 0 and "352152-20260502-000011" in qr.output
    forged = produced.payload.replace("|20260502|", "|20260503|")
    assert runner.invoke(app, ["verify-qr", forged, "--cert", str(cert_pem)]).exit_code == 1
