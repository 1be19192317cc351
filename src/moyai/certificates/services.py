"""Use cases: compose a certificate from the registry as of a date, issue it signed, keep the 交付履歴.

Reads the registry only through :mod:`moyai.residents.selectors` (which logs the view), the
issuer and the fees from the 団体's parameters in force on the issue date, and records every
issuance twice: in the 交付履歴 (:class:`~.models.IssuanceRecord`, with the 発行番号 from the
per-団体 counter) and in the access log (標準仕様書 10.2: 帳票発行, with the 発行番号 and whether
個人番号 was printed).

The counter UI calls :func:`issue_at_counter` and :func:`preview`; the kiosk API
(:mod:`.kiosk`) calls :func:`issue_certificate` with the コンビニ channel.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from moyai.platform.audit import services as audit
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.models import TenantParameter
from moyai.platform.tenancy.scope import current_tenant_code, tenant_scope
from moyai.platform.tenancy.services import get_tenant, parameter
from moyai.residents import selectors
from moyai.residents.domain.model import JST, PersonState
from moyai.residents.suppression import SuppressionError

from .domain import (
    BasicItem,
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
from .models import Channel, IssuanceRecord, IssueCounter
from .render import renderer
from .signing import FileIdentityStore, PdfSigner

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
    basic_items: frozenset[BasicItem] = frozenset()  # 記載事項証明書: the items to certify
    requester_name: str = ""  # 請求者の氏名・名称 (kept in the 交付履歴, never printed)
    requested_by: str | None = None  # the requester's 宛名番号 when a resident (本人 or 同一世帯の者; 支援措置)
    fee_exempt: bool = False  # 手数料の免除 (e.g. 公用請求), decided by staff
    as_of: dt.date | None = None  # None: the issue date
    terminal: str = ""  # 発行端末 (e.g. 本庁1)
    printer: str = ""  # 発行プリンタ (e.g. プリンタ001)
    families: Mapping[str, str] = field(default_factory=dict)  # see domain.household_order


_ISSUE_PARAMETERS: tuple[str, ...] = ("issuer_title", "issuer_name", "certificate_seal_text",
                                       "certificate_certification_texts", "certificate_fee", "kiosk_fee")


class _Parameters:
    """The active 団体 and its issuance parameters in force on one day, read with two queries
    instead of one per parameter (and one more for the 団体 per default): the same rule as
    :func:`moyai.platform.tenancy.services.parameter`, the 団体's latest value in force, else the
    consortium's default."""

    def __init__(self, on: dt.date, keys: tuple[str, ...] = _ISSUE_PARAMETERS) -> None:
        self.on = on
        self.tenant = get_tenant(current_tenant_code())
        self.values: dict[str, Any] = {}
        rows = (TenantParameter.objects.filter(key__in=keys, effective_from__lte=on)
                .order_by("key", "-effective_from", "-version").values_list("key", "value"))
        for key, value in rows:
            self.values.setdefault(key, value)
        for key in keys:
            if key not in self.values and key in self.tenant.consortium.default_parameters:
                self.values[key] = self.tenant.consortium.default_parameters[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.values:
            return self.values[key]
        if default is None:
            raise CertificateError(CertificateErrorCode.PARAMETER, f"団体パラメータ {key} が設定されていません")
        return default


def _param(key: str, on: dt.date, default: Any = None) -> Any:
    try:
        return parameter(key, on)
    except KeyError:
        if default is None:
            raise CertificateError(CertificateErrorCode.PARAMETER,
                                   f"団体パラメータ {key} が設定されていません") from None
        return default


def issuer_on(on: dt.date, params: _Parameters | None = None) -> Issuer:
    """The 証明者 of the active 団体 on ``on``: 職名 with the prefecture (5.6), 氏名, 公印, 認証文.

    Parameters: ``issuer_title`` (市長, 町長 …), ``issuer_name``, optionally ``certificate_seal_text``
    and ``certificate_certification_texts`` (a mapping replacing the default 認証文).
    """
    p = params if params is not None and params.on == on else _Parameters(on)
    tenant = p.tenant
    title = str(p.get("issuer_title"))
    if title.startswith(tenant.name):  # the parameter already names the 団体 (周南市長)
        office = title
    else:  # 周南市 + 市長 → 周南市長
        office = tenant.name + (title[1:] if title[:1] and tenant.name.endswith(title[0]) else title)
    texts = p.get("certificate_certification_texts", {})
    return Issuer(
        tenant_code=tenant.code,
        prefecture=tenant.prefecture,
        municipality=tenant.name,
        title=f"{tenant.prefecture}{office}",
        name=str(p.get("issuer_name")),
        seal_text=str(p.get("certificate_seal_text", f"{office}之印")),
        certification_texts={str(k): str(v) for k, v in texts.items()} if isinstance(texts, dict) else {},
    )


def serial_of(tenant_code: str, issued_on: dt.date, sequence: int) -> str:
    return f"{tenant_code}-{issued_on:%Y%m%d}-{sequence:06d}"


def _persons(actor: Principal, req: CertificateRequest, as_of: dt.date) -> tuple[list[PersonState], list[PersonState]]:
    """(persons asked for, the whole household on the date) from the registry, through the selectors.

    The household is the whole 世帯, including persons under a 支援措置 whom the view leaves out
    for staff without the right: whether they are printed, left out or stop the issuance is for
    :func:`_suppression_check` (the issuance rules), not for the view."""
    purpose = req.purpose or PURPOSE_LOG
    view = selectors.resident_view(actor, req.atena_no, as_of=as_of, purpose=purpose, process="issuance")
    if req.kind.removed:
        persons = [view.record]
        for other in req.members or ():
            if other != req.atena_no:
                persons.append(selectors.resident_view(actor, other, as_of=as_of, purpose=purpose,
                                                       process="issuance").record)
        return persons, []
    household = list(view.household) or [view.record]
    if view.record.household_no and view.record.is_resident:
        household = selectors.household_on(view.record.household_no, as_of=as_of) or household
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
    try:
        with tenant_scope(actor.tenant_code):
            return _compose(actor, req, lambda _day: sequence, now)[0]
    except SuppressionError as exc:
        raise _suppressed(exc) from exc


def _compose(actor: Principal, req: CertificateRequest, sequence: Callable[[dt.date], int],
             now: dt.datetime | None, params: list[_Parameters] | None = None) -> tuple[Certificate, list[str]]:
    """Read the registry, then take the sequence number (``sequence(issue date)``) and compose.

    The number is taken last, after every check that can refuse, so that a refused request
    uses no number (a rollback after it may still leave a gap; never a duplicate)."""
    now = (now or dt.datetime.now(JST)).astimezone(JST)
    today = now.date()
    as_of = req.as_of or today
    if as_of > today:
        raise CertificateError(CertificateErrorCode.FORM, "基準日に将来の日付は指定できません", field="as_of")
    persons, household = _persons(actor, req, as_of)
    persons = _suppression_check(actor, req, persons, today, now)
    read = _Parameters(today)
    if params is not None:
        params.append(read)  # for the fee, without reading them again
    issuer = issuer_on(today, read)
    selection = Selection(req.kind, req.form, req.requester, req.items, req.purpose, req.basic_items)
    # Compose once with a placeholder to run every check before a number is taken.
    compose(selection, persons=persons, household=household, as_of=as_of, issued_at=now, issuer=issuer,
            issue_number=IssueNumber(today, issuer.municipality, req.terminal, req.printer, 0),
            serial=serial_of(issuer.tenant_code, today, 0), families=req.families)
    seq = sequence(today)
    number = IssueNumber(today, issuer.municipality, req.terminal, req.printer, seq)
    cert = compose(selection, persons=persons, household=household, as_of=as_of, issued_at=now, issuer=issuer,
                   issue_number=number, serial=serial_of(issuer.tenant_code, today, seq), families=req.families)
    return cert, [p.atena_no for p in persons]


_SUPPRESSION_REQUESTER: dict[Requester, str] = {
    Requester.SELF: "self", Requester.WIDE_AREA: "self", Requester.PUBLIC_BODY: "public_office",
    Requester.THIRD_PARTY: "third_party",
}


def _suppression_check(actor: Principal, req: CertificateRequest, persons: list[PersonState], today: dt.date,
                       now: dt.datetime) -> list[PersonState]:
    """支援措置 and 発行抑止 (``residents.selectors.issuance_check``): refuse, or leave out the persons
    the rules omit. A 本人等 request without the requester's 宛名番号 counts as one from the
    same 世帯 (the stricter reading): the counter names the requester to be treated as 本人."""
    requester = _SUPPRESSION_REQUESTER[req.requester]
    if requester == "self" and req.requested_by is None:
        requester = "same_household"
    decision = selectors.issuance_check(actor, [p.atena_no for p in persons], requester=requester,  # type: ignore[arg-type]
                                        on=today, now=now, requested_by=req.requested_by)
    if decision.refused:
        raise selectors.issuance_refusal(actor, decision)
    if decision.omitted:
        keep = set(decision.allowed)
        persons = [p for p in persons if p.atena_no in keep]
        if not persons:
            raise selectors.issuance_refusal(actor, decision)
    return persons


def _suppressed(exc: SuppressionError) -> CertificateError:
    """After the refused work rolled back: keep the blocked attempt, answer as a certificate error."""
    exc.record()
    return CertificateError(CertificateErrorCode.SUPPRESSED, exc.message, field=exc.field or "atena_no",
                            status=exc.status)  # 404 where the person must look "not found"


# --- 交付履歴 and the 発行番号 counter --------------------------------------------------------------


def next_sequence(on: dt.date) -> int:
    """The next 発行番号 sequence of the active 団体 on ``on`` (one counter per day, from 1).

    One UPDATE … SET value = value + 1: on PostgreSQL the row stays locked until the transaction
    ends, so two issuances never get the same number; the first of the day creates the row (a
    concurrent creator loses the race on the primary key and increments instead). The serial's
    primary key in the 交付履歴 is the last guard against a duplicate.
    """
    name = f"d{on:%Y%m%d}"
    meta = IssueCounter._meta
    table, tenant_col = meta.db_table, meta.get_field("tenant").column
    with connection.cursor() as cur:  # one round trip: UPDATE … RETURNING (SQLite ≥ 3.35, PostgreSQL)
        cur.execute(f"UPDATE {table} SET value = value + 1 WHERE {tenant_col} = %s AND name = %s RETURNING value",
                    [current_tenant_code(), name])
        row = cur.fetchone()
    if row is not None:
        return int(row[0])
    try:
        with transaction.atomic():
            IssueCounter.objects.create(name=name, value=1)
        return 1
    except IntegrityError:
        IssueCounter.objects.filter(name=name).update(value=F("value") + 1)
    value: int = IssueCounter.objects.filter(name=name).values_list("value", flat=True).get()
    return value


def fee_for(kind: CertificateKind, channel: Channel, on: dt.date, params: _Parameters | None = None) -> int:
    """手数料 (yen) from the 団体's parameters in force on ``on`` (else the consortium default):
    ``certificate_fee`` at the counter, ``kiosk_fee`` for コンビニ交付; each either a number or a
    mapping by kind (``resident_copy`` …) with an optional ``default``."""
    key = "kiosk_fee" if channel == Channel.KIOSK else "certificate_fee"
    value = params.get(key) if params is not None and params.on == on else _param(key, on)
    if isinstance(value, dict):
        value = value.get(kind.value, value.get("default"))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CertificateError(CertificateErrorCode.PARAMETER,
                               f"団体パラメータ {key} に{kind.label}の手数料（0以上の整数）がありません")
    return value


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate issued and recorded: the signed PDF, its serial and 発行番号, the fee."""

    serial: str
    pdf: bytes
    issue_number: str
    pages: int
    fee: int
    certificate: Certificate
    payload: str  # the QR code's text
    alerts: tuple[str, ...] = ()


_signers: dict[tuple[str, str], PdfSigner] = {}
_signers_lock = threading.Lock()


def signer_for(tenant_code: str) -> PdfSigner:
    """The 団体's :class:`PdfSigner` from the key store (``$MOYAI_CERT_KEY_DIR``), one per process."""
    root = os.environ.get("MOYAI_CERT_KEY_DIR", "")
    with _signers_lock:
        found = _signers.get((root, tenant_code))
        if found is None:
            try:
                found = PdfSigner(FileIdentityStore().load(tenant_code))
            except LookupError:
                raise CertificateError(CertificateErrorCode.PARAMETER,
                                       f"団体 {tenant_code} の証明書署名鍵が設定されていないため交付できません") from None
            _signers[(root, tenant_code)] = found
        return found


def issue(actor: Principal, req: CertificateRequest, signer: PdfSigner, *, sequence: int | None = None,
          now: dt.datetime | None = None, channel: Channel = Channel.COUNTER) -> tuple[Certificate, Produced]:
    """Compose, render, sign and record (交付履歴 and access log), inside the active 団体's scope.

    ``sequence`` None takes the next number of the day from the counter (the normal case); a
    given number is for tests and tools that manage their own numbering.
    """
    issued = issue_certificate(actor, req, signer, sequence=sequence, now=now, channel=channel)
    return issued.certificate, Produced(pdf=issued.pdf, payload=issued.payload, pages=issued.pages,
                                        alerts=list(issued.alerts))


def issue_certificate(actor: Principal, req: CertificateRequest, signer: PdfSigner, *, sequence: int | None,
                      now: dt.datetime | None, channel: Channel) -> IssuedCertificate:
    """Issue and record (交付履歴, access log). A refusal by 支援措置 or 抑止 rolls this work back,
    keeps the blocked attempt in the access log, and raises :class:`CertificateError` (``suppressed``)."""
    try:
        return _issue_in_scope(actor, req, signer, sequence=sequence, now=now, channel=channel)
    except SuppressionError as exc:
        raise _suppressed(exc) from exc


def _issue_in_scope(actor: Principal, req: CertificateRequest, signer: PdfSigner, *, sequence: int | None,
                    now: dt.datetime | None, channel: Channel) -> IssuedCertificate:
    with tenant_scope(actor.tenant_code):
        if signer.identity.tenant_code != actor.tenant_code:
            raise CertificateError(CertificateErrorCode.PARAMETER, "署名鍵が別の団体のものです")
        read: list[_Parameters] = []
        cert, subjects = _compose(actor, req, (lambda _d: sequence) if sequence is not None else next_sequence, now,
                                  read)
        fee = 0 if req.fee_exempt else fee_for(req.kind, channel, cert.issued_on, read[0])
        produced = produce(cert, signer)
        IssuanceRecord.objects.create(
            serial=cert.serial, sequence=cert.issue_number.sequence, issue_number=cert.issue_number.text(),
            kind=cert.kind.value, form=cert.form.value, persons=subjects, whole_household=cert.whole_household,
            requester_kind=req.requester.value, requester_name=req.requester_name[:200], purpose=req.purpose[:200],
            items=sorted(i.value for i in cert.shown), basic_items=sorted(b.value for b in req.basic_items),
            as_of=cert.as_of, channel=channel.value, fee=fee, staff=actor.label, digest=cert.digest().hex(),
            key_id=signer.identity.key_id, pages=produced.pages, issued_at=cert.issued_at,
        )
        audit.record(actor, "certificate.issue", subjects, purpose=req.purpose or PURPOSE_LOG,
                     individual_number=OptionalItem.INDIVIDUAL_NUMBER in cert.shown,
                     detail={"serial": cert.serial, "issue_number": cert.issue_number.text(), "kind": cert.kind.value,
                             "form": cert.form.value, "requester": req.requester.value, "pages": produced.pages,
                             "items": sorted(i.value for i in cert.shown), "as_of": cert.as_of.isoformat(),
                             "members": len(cert.members), "channel": channel.value, "fee": fee, "seal": True,
                             "alerts": produced.alerts})
    return IssuedCertificate(serial=cert.serial, pdf=produced.pdf, issue_number=cert.issue_number.text(),
                             pages=produced.pages, fee=fee, certificate=cert, payload=produced.payload,
                             alerts=tuple(produced.alerts))


ISSUE_PERMISSION: str = "certificate.issue"
PREVIEW_WATERMARK: str = "見本"


def issue_at_counter(actor: Principal, request: CertificateRequest, *,
                     now: dt.datetime | None = None) -> IssuedCertificate:
    """窓口交付: check the right, issue the signed PDF with the next 発行番号, record it.

    Raises :class:`CertificateError` (Japanese message, ``field``) when it cannot be issued. A
    caller that wraps this in its own transaction should catch the error inside it and commit,
    so that the audit entry of a refused attempt is kept.
    """
    _require(actor, ISSUE_PERMISSION)
    return issue_certificate(actor, request, signer_for(actor.tenant_code), sequence=None, now=now, channel=Channel.COUNTER)


def preview(actor: Principal, request: CertificateRequest, *, now: dt.datetime | None = None) -> bytes:
    """The certificate as it would be issued, as an unsigned PDF marked 「見本」 across every page:
    no 発行番号 is taken (its sequence shows 000), no QR code that verifies, nothing in the 交付履歴."""
    _require(actor, ISSUE_PERMISSION)
    try:
        with tenant_scope(actor.tenant_code):
            cert, subjects = _compose(actor, request, lambda _d: 0, now)
            rendered = renderer().render(cert, "見本（この書面は証明書ではありません）", watermark=PREVIEW_WATERMARK)
            audit.record(actor, "certificate.preview", subjects, purpose=request.purpose or PURPOSE_LOG,
                         individual_number=OptionalItem.INDIVIDUAL_NUMBER in cert.shown,
                         detail={"kind": cert.kind.value, "form": cert.form.value, "pages": rendered.pages})
    except SuppressionError as exc:
        raise _suppressed(exc) from exc
    return rendered.pdf


def _require(actor: Principal, permission: str) -> None:
    if permission not in actor.permissions:
        audit.record_denied(actor.tenant_code, actor, f"denied:{permission}", "権限がありません")
        raise CertificateError(CertificateErrorCode.NOT_ALLOWED, "証明書を交付する権限がありません", status=403)


def records(*, limit: int = 200) -> list[dict[str, Any]]:
    """The latest 交付履歴 rows of the active 団体 (newest first), for staff screens and tests."""
    return list(IssuanceRecord.objects.order_by("-issued_at", "-serial").values()[:limit])
