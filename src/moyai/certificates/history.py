"""交付履歴照会 (住民記録システム標準仕様書 2.2.2): staff look up the certificates issued.

The 交付履歴 (:class:`~moyai.certificates.models.IssuanceRecord`) names persons by 宛名番号 only;
listing it is an access to personal data, so every query is written to the access log naming the
persons on the page returned (and a refused query is logged as such). The 失効 of each
certificate is shown beside it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from moyai.platform.audit import services as audit
from moyai.platform.identity.services import Principal

from .domain import CertificateError, CertificateErrorCode, CertificateKind
from .models import IssuanceRecord, Revocation

JST: Final = ZoneInfo("Asia/Tokyo")
PERMISSION: Final = "certificate.history"
MAX_PER_PAGE: Final = 200
MAX_DAYS: Final = 366  # one query covers at most a year of issuances


@dataclass(frozen=True)
class IssuanceQuery:
    date_from: dt.date
    date_to: dt.date
    atena_no: str = ""  # certificates naming this person
    channel: str = ""  # counter 窓口 / kiosk コンビニ交付
    staff: str = ""  # 交付者
    kind: str = ""  # 証明書の種別 (CertificateKind value)
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class IssuanceRow:
    serial: str
    issue_number: str
    kind: str
    form: str
    persons: tuple[str, ...]
    whole_household: bool
    requester_kind: str
    requester_name: str
    purpose: str
    items: tuple[str, ...]
    as_of: dt.date
    channel: str
    fee: int
    staff: str
    pages: int
    issued_at: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str


@dataclass(frozen=True)
class IssuancePage:
    total: int
    page: int
    per_page: int
    rows: list[IssuanceRow]


def _check(q: IssuanceQuery) -> None:
    if q.date_to < q.date_from:
        raise CertificateError(CertificateErrorCode.QUERY, "期間の終了日が開始日より前です", field="date_to")
    if (q.date_to - q.date_from).days >= MAX_DAYS:
        raise CertificateError(CertificateErrorCode.QUERY, f"期間は{MAX_DAYS}日以内で指定してください", field="date_to")
    if not 1 <= q.per_page <= MAX_PER_PAGE:
        raise CertificateError(CertificateErrorCode.QUERY, f"1ページの件数は1〜{MAX_PER_PAGE}件です", field="per_page")
    if q.page < 1:
        raise CertificateError(CertificateErrorCode.QUERY, "ページは1以上です", field="page")
    if q.kind and q.kind not in {k.value for k in CertificateKind}:
        raise CertificateError(CertificateErrorCode.QUERY, f"証明書の種別 {q.kind} はありません", field="kind")
    if q.channel not in ("", "counter", "kiosk"):
        raise CertificateError(CertificateErrorCode.QUERY, "交付の方法は counter（窓口）か kiosk（コンビニ交付）です",
                               field="channel")


def issuances(actor: Principal, q: IssuanceQuery) -> IssuancePage:
    """The 交付履歴 of the active 団体 between two dates (JST, both included), newest first."""
    if PERMISSION not in actor.permissions:
        audit.record_denied(actor.tenant_code, actor, f"denied:{PERMISSION}", "権限がありません",
                            [q.atena_no] if q.atena_no else [])
        raise CertificateError(CertificateErrorCode.NOT_ALLOWED, "交付履歴を照会する権限がありません", status=403)
    _check(q)
    start = dt.datetime.combine(q.date_from, dt.time.min, tzinfo=JST)
    end = dt.datetime.combine(q.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=JST)
    qs = IssuanceRecord.objects.filter(issued_at__gte=start, issued_at__lt=end)
    if q.channel:
        qs = qs.filter(channel=q.channel)
    if q.staff:
        qs = qs.filter(staff=q.staff)
    if q.kind:
        qs = qs.filter(kind=q.kind)
    rows: list[dict[str, Any]] = list(qs.order_by("-issued_at", "-serial").values())
    if q.atena_no:  # the persons are a JSON list: filtered here, the same on both backends
        rows = [r for r in rows if q.atena_no in r["persons"]]
    total = len(rows)
    page = rows[(q.page - 1) * q.per_page: q.page * q.per_page]
    revoked = {r.serial: r for r in Revocation.objects.filter(serial__in=[r["serial"] for r in page])}
    out = [
        IssuanceRow(
            serial=r["serial"], issue_number=r["issue_number"], kind=r["kind"], form=r["form"],
            persons=tuple(r["persons"]), whole_household=r["whole_household"], requester_kind=r["requester_kind"],
            requester_name=r["requester_name"], purpose=r["purpose"], items=tuple(r["items"]), as_of=r["as_of"],
            channel=r["channel"], fee=r["fee"], staff=r["staff"], pages=r["pages"], issued_at=r["issued_at"],
            revoked_at=revoked[r["serial"]].revoked_at if r["serial"] in revoked else None,
            revocation_reason=revoked[r["serial"]].reason if r["serial"] in revoked else "",
        )
        for r in page
    ]
    subjects = sorted({p for row in out for p in row.persons})
    audit.record(actor, "certificate.history", subjects, purpose="交付履歴照会",
                 detail={"from": q.date_from.isoformat(), "to": q.date_to.isoformat(), "total": total,
                         "by_person": bool(q.atena_no)})
    return IssuancePage(total=total, page=q.page, per_page=q.per_page, rows=out)
