"""Counter (窓口) screens. Thin: read a form, call one selector or service, render.

Every screen of a 団体 is a :func:`~.access.counter_view`: log-in, membership and permission
(deny by default, refusals logged), then the view runs inside ``tenant_scope``. Data comes only
from ``residents.selectors`` / ``residents.services`` / ``certificates.services``, which write the
access log. Django's CSRF middleware guards every POST.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator

from moyai.certificates.domain import (
    BasicItem,
    CertificateError,
    CertificateKind,
    Form,
    OptionalItem,
    Requester,
    item_rules,
)
from moyai.certificates.services import CertificateRequest
from moyai.platform.identity.services import memberships_of
from moyai.platform.tenancy.services import get_tenant
from moyai.residents import selectors, services
from moyai.residents.domain.model import PersonState, jp_date_json, kind_spec
from moyai.residents.domain.rules import label
from moyai.residents.errors import RegistryError, ResidentsErrorCode
from moyai.residents.services import SubjectInput

from . import display, issuing
from .access import counter_view, log_blocked, principal, timed
from .forms import (
    BirthForm,
    CertificateForm,
    ConfirmForm,
    DeathForm,
    HouseholdChangeForm,
    JapaneseForm,
    MoveInForm,
    MoveOutForm,
    MoveWithinForm,
    SearchForm,
    member_choices,
)

CERTIFICATE_PERMISSION = "certificate.issue"
MOVE_PURPOSE = "異動届の受付"


# ------------------------------------------------------------------ frame


TENANT_LIST_SECONDS = 300  # the 団体 menu is display only: rights are checked on every request


def _tenants(request: HttpRequest) -> list[dict[str, str]]:
    """The 団体 the staff member belongs to, for the menu (kept in the session for a few minutes)."""
    kept = request.session.get("ui_tenants")
    if kept and kept.get("user") == request.user.pk and time.time() - kept.get("at", 0) < TENANT_LIST_SECONDS:
        return list(kept["rows"])
    rows = []
    for code, _roles in memberships_of(request.user):
        t = get_tenant(code)
        rows.append({"code": t.code, "name": t.name})
    request.session["ui_tenants"] = {"user": request.user.pk, "at": time.time(), "rows": rows}
    return rows


def page(request: HttpRequest, template: str, context: Mapping[str, Any] | None = None,
         status: int = 200) -> HttpResponse:
    ctx: dict[str, Any] = {"tenants": _tenants(request) if request.user.is_authenticated else []}
    code = getattr(request, "tenant_code", None)
    if code:
        ctx["tenant"] = next((t for t in ctx["tenants"] if t["code"] == code), {"code": code, "name": code})
        p = getattr(request, "principal", None)
        ctx["rights"] = p.permissions if p is not None else frozenset()
    ctx.update(context or {})
    return render(request, template, ctx, status=status)


@timed
def start(request: HttpRequest) -> HttpResponse:
    """``/``: the log-in screen, or the counter once logged in."""
    return redirect("ui:tenants" if request.user.is_authenticated else "login")


@method_decorator(timed, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "ui/login.html"
    redirect_authenticated_user = True


@timed
@login_required
def tenants(request: HttpRequest) -> HttpResponse:
    """団体の選択 (a staff member may serve several 団体)."""
    rows = _tenants(request)
    if len(rows) == 1 and "switch" not in request.GET:
        return redirect("ui:search", tenant=rows[0]["code"])
    return page(request, "ui/tenants.html", {"rows": rows})


# ------------------------------------------------------------------ search and detail


@counter_view("resident.search")
def search(request: HttpRequest, tenant: str) -> HttpResponse:
    form = SearchForm(request.GET or None)
    result = None
    if form.is_bound and form.is_valid() and any(
        form.cleaned_data[k] for k in ("name", "birth", "address", "atena_no")
    ):
        d = form.cleaned_data
        q = selectors.SearchQuery(name=d["name"], birth=d["birth"], address=d["address"], atena_no=d["atena_no"],
                                  include_removed=d["include_removed"], page=d["page"] or 1, per_page=20)
        try:
            result = selectors.search(principal(request), q)
        except RegistryError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    elif form.is_bound and form.is_valid():
        form.add_error(None, "検索条件を1つ以上入力してください")
    ctx = {"form": form, "result": result, "rows": _rows(result, tenant), "pages": _pages(request, result)}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        return page(request, "ui/partials/results.html", ctx)
    return page(request, "ui/search.html", ctx)


def _rows(result: selectors.SearchResult | None, tenant: str) -> list[dict[str, Any]]:
    if result is None:
        return []
    # the link to each record: one reverse() for the page rather than one per row in the template
    resident_url = reverse("ui:resident", kwargs={"tenant": tenant, "atena_no": "0"}).removesuffix("0/")
    return [{"atena_no": r.atena_no, "href": f"{resident_url}{quote(r.atena_no, safe='')}/", "name": r.display_name, "kana": r.display_kana,
             "birth": display.date_text(r.state.get("birth_date"), r.resident_kind), "sex": display.sex_label(r.sex),
             "address": f"{r.address}{' ' + r.katagaki if r.katagaki else ''}", "status": display.status_label(r.status),
             "marks": result.marks.get(r.atena_no, [])}
            for r in result.items]


def _pages(request: HttpRequest, result: selectors.SearchResult | None) -> dict[str, Any]:
    if result is None:
        return {}
    shown = min(result.total, selectors.COUNT_CAP)
    last = max(1, -(-shown // result.per_page))
    args = request.GET.copy()
    out: dict[str, Any] = {"page": result.page, "last": last,
                           "total": f"{selectors.COUNT_CAP:,}件超" if result.total > selectors.COUNT_CAP
                           else f"{result.total:,}件"}
    if result.page > 1:
        args["page"] = str(result.page - 1)
        out["prev"] = args.urlencode()
    if result.page < last:
        args["page"] = str(result.page + 1)
        out["next"] = args.urlencode()
    return out


def _as_of(request: HttpRequest) -> tuple[dt.date | None, str]:
    raw = request.GET.get("as_of", "").strip()
    if not raw:
        return None, ""
    try:
        return dt.date.fromisoformat(raw), ""
    except ValueError:
        return None, "基準日は年-月-日の形式で入力してください"


@counter_view("resident.view")
def resident(request: HttpRequest, tenant: str, atena_no: str) -> HttpResponse:
    """住民記録の照会: the record and 世帯 as of any date, and the 異動 history as a timeline."""
    as_of, as_of_error = _as_of(request)
    actor = principal(request)
    try:
        view = selectors.resident_view(actor, atena_no, as_of=as_of)
    except RegistryError as exc:
        if exc.code != ResidentsErrorCode.NOT_FOUND or as_of is None:
            raise
        view = None
        as_of_error = exc.message
    rows = selectors.history(actor, atena_no)
    record = view.record if view else None
    return page(request, "ui/resident.html", {
        "atena_no": atena_no, "record": record, "items": display.detail_items(record) if record else [],
        "notices": view.notices if view else (),
        "status": display.status_label(record.status) if record else "",
        "household": [_member(m) for m in view.household] if view else [],
        "timeline": display.timeline(rows, as_of), "as_of": as_of, "as_of_error": as_of_error,
        "as_of_text": display.date_text(as_of) if as_of else "",
    })


def _member(s: PersonState) -> dict[str, str]:
    return {"atena_no": s.atena_no, "name": s.display_name, "kana": s.display_kana, "relationship": s.relationship or "",
            "birth": display.date_text(s.birth_date, s.resident_kind), "sex": display.sex_label(s.sex)}


# ------------------------------------------------------------------ 異動 forms


def _findings_into(form: forms.Form, findings: Sequence[Mapping[str, Any]], field_of: Mapping[tuple[str, str], str]
                   ) -> list[dict[str, Any]]:
    """Put each finding next to its field (by item, and by person where the form has one field each)."""
    out = []
    for f in findings:
        item, who = f.get("field") or "", f.get("atena_no") or ""
        name = field_of.get((item, who)) or field_of.get((item, "")) or (item if item in form.fields else None)
        level = "エラー" if f["level"] == "error" else "アラート"
        out.append({**f, "level_label": level, "form_field": name})
        if name and f["level"] == "error":
            form.add_error(name, f"{level}: {f['message']}")
    return out


def _propose(request: HttpRequest, tenant: str, form: forms.Form, kind: str,
             subjects: list[SubjectInput], field_of: Mapping[tuple[str, str], str] | None = None
             ) -> tuple[HttpResponse | None, list[dict[str, Any]]]:
    """仮登録. With errors the request is withdrawn and the findings returned for the form."""
    actor = principal(request)
    d = form.cleaned_data
    try:
        with transaction.atomic():
            req = services.propose(actor, kind, d["effective_date"], subjects, notified_date=d.get("notified_date"))
    except RegistryError as exc:
        log_blocked(exc)
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None, []
    errors = [f for f in req.findings if f["level"] == "error"]
    if errors:
        services.withdraw(actor, req.id)
        return None, _findings_into(form, req.findings, field_of or {})
    return redirect("ui:change", tenant=tenant, change_id=req.id), []


def _household_of(request: HttpRequest, atena_no: str) -> selectors.ResidentView:
    return selectors.resident_view(principal(request), atena_no, purpose=MOVE_PURPOSE)


def _move_page(request: HttpRequest, form: forms.Form, title: str, findings: list[dict[str, Any]],
               who: selectors.ResidentView | None = None, **extra: Any) -> HttpResponse:
    return page(request, "ui/move_form.html", {"form": form, "title": title, "findings": findings,
                                               "who": who.record if who else None, **extra})


@counter_view("move.register")
def move_in(request: HttpRequest, tenant: str) -> HttpResponse:
    """転入届."""
    form = MoveInForm(request.POST or None)
    findings: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        items = {k: d[k] for k in ("family_name", "given_name", "family_kana", "given_kana", "birth_date", "sex",
                                   "relationship", "address", "katagaki", "postal_code", "previous_address")}
        items["household_no"] = d["household_no"].strip() or "new"
        if d["individual_number"].strip():
            items["individual_number"] = d["individual_number"]
        done, findings = _propose(request, tenant, form, "move_in", [SubjectInput(None, items)])
        if done:
            return done
    return _move_page(request, form, "転入届", findings)


@counter_view("move.register")
def birth(request: HttpRequest, tenant: str, atena_no: str) -> HttpResponse:
    """出生届: the child enters the 世帯 of the parent whose record the clerk opened."""
    parent = _household_of(request, atena_no)
    initial = {"family_name": parent.record.family_name, "family_kana": parent.record.family_kana, "relationship": "子"}
    form = BirthForm(request.POST or None, initial=initial)
    findings: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        p = parent.record
        items = {k: d[k] for k in ("family_name", "given_name", "family_kana", "given_kana", "sex", "relationship")}
        items.update(household_no=p.household_no, address=p.address, katagaki=p.katagaki, postal_code=p.postal_code,
                     address_code=p.address_code)
        done, findings = _propose(request, tenant, form, "birth", [SubjectInput(None, items)],
                                  {("birth_date", ""): "effective_date"})
        if done:
            return done
    return _move_page(request, form, "出生届", findings, parent)


def _subject_form(request: HttpRequest, cls: type[JapaneseForm], view: selectors.ResidentView, **kw: Any) -> Any:
    members = view.household or [view.record]
    form = cls(request.POST or None, initial={"subjects": [view.record.atena_no]}, **kw)
    form.choose("subjects", member_choices(members))
    return form


@counter_view("move.register")
def move_within(request: HttpRequest, tenant: str, atena_no: str) -> HttpResponse:
    """転居届 (within the 団体): one or more members of a 世帯 move to a new address."""
    who = _household_of(request, atena_no)
    form = _subject_form(request, MoveWithinForm, who)
    findings: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        subjects = [SubjectInput(a, {"address": d["address"], "katagaki": d["katagaki"], "postal_code": d["postal_code"]})
                    for a in d["subjects"]]
        done, findings = _propose(request, tenant, form, "move_within", subjects)
        if done:
            return done
    return _move_page(request, form, "転居届", findings, who)


@counter_view("move.register")
def move_out(request: HttpRequest, tenant: str, atena_no: str) -> HttpResponse:
    """転出届 (転出予定, or 転出確定)."""
    who = _household_of(request, atena_no)
    form = _subject_form(request, MoveOutForm, who)
    findings: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        kind = "move_out_planned" if d["planned"] else "move_out"
        subjects = [SubjectInput(a, {"next_address": d["next_address"], "next_postal_code": d["next_postal_code"]})
                    for a in d["subjects"]]
        done, findings = _propose(request, tenant, form, kind, subjects)
        if done:
            return done
    return _move_page(request, form, "転出届", findings, who)


@counter_view("move.register")
def death(request: HttpRequest, tenant: str, atena_no: str) -> HttpResponse:
    """死亡届."""
    who = _household_of(request, atena_no)
    form = DeathForm(request.POST or None)
    findings: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        done, findings = _propose(request, tenant, form, "death",
                                  [SubjectInput(atena_no, {"death_date": jp_date_json(d["effective_date"])})],
                                  {("death_date", ""): "effective_date"})
        if done:
            return done
    return _move_page(request, form, "死亡届", findings, who)


@counter_view("move.register")
def household_change(request: HttpRequest, tenant: str, atena_no: str) -> HttpResponse:
    """世帯変更届: 世帯主変更, 世帯分離 or 世帯合併."""
    who = _household_of(request, atena_no)
    members = who.household or [who.record]
    form = HouseholdChangeForm(request.POST or None, members=members,
                               initial={"kind": "head_change", "subjects": [m.atena_no for m in members]})
    findings: list[dict[str, Any]] = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        kind = d["kind"]
        subjects = []
        for a in d["subjects"]:
            changes: dict[str, Any] = {"relationship": d[f"rel_{a}"]}
            if kind == "household_split":
                changes["household_no"] = "new"
            elif kind == "household_merge":
                changes["household_no"] = d["target_household"]
            subjects.append(SubjectInput(a, changes))
        field_of = {("relationship", m.atena_no): f"rel_{m.atena_no}" for m in members}
        field_of[("household_no", "")] = "target_household"
        done, findings = _propose(request, tenant, form, kind, subjects, field_of)
        if done:
            return done
    return _move_page(request, form, "世帯変更届", findings, who, relationship_fields=form.relationship_fields())


# ------------------------------------------------------------------ 仮登録 → 本登録


def _change_rows(moves: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in moves:
        items = [{"label": label(k), "value": display.date_text(v) if isinstance(v, Mapping) else v}
                 for k, v in m["changes"].items()
                 if v not in (None, "") and k not in display.HIDDEN_ITEMS]
        out.append({"atena_no": m["atena_no"], "items": items})
    return out


@counter_view("move.register")
def change(request: HttpRequest, tenant: str, change_id: int) -> HttpResponse:
    """The 仮登録 with its findings; 本登録 (アラート need an explicit confirmation) or 取下げ."""
    actor = principal(request)
    form = ConfirmForm(request.POST or None)
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "withdraw":
            services.withdraw(actor, change_id)
            messages.info(request, f"仮登録 {change_id} を取り下げました")
            return redirect("ui:search", tenant=tenant)
        if form.is_valid():
            try:
                with transaction.atomic():
                    req = services.register(actor, change_id, confirm_alerts=form.cleaned_data["confirm_alerts"])
            except RegistryError as exc:
                log_blocked(exc)
                if exc.code == ResidentsErrorCode.ALERTS_NOT_CONFIRMED:
                    form.add_error("confirm_alerts", "アラートの内容を確認し、チェックしてから本登録してください")
                else:
                    error = exc.message
            else:
                first = req.moves[0]["atena_no"]
                what = kind_spec(req.kind).label
                if req.status == "awaiting_approval":
                    messages.info(request, f"{what}を審査待ちにしました（仮登録 {req.id}）")
                else:
                    messages.success(request, f"{what}を本登録しました（異動日 {display.date_text(req.effective_date)}）")
                return redirect("ui:resident", tenant=tenant, atena_no=first)
    req = selectors.change_view(actor, change_id)
    findings = [{**f, "level_label": "エラー" if f["level"] == "error" else "アラート"} for f in req.findings]
    return page(request, "ui/change.html", {
        "req": req, "kind_label": kind_spec(req.kind).label, "rows": _change_rows(req.moves), "form": form,
        "findings": findings, "alerts": any(f["level"] == "alert" for f in req.findings), "error": error,
        "effective": display.date_text(req.effective_date),
        "notified": display.date_text(req.notified_date) if req.notified_date else "",
        "open": req.status == "draft",
    })


# ------------------------------------------------------------------ certificates


def _certificate_choices(members: Sequence[PersonState]) -> dict[str, list[tuple[str, str]]]:
    rules = item_rules()
    return {
        "kind": [(k.value, k.label) for k in CertificateKind],
        "form": [(f.value, f.label) for f in Form],
        "members": member_choices(list(members)),
        "requester": [(r.value, rules.requester_labels[r]) for r in Requester],
        "requested_by": [("", "世帯員以外（または不明）"), *member_choices(list(members))],
        "items": [(i.value, rules.items[i].label) for i in OptionalItem],
        "basic_items": [(b.value, b.label) for b in BasicItem],
    }


def _certificate_request(atena_no: str, d: Mapping[str, Any], whole: Sequence[str], terminal: str
                         ) -> CertificateRequest:
    chosen = tuple(d["members"] or ())
    return CertificateRequest(
        atena_no=atena_no, kind=CertificateKind(d["kind"]), form=Form(d["form"]),
        members=None if not chosen or set(chosen) == set(whole) else chosen,
        requester=Requester(d["requester"]), items=frozenset(OptionalItem(i) for i in d["items"]),
        basic_items=frozenset(BasicItem(b) for b in d["basic_items"]),
        requested_by=d["requested_by"] or None, requester_name=d["requester_name"], fee_exempt=d["fee_exempt"],
        purpose=d["purpose"], as_of=d["as_of"], terminal=terminal,
    )


@counter_view(CERTIFICATE_PERMISSION)
def certificate(request: HttpRequest, tenant: str, atena_no: str) -> HttpResponse:
    """証明書の交付: choose, preview (on screen with htmx, or the 見本 PDF), issue the signed PDF."""
    actor = principal(request)
    view = selectors.resident_view(actor, atena_no, purpose="証明書発行", process="issuance")
    members = view.household or [view.record]
    whole = [m.atena_no for m in members]
    kind = CertificateKind.RESIDENT_COPY if view.record.is_resident else CertificateKind.REMOVED_COPY
    form = CertificateForm(request.POST or None, choices=_certificate_choices(members),
                           initial={"kind": kind.value, "form": Form.HOUSEHOLD.value, "members": whole,
                                    "requester": Requester.SELF.value, "requested_by": atena_no})
    cert = None
    action = request.POST.get("action", "preview")
    if request.method == "POST" and form.is_valid():
        req = _certificate_request(atena_no, form.cleaned_data, whole, terminal="窓口")
        try:
            if action == "issue":
                # No savepoint: a refusal keeps its access-log entry when this request's transaction commits.
                issued = issuing.issue(actor, req)
                response = HttpResponse(issued.pdf, content_type="application/pdf")
                response["Content-Disposition"] = f'attachment; filename="{issued.serial}.pdf"'
                return response
            if action == "sample":
                response = HttpResponse(issuing.preview_pdf(actor, req), content_type="application/pdf")
                response["Content-Disposition"] = 'inline; filename="mihon.pdf"'
                return response
            cert = issuing.preview(actor, req)
        except (CertificateError, RegistryError) as exc:
            log_blocked(exc)
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    ctx = {"form": form, "record": view.record, "cert": cert, "atena_no": atena_no}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "preview":
        return page(request, "ui/partials/preview.html", ctx)
    return page(request, "ui/certificate.html", ctx)
