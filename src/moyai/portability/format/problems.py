"""The one record of a problem found in a migration file, used by every step (CSV, codecs, mapping).

A :class:`Problem` names the file, the row (the line number where the record starts, the header
being line 1; ``None`` for a problem of the whole file), the item (its standard Japanese name),
the offending value, a reason in Japanese for the staff, and a stable ``kind`` code
(:class:`ProblemKind`) that tests and reports can group on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Problem", "ProblemKind", "unique_problems"]


class ProblemKind(StrEnum):
    """Stable codes of the problems (the report shows ``reason_ja``)."""

    # the file as a whole
    ENCODING = "encoding"  # 文字コードを判別できない
    HEADER = "header"  # ヘッダ行がない・読めない
    MISSING_COLUMN = "missing_column"  # 標準の項目がヘッダにない
    EXTRA_COLUMN = "extra_column"  # 標準にない項目がヘッダにある
    DUPLICATE_COLUMN = "duplicate_column"  # 同じ項目が2回ある
    # a record
    CSV_SYNTAX = "csv_syntax"  # RFC 4180 に沿わない引用符
    TRUNCATED = "truncated"  # 改行のない最終行で項目が足りない（途中で切れたファイル）
    FIELD_COUNT = "field_count"  # 項目数がヘッダと合わない（空行を含む）
    # an item value
    REQUIRED = "required"  # 必須項目が空
    TOO_LONG = "too_long"  # 桁数・文字数の超過
    LENGTH = "length"  # 固定長の桁数が足りない
    TYPE = "type"  # 型に合わない（数字でない、フラグが0/1でない…）
    DATE = "date"  # ありえない日付
    CODE = "code"  # コード表にないコード
    CHECK_DIGIT = "check_digit"  # 検査用数字が正しくない
    CHARSET = "charset"  # 使えない文字（制御文字、外字不可の項目の外字）
    GAIJI = "gaiji"  # 外字（私用領域の文字）: 対応表で置き換えが必要
    UNENCODABLE = "unencodable"  # 出力の文字コードで表せない文字
    # rows taken together
    TENANT = "tenant"  # 別の団体のファイル
    DUPLICATE_KEY = "duplicate_key"  # キーの重複
    SEQUENCE = "sequence"  # 履歴番号の欠番・順序
    INCONSISTENT = "inconsistent"  # 項目どうしが矛盾する
    HISTORY = "history"  # 履歴の行を異動から再現できない
    REFERENCE = "reference"  # 参照先がない
    UNSUPPORTED = "unsupported"  # Moyai がまだ記録できない内容


@dataclass(frozen=True)
class Problem:
    """One problem: where (file, row, item), what (value) and why (reason_ja, kind)."""

    file: str
    row: int | None  # line number where the record starts (header = 1); None: the whole file
    item: str | None  # standard item name (Japanese), None when not about one item
    value: str | None  # the offending value as read (or as it would be written)
    reason_ja: str
    kind: str  # a ProblemKind value
    item_id: str | None = None  # the item's identifier in the layout

    def __str__(self) -> str:
        where = self.file + (f" {self.row}行目" if self.row is not None else "")
        what = f" {self.item}" if self.item else ""
        value = f"「{self.value}」" if self.value else ""
        return f"{where}{what}{value}: {self.reason_ja}"


def unique_problems(problems: Iterable[Problem]) -> list[Problem]:
    """The problems without exact duplicates, in first-seen order."""
    return list(dict.fromkeys(problems))
