"""The import report for the migration staff: ``取込結果.html`` and ``取込問題一覧.csv``.

Both list every problem by file, row, item, value and Japanese reason; the HTML (Japanese,
self-contained: no script, no external style or font, every value HTML-escaped) adds the counts of
what was read and imported, the files with their encodings and the 外字 replaced by the
mapping.  The CSV is UTF-8 with BOM (opens in spreadsheet software) with the header
``ファイル,行,項目,値,理由,種類``.  The report holds personal data (values of the rows with
problems): it is a file for the staff, never written to the logs.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import os
import tempfile
from pathlib import Path
from typing import Final

from moyai.portability.format import Problem

from .pipeline import ImportCounts, ImportResult

__all__ = ["CSV_HEADER", "CSV_NAME", "HTML_LIMIT", "HTML_NAME", "KIND_LABELS", "write_report"]

HTML_NAME: Final = "取込結果.html"
CSV_NAME: Final = "取込問題一覧.csv"
CSV_HEADER: Final = ("ファイル", "行", "項目", "値", "理由", "種類")
HTML_LIMIT: Final = 20_000  # problems shown in the HTML; the CSV has them all

KIND_LABELS: Final = {
    "encoding": "文字コード",
    "header": "ヘッダ",
    "missing_column": "列の不足",
    "extra_column": "標準外の列",
    "duplicate_column": "列の重複",
    "csv_syntax": "CSV の書式",
    "truncated": "途中で切れたファイル",
    "field_count": "項目数",
    "required": "必須項目",
    "too_long": "桁数・文字数",
    "length": "桁数",
    "type": "型",
    "date": "日付",
    "code": "コード",
    "check_digit": "検査用数字",
    "charset": "使えない文字",
    "gaiji": "外字",
    "unencodable": "表せない文字",
    "tenant": "団体コード",
    "duplicate_key": "キーの重複",
    "sequence": "履歴番号",
    "inconsistent": "項目の矛盾",
    "history": "履歴",
    "reference": "参照先がない",
    "unsupported": "未対応",
    "missing_file": "ファイルがない",
    "not_empty": "取込先に記録がある",
    "unknown_tenant": "団体が未登録",
}

_STYLE: Final = """
body{font-family:sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #999;padding:.2em .5em;vertical-align:top}
th{background:#eee}td.n{text-align:right}
.ok{color:#064;font-weight:bold}.ng{color:#a00;font-weight:bold}
td.v{font-family:monospace;word-break:break-all;max-width:30em}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _counts_rows(found: ImportCounts, imported: ImportCounts) -> str:
    rows = [
        ("住民（現存）", found.residents, imported.residents),
        ("除票", found.removed, imported.removed),
        ("履歴の行（異動）", found.history_rows, imported.history_rows),
        ("世帯", found.households, imported.households),
    ]
    return "".join(f"<tr><th>{_e(a)}</th><td class=n>{b:,}</td><td class=n>{c:,}</td></tr>" for a, b, c in rows)


def _problem_row(p: Problem) -> str:
    return (
        f"<tr><td>{_e(p.file)}</td><td class=n>{_e(p.row)}</td><td>{_e(p.item)}</td>"
        f"<td class=v>{_e(p.value)}</td><td>{_e(p.reason_ja)}</td><td>{_e(KIND_LABELS.get(p.kind, p.kind))}</td></tr>"
    )


def render_html(result: ImportResult, generated: dt.datetime | None = None) -> str:
    when = (generated or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")
    parts = [
        "<!DOCTYPE html><html lang=ja><head><meta charset=utf-8>",
        f"<title>取込結果 {_e(result.tenant_code)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>中間標準レイアウト取込結果（団体コード {_e(result.tenant_code)}）</h1>",
        f"<p>取込元: {_e(result.directory)}<br>作成: {_e(when)}</p>",
    ]
    if result.ok:
        parts.append("<p class=ok>問題はありません。すべてのデータを取り込みました。</p>")
    else:
        parts.append(
            f"<p class=ng>問題が {len(result.problems):,} 件あります。データは1件も取り込んでいません。"
            "問題を直したファイルで取込をやり直してください。</p>"
        )
    parts.append("<h2>件数</h2><table><tr><th></th><th>ファイルの件数（問題のない行）</th><th>取り込んだ件数</th></tr>")
    parts.append(_counts_rows(result.found, result.imported) + "</table>")
    if result.files:
        parts.append("<h2>ファイル</h2><table><tr><th>ファイル</th><th>文字コード</th><th>データ行数</th></tr>")
        for name, enc, rows in result.files:
            label = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8（BOM 付き）", "cp932": "Shift_JIS（cp932）"}.get(
                enc or "", "判別できません"
            )
            parts.append(f"<tr><td>{_e(name)}</td><td>{_e(label)}</td><td class=n>{rows:,}</td></tr>")
        parts.append("</table>")
    if result.gaiji_replaced:
        parts.append(f"<h2>外字対応表で置き換えた外字（{_e(result.gaiji_map)}）</h2>")
        parts.append("<table><tr><th>ファイル</th><th>項目</th><th>外字コード</th><th>置き換えた値の数</th></tr>")
        for (file, item, cp), n in sorted(result.gaiji_replaced.items()):
            parts.append(f"<tr><td>{_e(file)}</td><td>{_e(item)}</td><td>{_e(cp)}</td><td class=n>{n:,}</td></tr>")
        parts.append("</table>")
    if result.problems:
        by_kind = result.problem_counts()
        parts.append("<h2>問題の種類</h2><table><tr><th>種類</th><th>件数</th></tr>")
        for kind, n in by_kind.most_common():
            parts.append(f"<tr><td>{_e(KIND_LABELS.get(kind, kind))}</td><td class=n>{n:,}</td></tr>")
        parts.append("</table><h2>問題の一覧</h2>")
        if len(result.problems) > HTML_LIMIT:
            parts.append(f"<p>最初の {HTML_LIMIT:,} 件を示します。すべての問題は {_e(CSV_NAME)} にあります。</p>")
        parts.append("<table><tr><th>ファイル</th><th>行</th><th>項目</th><th>値</th><th>理由</th><th>種類</th></tr>")
        parts.extend(_problem_row(p) for p in result.problems[:HTML_LIMIT])
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def render_csv(problems: list[Problem]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, dialect="excel", lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for p in problems:
        w.writerow((p.file, "" if p.row is None else p.row, p.item or "", p.value or "", p.reason_ja,
                    KIND_LABELS.get(p.kind, p.kind)))
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(result: ImportResult, directory: str | Path) -> tuple[Path, Path]:
    """Write the HTML and CSV reports into ``directory`` (created); returns their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    html_path, csv_path = out / HTML_NAME, out / CSV_NAME
    _write(html_path, render_html(result).encode("utf-8"))
    _write(csv_path, render_csv(result.problems).encode("utf-8-sig"))
    return html_path, csv_path
