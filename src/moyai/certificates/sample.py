"""A synthetic certificate (no real person) for the docs, the demo and quick timing runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from moyai.platform.codes.tables import code_table
from moyai.platform.codes.wareki import parse_jp_date
from moyai.residents.domain.model import JST, PersonState

from . import domain as d

ADDRESS = "山口県周南市岐山通一丁目1番地"


def _jp(text: str) -> dict[str, Any]:
    return parse_jp_date(text).to_json()


def sample_household() -> list[PersonState]:
    common: dict[str, Any] = {"household_no": "000000019", "address": ADDRESS, "katagaki": "髙﨑ハイツ101号",
                              "became_resident_on": _jp("平成12年4月1日"), "address_set_on": _jp("令和2年6月1日"),
                              "previous_address": "広島県広島市中区基町1番"}
    return [
        PersonState("000000019", relationship="世帯主", family_name="𠮷田", given_name="太郎", birth_date=_jp(
            "昭和45年5月5日"), sex="1", honseki="山口県周南市毛利町一丁目1番地", hittousha="𠮷田　太郎", **common),
        PersonState("000000027", relationship="妻", family_name="𠮷田", given_name="花子",
                    birth_date=_jp("昭和47年2月3日"), sex="2", **common),
        PersonState("000000035", relationship="子", family_name="𠮷田", given_name="一",
                    birth_date=_jp("平成12年1月1日"), sex="1", **common),
        PersonState("000000043", relationship="同居人", resident_kind="foreign", name_alpha="SILVA JOAO",
                    birth_date=_jp("1980年3月4日"), sex="1", nationality="ブラジル", foreign_category="1",
                    residence_status=code_table("residence_status").code_for("定住者"), period_of_stay="5年",
                    stay_expiry="2029-03-31", foreign_resident_since="2019-04-01", **common),
    ]


def sample_certificate(sequence: int = 11, now: dt.datetime | None = None) -> d.Certificate:
    now = now or dt.datetime(2026, 5, 2, 10, 0, tzinfo=JST)
    members = sample_household()
    issuer = d.Issuer("352152", "山口県", "周南市", "山口県周南市長", "周南　太郎", "周南市長之印")
    return d.compose(
        d.Selection(d.CertificateKind.RESIDENT_COPY, d.Form.HOUSEHOLD, d.Requester.SELF,
                    frozenset({d.OptionalItem.HEAD_RELATIONSHIP}), "旅券申請"),
        persons=members, household=members, as_of=now.date(), issued_at=now, issuer=issuer,
        issue_number=d.IssueNumber(now.date(), "周南市", "本庁1", "プリンタ001", sequence),
        serial=f"352152-{now:%Y%m%d}-{sequence:06d}",
    )
