"""``moyai certificates …``: verify a certificate PDF or a QR text, make a sample (no Django needed).

Mount with ``app.add_typer(certificates.cli.app, name="certificates")`` in :mod:`moyai.cli`.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

app = typer.Typer(help="証明書（住民票の写し等）", no_args_is_help=True)


def _certs(paths: list[Path]) -> list[x509.Certificate]:
    return [c for p in paths for c in x509.load_pem_x509_certificates(p.read_bytes())]


@app.command("verify")
def verify(
    file: Path,
    trust: Annotated[list[Path] | None, typer.Option(help="信頼する発行元の証明書 (PEM)。省略時は鍵ストアの trust/")] = None,
) -> None:
    """証明書PDFを検証する（1バイトでも変更があれば「真正ではありません」）。"""
    from .signing import verify_pdf

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)  # its tracebacks; the problems are listed below

    r = verify_pdf(file, _certs(trust) if trust else None)
    if r.genuine:
        typer.echo(f"真正です: 証明書番号 {r.serial}（団体 {r.tenant}、発行日 {r.issued_on}）署名者 {r.signer}")
        return
    typer.echo("真正ではありません:", err=True)
    for p in r.problems:
        typer.echo(f"  - {p}", err=True)
    raise typer.Exit(1)


@app.command("verify-qr")
def verify_qr(text: str, cert: Annotated[list[Path], typer.Option(help="団体の署名用証明書 (PEM)")]) -> None:
    """QRコードの文字列を団体の公開鍵だけで（オフラインで）検証する。"""
    from .signing import VerificationError, verify_payload

    keys = [c.public_key() for c in _certs(cert)]
    try:
        p = verify_payload(text, [k for k in keys if isinstance(k, ec.EllipticCurvePublicKey)])
    except VerificationError as exc:
        typer.echo(f"真正ではありません: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"真正です: 団体 {p.tenant} 証明書番号 {p.serial} 発行日 {p.issued_on} 要約 {p.digest.hex()}")


@app.command("init-test-keys")
def init_test_keys_command(
    tenant: Annotated[list[str], typer.Option(help="団体コード:団体名（例 352152:周南市）。複数指定可")],
    root: Annotated[Path | None, typer.Option(help="鍵ストア。省略時は $MOYAI_CERT_KEY_DIR")] = None,
) -> None:
    """評価・デモ用に、試験用認証局で署名した団体の証明書署名鍵を作る（本番では使わない）。"""
    from .signing import FileIdentityStore, init_test_keys

    pairs = []
    for item in tenant:
        code, sep, name = item.partition(":")
        if not sep or not code.isdigit() or len(code) != 6 or not name:
            typer.echo(f"--tenant は 団体コード6桁:団体名 の形で指定してください（{item}）", err=True)
            raise typer.Exit(2)
        pairs.append((code, name))
    store = FileIdentityStore(root)
    made = init_test_keys(store, pairs)
    for code, _ in pairs:
        typer.echo(f"{code}: {'作成しました' if code in made else '既にあります'}（{store.root / code}）")


@app.command("sample")
def sample(
    out: Path,
    png: Annotated[Path | None, typer.Option(help="1ページ目を PNG でも保存する (pdftoppm)")] = None,
    repeat: Annotated[int, typer.Option(help="時間を測る回数")] = 0,
) -> None:
    """架空の世帯の住民票の写しを、実行時に作る試験用の鍵で署名して保存する。"""
    from .issuance import produce
    from .render import renderer
    from .sample import sample_certificate
    from .signing import PdfSigner, issue_identity, make_test_ca

    ca_key, ca = make_test_ca()
    signer = PdfSigner(issue_identity("352152", "周南市", ca_key, ca))
    renderer()
    produced = produce(sample_certificate(), signer)
    out.write_bytes(produced.pdf)
    typer.echo(f"{out}: {produced.pages} ページ, {len(produced.pdf)} バイト")
    if png:
        with tempfile.TemporaryDirectory() as tmp:
            stem = Path(tmp) / "page"
            exe = shutil.which("pdftoppm")
            if exe is None:
                raise typer.BadParameter("pdftoppm がありません（Debian パッケージ poppler-utils）")
            subprocess.run([exe, "-png", "-r", "100", "-f", "1", "-l", "1", "-singlefile", str(out), str(stem)],  # noqa: S603
                           check=True)
            png.write_bytes(stem.with_suffix(".png").read_bytes())
        typer.echo(f"{png}: 1ページ目")
    if repeat:
        signed, unsigned = [], []
        for i in range(repeat):
            cert = sample_certificate(sequence=100 + i)
            t0 = time.perf_counter()
            produce(cert, signer)
            signed.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            renderer().render(cert, "x" * 183)
            unsigned.append(time.perf_counter() - t0)

        def p95(xs: list[float]) -> float:
            return statistics.quantiles(xs, n=20)[-1] if len(xs) >= 2 else xs[0]

        typer.echo(f"署名あり: 中央値 {statistics.median(signed) * 1000:.0f} ms, p95 {p95(signed) * 1000:.0f} ms; "
                   f"署名なし: 中央値 {statistics.median(unsigned) * 1000:.0f} ms, p95 {p95(unsigned) * 1000:.0f} ms "
                   f"({repeat} 回)")


if __name__ == "__main__":
    app()
