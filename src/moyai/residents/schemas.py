"""Typed request and response schemas of the 住民記録 API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import Field


class ResidentSummary(Schema):
    atena_no: str = Field(description="宛名番号")
    household_no: str = Field(description="世帯番号")
    status: str = Field(description="住民状態: resident 住民 / removed 消除")
    resident_kind: str = Field(description="住民種別: japanese / foreign")
    name: str = Field(description="氏名")
    kana: str = Field(description="フリガナ")
    birth_date: str = Field(description="生年月日（和暦、外国人住民は西暦）")
    sex: str = Field(description="性別コード")
    relationship: str = Field(description="続柄")
    address: str = Field(description="住所")
    katagaki: str = Field(description="方書")


class SearchPage(Schema):
    total: int = Field(description="該当件数（1,001 は「1,000件超」を表す）")
    more: bool = Field(False, description="該当が1,000件を超える（条件を追加してください）")
    page: int
    per_page: int
    items: list[ResidentSummary]


class ResidentRecord(Schema):
    atena_no: str
    items: dict[str, Any] = Field(description="住民票の全項目")
    birth_date_display: str = Field(description="生年月日の表示")
    household: list[ResidentSummary]
    as_of: dt.date | None
    recorded_at: dt.datetime | None


class HistoryRowOut(Schema):
    atena_no: str
    history_no: int = Field(description="履歴番号")
    kind: str
    kind_label: str
    reason_code: str = Field(description="異動事由コード")
    effective_date: dt.date = Field(description="異動日")
    notified_date: dt.date | None = Field(description="届出日")
    processed_on: dt.date = Field(description="処理日")
    recorded_at: dt.datetime = Field(description="記録日時")
    cancelled: bool
    items: dict[str, Any] | None


class SubjectIn(Schema):
    atena_no: str | None = Field(None, description="宛名番号（転入・出生など新規記載では省略）")
    changes: dict[str, Any] = Field(default_factory=dict, description="項目名と値。household_no に \"new\" で新世帯")


class ChangeIn(Schema):
    kind: str = Field(description="異動の種類（move_in, move_within, birth…）")
    effective_date: dt.date = Field(description="異動日")
    notified_date: dt.date | None = Field(None, description="届出日")
    subjects: list[SubjectIn] = Field(min_length=1)
    cancels: int | None = Field(None, description="取り消す異動（取消しのとき）")


class FindingOut(Schema):
    rule: str
    level: Literal["error", "alert"]
    message: str
    atena_no: str | None
    field: str | None


class ChangeOut(Schema):
    id: str = Field(description="仮登録の番号（63ビット整数の10進文字列。JavaScript の数値では桁が失われるため文字列）")
    kind: str
    kind_label: str
    status: str
    effective_date: dt.date
    notified_date: dt.date | None
    subjects: list[str]
    findings: list[FindingOut]
    created_by: str
    decided_by: str
    notices: list[str] = Field(default_factory=list, description="お知らせ（住民票コード在庫の警告など）")


class ConfirmIn(Schema):
    confirm_alerts: bool = Field(False, description="アラートを確認済みとして登録する")
    note: str = ""


class RejectIn(Schema):
    note: str = Field(min_length=1, description="却下の理由")


class PoolStatusOut(Schema):
    free: int
    threshold: int
    low: bool
    message: str


class CodesIn(Schema):
    codes: list[str] = Field(min_length=1)
