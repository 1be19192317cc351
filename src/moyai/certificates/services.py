"""Use cases: compose a certificate from the registry as of a date, and issue it signed.

Reads the registry only through :mod:`moyai.residents.selectors` (which logs the view), the
issuer from the 団体's parameters in force on the issue date, and records the issuance in the
access log (標準仕様書 10.2: 帳票発行, with the 発行番号 and whether 個人番号 was printed).

The 発行番号's sequence is given by the caller for now: the 交付履歴 (issuance history, with its
per-団体 counter) is the next part of issue 5.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from moyai.platform.audit import services as audit
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.scope import current_tenant_code
from moyai.platform.tenancy.services import get_tenant, parameter
from moyai.residents import selectors
from moyai.residents.domain.model import JST, PersonState

from .domain import (
    Certificate,
    CertificateError,
    CertificateErrorCode,
    CertificateKind,
    Form,
    IssueNumber,
    Issuer,
    OptionalItem,
    Requester,
    Selection,
    compose,
)
from .issuance import Produced, produce
from .signing import PdfSigner

PURPOSE_LOG: str = "証明書発行"


@dataclass(frozen=True)
class CertificateRequest:
    """A request at the counter (or from a kiosk): whose certificate, which form, which items."""

    atena_no: str  # the person asked about; for 世帯連記式, their household
    kind: CertificateKind = CertificateKind.RESIDENT_COPY
    form: Form = Form.HOUSEHOLD
    members: tuple[str, ...] | None = None  # 宛名番号 of the persons to print; None: the whole household
    requester: Requester = Requester.SELF
    items: frozenset[OptionalItem] = frozenset()
    purpose: str = ""  # 請求の目的 (needed for any optional item; always logged)
    as_of: dt.date | None = None  # None: the issue date
    terminal: str = ""  # 発行端末 (e.g. 本庁1)
    printer: str = ""  # 発行プリンタ (e.g. プリンタ001)
    families: Mapping[str, str] = field(default_factory=dict)  # see domain.household_order


def _param(key: str, on: dt.date, default: object = None) -> object:
    try:
        return parameter(key, on)
    except KeyError:
        if default is None:
            raise CertificateError(CertificateErrorCode.PARAMETER,
                                   f"団体パラメータ {key} が設定されていません") from None
        return default


def issuer_on(on: dt.date) -> Issuer:
    """The 証明者 of the active 団体 on ``on``: 職名 with the prefecture (5.6), 氏名, 公印, 認証文.

    Parameters: ``issuer_title`` (市長, 町長 …), ``issuer_name``, optionally ``certificate_seal_text``
    and ``certificate_certification_texts`` (a mapping replacing the default 認証文).
    """
    tenant = get_tenant(current_tenant_code())
    title = str(_param("issuer_title", on))
    office = tenant.name + (title[1:] if title[:1] and tenant.name.endswith(title[0]) else title)  # 周南市+市長 → 周南市長
    texts = _param("certificate_certification_texts", on, {})
    return Issuer(
        tenant_code=tenant.code,
        prefecture=tenant.prefecture,
        municipality=tenant.name,
        title=f"{tenant.prefecture}{office}",
        name=str(_param("issuer_name", on)),
        seal_text=str(_param("certificate_seal_text", on, f"{office}之印")),
        certification_texts={str(k): str(v) for k, v in texts.items()} if isinstance(texts, dict) else {},
    )


def serial_of(tenant_code: str, issued_on: dt.date, sequence: int) -> str:
    return f"{tenant_code}-{issued_on:%Y%m%d}-{sequence:06d}"


def _persons(actor: Principal, req: CertificateRequest, as_of: dt.date) -> tuple[list[PersonState], list[PersonState]]:
    """(persons printed, the whole household on the date) from the registry, through the selectors."""
    view = selectors.resident_view(actor, req.atena_no, as_of=as_of, purpose=req.purpose or PURPOSE_LOG)
    if req.kind == CertificateKind.REMOVED_COPY:
        persons = [view.record]
        for other in req.members or ():
            if other != req.atena_no:
                persons.append(selectors.resident_view(actor, other, as_of=as_of,
                                                       purpose=req.purpose or PURPOSE_LOG).record)
        return persons, []
    household = list(view.household) or [view.record]
    if req.form == Form.INDIVIDUAL:
        return [view.record], household
    if req.members is None:
        return household, household
    by_atena = {m.atena_no: m for m in household}
    missing = [a for a in req.members if a not in by_atena]
    if missing:
        raise CertificateError(CertificateErrorCode.NOT_IN_HOUSEHOLD,
                               f"宛名番号 {'、'.join(missing)} は基準日にこの世帯の世帯員ではありません", field="members")
    return [by_atena[a] for a in req.members], household


def compose_certificate(actor: Principal, req: CertificateRequest, *, sequence: int,
                        now: dt.datetime | None = None) -> Certificate:
    """The certificate as it would be issued now (a preview: the view is logged, no issuance)."""
    return _compose(actor, req, sequence, now)[0]


def _compose(actor: Principal, req: CertificateRequest, sequence: int,
             now: dt.datetime | None) -> tuple[Certificate, list[str]]:
    now = (now or dt.datetime.now(JST)).astimezone(JST)
    today = now.date()
    as_of = req.as_of or today
    if as_of > today:
        raise CertificateError(CertificateErrorCode.FORM, "基準日に将来の日付は指定できません", field="as_of")
    persons, household = _persons(actor, req, as_of)
    issuer = issuer_on(today)
    number = IssueNumber(today, issuer.municipality, req.terminal, req.printer, sequence)
    selection = Selection(req.kind, req.form, req.requester, req.items, req.purpose)
    cert = compose(selection, persons=persons, household=household, as_of=as_of, issued_at=now, issuer=issuer,
                   issue_number=number, serial=serial_of(issuer.tenant_code, today, sequence), families=req.families)
    return cert, [p.atena_no for p in persons]


def issue(actor: Principal, req: CertificateRequest, signer: PdfSigner, *, sequence: int,
          now: dt.datetime | None = None) -> tuple[Certificate, Produced]:
    """Compose, render and sign; the issuance is written to the access log with its 発行番号."""
    cert, subjects = _compose(actor, req, sequence, now)
    if signer.identity.tenant_code != cert.issuer.tenant_code:
        raise CertificateError(CertificateErrorCode.PARAMETER, "署名鍵が別の団体のものです")
    produced = produce(cert, signer)
    audit.record(actor, "certificate.issue", subjects, purpose=req.purpose or PURPOSE_LOG,
                 individual_number=OptionalItem.INDIVIDUAL_NUMBER in cert.shown,
                 detail={"serial": cert.serial, "issue_number": cert.issue_number.text(), "kind": cert.kind.value,
                         "form": cert.form.value, "requester": req.requester.value, "pages": produced.pages,
                         "items": sorted(i.value for i in cert.shown), "as_of": cert.as_of.isoformat(),
                         "members": len(cert.members), "seal": True, "alerts": produced.alerts})
    return cert, produced
