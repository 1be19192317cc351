"""Tenant isolation: 周南市 (352152) never sees, writes or is shown 下松市's (352071) rows, and back.

Layers: the scoped ORM manager (both backends), the tenant endpoints (the gate called directly,
and HTTP through the test client), and on PostgreSQL the row-level security underneath, checked
with raw SQL as the application role. A property test throws random (endpoint, acting 団体,
caller) triples filled with the other 団体's real ids at the API.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, connection, transaction
from django.test import Client, RequestFactory
from django.utils import timezone
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from ninja import Status
from pydantic import BaseModel

from moyai.api import api
from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.identity.models import ApiToken, Membership
from moyai.platform.identity.roles import roles
from moyai.platform.identity.services import IdentityError, IdentityErrorCode, issue_token
from moyai.platform.ids import new_id
from moyai.platform.tenancy.errors import CrossTenantWrite, NoTenantScope, TenancyError, TenancyErrorCode
from moyai.platform.tenancy.models import Tenant, TenantParameter, TenantScopedManager, TenantScopedModel
from moyai.platform.tenancy.scope import active_tenant_code, tenant_scope
from moyai.platform.tenancy.services import set_parameter
from moyai.residents import services
from moyai.residents.errors import RegistryError
from moyai.residents.models import ChangeRequest, Event, Household, Resident
from moyai.residents.services import SubjectInput
from tests.factories import MembershipFactory, UserFactory
from tests.fixtures import KUDAMATSU, SHUNAN, World

PG = os.environ.get("MOYAI_DB") == "postgresql"
F = TypeVar("F", bound=Callable[..., Any])


def postgresql_only(test: F) -> F:
    """Marked ``postgresql`` (CI runs it there); skipped only when the run is not on PostgreSQL."""
    skip = pytest.mark.skipif(not PG, reason="PostgreSQL row-level security: run with MOYAI_DB=postgresql")
    return pytest.mark.postgresql(skip(test))  # type: ignore[no-any-return]

OTHER = {SHUNAN: KUDAMATSU, KUDAMATSU: SHUNAN}
ROLES = ("clerk", "approver", "admin", "auditor")

#: Tables with a tenant_code column that are deliberately NOT tenant-scoped: staff memberships and
#: API tokens are read before any 団体 is chosen (log-in, token lookup, the 団体 picker).
GLOBAL_TENANT_CODE_TABLES = frozenset({"identity_membership", "identity_apitoken"})
GLOBAL_TENANT_MODELS = frozenset({Membership, ApiToken})



@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """The world has several staff members; PBKDF2 hashing of their passwords dominates run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# ------------------------------------------------------------------ data of both 団体


@dataclass
class TenantData:
    code: str
    atena_nos: list[str]
    household_nos: list[str]
    resident_codes: list[str]
    family_name: str
    address_marker: str
    change_ids: list[int]
    awaiting_id: int
    param_key: str
    param_value: str
    staff_label: str
    events: int

    def markers(self) -> set[str]:
        """Strings that only this 団体's personal data contains."""
        return {*self.atena_nos, *self.household_nos, *self.resident_codes, self.family_name,
                self.address_marker, self.param_value, *map(str, self.change_ids)}


@dataclass
class Both:
    shunan: TenantData
    kudamatsu: TenantData

    def of(self, code: str) -> TenantData:
        return self.shunan if code == SHUNAN else self.kudamatsu


def _person(family: str, family_kana: str, given: str, birth: str, sex: str, rel: str, address: str,
            household: str = "new") -> SubjectInput:
    return SubjectInput(None, {"family_name": family, "given_name": given, "family_kana": family_kana,
                               "birth_date": birth, "sex": sex, "relationship": rel, "address": address,
                               "household_no": household})


def build_both(w: World) -> Both:
    """周南市: the 山田 household (2). 下松市: the 末武 household (3), numbered from 700000 on."""
    s_addr, k_addr = "山口県周南市岐山通一丁目1番地", "山口県下松市末武上400番地"
    out: dict[str, TenantData] = {}
    for code, actor, family, kana, addr, marker, people in (
        (SHUNAN, w.clerk, "山田", "ヤマダ", s_addr, "岐山通一丁目",
         [("一郎", "昭和45年5月5日", "1", "世帯主"), ("花子", "昭和47年2月3日", "2", "妻")]),
        (KUDAMATSU, w.other_clerk, "末武", "スエタケ", k_addr, "末武上400番地",
         [("健太", "平成2年1月9日", "1", "世帯主"), ("美咲", "平成4年3月3日", "2", "妻"),
          ("蓮", "平成30年8月8日", "1", "子")]),
    ):
        with tenant_scope(code):
            if code == KUDAMATSU:
                services.set_sequence("atena", 700000)
                services.set_sequence("household", 700000)
            moved = services.record_now(
                actor, "move_in", dt.date(2020, 4, 1),
                [_person(family, kana, g, b, sx, rel, addr, "new:1") for g, b, sx, rel in people],
                notified_date=dt.date(2020, 4, 2))
            assert moved.status == "registered", moved.findings
            atena = [m["atena_no"] for m in moved.moves]
            draft = services.propose(actor, "move_within", dt.date(2024, 4, 1),
                                     [SubjectInput(atena[0], {"address": addr + "の2"})])
            awaiting = services.record_now(actor, "ex_officio_correction", dt.date(2020, 4, 1),
                                           [SubjectInput(atena[1], {"given_name": "訂正"})])
            assert awaiting.status == "awaiting_approval", awaiting.findings
            key = f"banner_{code}"
            value = f"{family}家の掲示{code}"
            set_parameter(key, value, dt.date(2026, 4, 1), actor.label)
            rows = list(Resident.objects.order_by("atena_no").values_list("atena_no", "household_no", "resident_code"))
            assert [r[0] for r in rows] == sorted(atena)
            out[code] = TenantData(
                code=code, atena_nos=sorted(atena), household_nos=sorted({r[1] for r in rows}),
                resident_codes=[r[2] for r in rows], family_name=family, address_marker=marker,
                change_ids=[moved.id, draft.id, awaiting.id], awaiting_id=awaiting.id, param_key=key,
                param_value=value, staff_label=actor.label, events=len(atena))
    both = Both(out[SHUNAN], out[KUDAMATSU])
    assert not set(both.shunan.atena_nos) & set(both.kudamatsu.atena_nos)
    assert not set(both.shunan.household_nos) & set(both.kudamatsu.household_nos)
    assert all(len(c) == 11 for c in [*both.shunan.resident_codes, *both.kudamatsu.resident_codes])
    return both


def tenant_models() -> list[type[TenantScopedModel]]:
    return [m for m in apps.get_models() if issubclass(m, TenantScopedModel)]


# ------------------------------------------------------------------ ORM: the scoped manager


@pytest.mark.django_db
def test_inside_a_scope_the_other_tenants_rows_are_invisible(world: World) -> None:
    both = build_both(world)
    for mine, theirs in ((both.shunan, both.kudamatsu), (both.kudamatsu, both.shunan)):
        with tenant_scope(mine.code):
            assert not Resident.objects.filter(atena_no=theirs.atena_nos[0]).exists()
            assert list(Resident.objects.filter(atena_no__in=theirs.atena_nos)) == []
            assert Resident.objects.filter(tenant_id=theirs.code).count() == 0
            with pytest.raises(Resident.DoesNotExist):
                Resident.objects.get(atena_no=theirs.atena_nos[0])
            assert Resident.objects.count() == len(mine.atena_nos)
            assert sorted(Resident.objects.values_list("atena_no", flat=True)) == mine.atena_nos
            assert Event.objects.count() == mine.events
            assert sorted(Event.objects.values_list("atena_no", flat=True)) == mine.atena_nos
            assert not Event.objects.filter(atena_no__in=theirs.atena_nos).exists()
            assert sorted(ChangeRequest.objects.values_list("id", flat=True)) == sorted(mine.change_ids)
            assert not ChangeRequest.objects.filter(id__in=theirs.change_ids).exists()
            assert list(TenantParameter.objects.filter(key=theirs.param_key)) == []
            assert TenantParameter.objects.get(key=mine.param_key).value == mine.param_value
            logs = list(AccessLog.objects.all())
            assert logs, "the set-up wrote access-log rows"
            assert {r.actor for r in logs} == {mine.staff_label}
            assert {r.tenant_id for r in logs} == {mine.code}
            assert AccessLog.objects.filter(actor=theirs.staff_label).count() == 0
            assert not AccessLogSubject.objects.filter(atena_no__in=theirs.atena_nos).exists()
            assert set(AccessLogSubject.objects.values_list("atena_no", flat=True)) == set(mine.atena_nos)
            for model in tenant_models():
                assert set(model.objects.values_list("tenant_id", flat=True)) <= {mine.code}, model


@pytest.mark.django_db
def test_writing_a_row_of_the_other_tenant_raises_cross_tenant_write(world: World) -> None:
    both = build_both(world)
    with tenant_scope(KUDAMATSU):
        theirs = Household.objects.get(household_no=both.kudamatsu.household_nos[0])
    with tenant_scope(SHUNAN):
        households = Household.objects.count()
        day = dt.date(2024, 1, 1)
        with pytest.raises(CrossTenantWrite) as e:
            Household(tenant_id=KUDAMATSU, household_no="9999999990", created_on=day).save()
        assert e.value.code == TenancyErrorCode.CROSS_TENANT
        with pytest.raises(CrossTenantWrite):
            Household.objects.create(tenant_id=KUDAMATSU, household_no="9999999990", created_on=day)
        with pytest.raises(CrossTenantWrite):
            Household.objects.get_or_create(tenant_id=KUDAMATSU, household_no="9999999990",
                                            defaults={"created_on": day})
        with pytest.raises(CrossTenantWrite):  # one foreign row refuses the whole batch
            Household.objects.bulk_create([Household(household_no="9999999981", created_on=day),
                                           Household(tenant_id=KUDAMATSU, household_no="9999999990", created_on=day)])
        with pytest.raises(CrossTenantWrite):
            Event.objects.bulk_create([Event(tenant_id=KUDAMATSU, atena_no=both.kudamatsu.atena_nos[0],
                                             kind="move_within", reason_code="301", effective_date=day,
                                             recorded_at=timezone.now(), staff="staff:clerk1", group_id=new_id())])
        with pytest.raises(CrossTenantWrite):
            AccessLog(tenant_id=KUDAMATSU, actor="staff:clerk1", actor_kind="staff", operation="x",
                      request_id="r").save()
        with pytest.raises(CrossTenantWrite):
            theirs.save()
        with pytest.raises(CrossTenantWrite):
            theirs.delete()
        assert Household.objects.count() == households
        assert not Household.objects.filter(household_no__in=["9999999990", "9999999981"]).exists()
    with tenant_scope(KUDAMATSU):
        assert sorted(Household.objects.values_list("household_no", flat=True)) == both.kudamatsu.household_nos
        assert Event.objects.count() == both.kudamatsu.events
        assert not AccessLog.objects.filter(actor="staff:clerk1").exists()


@pytest.mark.django_db
def test_moving_rows_to_the_other_tenant_with_update_is_refused(world: World) -> None:
    both = build_both(world)
    target = both.shunan.household_nos[0]
    with tenant_scope(SHUNAN):
        with pytest.raises((CrossTenantWrite, DatabaseError)), transaction.atomic():
            Household.objects.filter(household_no=target).update(tenant_id=KUDAMATSU)
        assert Household.objects.filter(household_no=target).exists()
    with tenant_scope(KUDAMATSU):
        assert not Household.objects.filter(household_no=target).exists()


@pytest.mark.django_db
def test_without_a_scope_every_tenant_model_refuses(world: World) -> None:
    models = tenant_models()
    assert {Resident, Event, Household, ChangeRequest, AccessLog, AccessLogSubject, TenantParameter} <= set(models)
    assert active_tenant_code() is None
    for model in models:
        label = model._meta.label
        assert model._meta.managers, label
        for manager in model._meta.managers:  # no second, unscoped manager
            assert isinstance(manager, TenantScopedManager), f"{label}.{manager.name}"
        assert isinstance(model._base_manager, TenantScopedManager), label
        for manager in (model.objects, model._base_manager, model._default_manager):
            for run in (manager.all, manager.count, manager.exists, lambda m=manager: m.filter(pk__isnull=False)):
                with pytest.raises(NoTenantScope) as e:
                    run()
                assert e.value.code == TenancyErrorCode.NO_SCOPE, label
        with pytest.raises(NoTenantScope):
            model().save()
        with pytest.raises(NoTenantScope):
            model.objects.bulk_create([model()])


def test_every_model_owned_by_a_tenant_is_tenant_scoped() -> None:
    """A model with a foreign key to the 団体 must use the scoped base (or be a declared global one)."""
    owned = {m for m in apps.get_models()
             if any(getattr(f, "related_model", None) is Tenant and f.concrete for f in m._meta.fields)}
    assert GLOBAL_TENANT_MODELS <= owned
    assert {m._meta.label for m in owned - GLOBAL_TENANT_MODELS - set(tenant_models())} == set()
    for model in tenant_models():
        assert model._meta.pk is not None and model._meta.pk.name == "pk", model  # composite key
        assert model._meta.pk_fields[0].name == "tenant", model  # leading with the 団体


@pytest.mark.django_db
def test_nesting_another_tenant_inside_a_scope_is_refused(world: World) -> None:
    with tenant_scope(SHUNAN):
        with pytest.raises(TenancyError) as e, tenant_scope(KUDAMATSU):
            pytest.fail("entered 下松市 inside 周南市")
        assert e.value.code == TenancyErrorCode.NESTED_SCOPE
        assert active_tenant_code() == SHUNAN
        with tenant_scope(SHUNAN):  # the same 団体 again is fine (a savepoint)
            assert active_tenant_code() == SHUNAN
        Resident.objects.count()
    assert active_tenant_code() is None
    with pytest.raises(RuntimeError), tenant_scope(KUDAMATSU):
        raise RuntimeError("boom")
    assert active_tenant_code() is None
    if PG:
        with connection.cursor() as cur:
            cur.execute("SELECT coalesce(current_setting('moyai.tenant', true), '')")
            assert cur.fetchone() == ("",)


APPEND_ONLY = [
    (Event, "residents_event", "kind", "'changed'"),
    (AccessLog, "audit_accesslog", "operation", "'changed'"),
    (AccessLogSubject, "audit_accesslogsubject", "at", "CURRENT_TIMESTAMP"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "table", "column", "value"), APPEND_ONLY, ids=[a[1] for a in APPEND_ONLY])
def test_append_only_rows_cannot_be_updated_or_deleted(world: World, model: Any, table: str, column: str,
                                                       value: str) -> None:
    build_both(world)
    with tenant_scope(SHUNAN):
        before = sorted(model.objects.values_list(column, flat=True))
        assert before
        first = model.objects.order_by(*[f.name for f in model._meta.pk_fields]).first()
        attempts: list[Callable[[], Any]] = [
            lambda: model.objects.all().update(**{column: timezone.now() if column == "at" else "changed"}),
            lambda: model.objects.all().delete(),
            lambda: first.delete(),
        ]
        for sql in (f'UPDATE "{table}" SET "{column}" = {value}', f'DELETE FROM "{table}"'):
            attempts.append(lambda sql=sql: connection.cursor().execute(sql))
        for attempt in attempts:
            with pytest.raises(DatabaseError) as e, transaction.atomic():
                attempt()
            message = str(e.value)
            if connection.vendor == "sqlite":
                assert "append-only" in message, message
            else:
                assert "append-only" in message or "permission denied" in message, message
        assert sorted(model.objects.values_list(column, flat=True)) == before


# ------------------------------------------------------------------ the gate and HTTP


def _kwargs(view: Callable[..., Any], path_params: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
    sig = inspect.signature(view.__wrapped__, eval_str=True)  # type: ignore[attr-defined]
    kwargs: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name in ("request", "tenant"):
            continue
        ann = p.annotation
        if typing.get_origin(ann) is typing.Annotated:
            ann = typing.get_args(ann)[0]
        if name in path_params:
            kwargs[name] = ann(path_params[name])
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            kwargs[name] = ann.model_validate(query)
        elif name in query:
            kwargs[name] = query[name]
    return kwargs


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


@dataclass
class Reply:
    status: int
    code: str | None
    body: Any
    text: str  # the whole body as text, for leak checks


def call_gate(view: Callable[..., Any], tenant: str, path_params: dict[str, str], query: dict[str, str],
              user: AbstractBaseUser | None = None, authorization: str | None = None) -> Reply:
    """The view as decorated by tenant_endpoint, called with a real request (no ninja parsing)."""
    headers = {"Authorization": authorization} if authorization else {}
    request = RequestFactory().get(f"/api/v1/tenants/{tenant}/", query, headers=headers)
    request.user = user or AnonymousUser()
    try:
        result = view(request, tenant, **_kwargs(view, path_params, query))
    except IdentityError as exc:
        status = 401 if exc.code == IdentityErrorCode.NOT_AUTHENTICATED else 403
        return Reply(status, exc.code, exc.message, exc.message)
    except RegistryError as exc:
        return Reply(exc.status, exc.code, exc.message, exc.message)
    if isinstance(result, Status):
        status, value = result.status_code, result.value
    else:
        status, value = result if isinstance(result, tuple) else (200, result)
    body = _dump(value)
    return Reply(status, None, body, json.dumps(body, ensure_ascii=False, default=str))


def call_http(client: Client, url: str, query: dict[str, str], authorization: str | None = None) -> Reply:
    headers = {"Authorization": authorization} if authorization else {}
    resp = client.get(url, query, headers=headers)
    try:
        body = resp.json()
        text = json.dumps(body, ensure_ascii=False)
    except ValueError:
        body = text = resp.content.decode(errors="replace")
    code = body.get("code") if isinstance(body, dict) and resp.status_code >= 400 else None
    return Reply(resp.status_code, code, body, text)


def view_of(method: str, path: str) -> Callable[..., Any]:
    for prefix, router, *_ in api._routers:
        for p, path_view in router.path_operations.items():
            for op in path_view.operations:
                if method in op.methods and "/" + "/".join(x.strip("/") for x in (prefix, p) if x.strip("/")) == path:
                    return op.view_func
    raise LookupError(f"{method} {path}")


def denied(tenant: str, actor: str) -> list[tuple[str, str]]:
    with tenant_scope(tenant):
        return list(AccessLog.objects.filter(outcome="denied", actor=actor).values_list("actor", "operation"))


@pytest.mark.django_db
def test_gate_another_tenants_clerk_token_and_ids_get_nothing(world: World) -> None:
    both = build_both(world)
    User = get_user_model()
    search = view_of("GET", "/tenants/{tenant}/residents")
    resident = view_of("GET", "/tenants/{tenant}/residents/{atena_no}")
    kclerk = User.objects.get(username="kclerk1")
    r = call_gate(search, SHUNAN, {}, {"name": "ヤマダ"}, user=kclerk)
    assert (r.status, r.code) == (403, IdentityErrorCode.NOT_MEMBER)
    assert denied(SHUNAN, "staff:kclerk1") == [("staff:kclerk1", "denied:search_residents")]
    assert denied(KUDAMATSU, "staff:kclerk1") == []
    r = call_gate(search, KUDAMATSU, {}, {"name": "ヤマダ"}, user=kclerk)  # own 団体: allowed, finds nobody
    assert (r.status, r.body["total"]) == (200, 0)

    k_atena = both.kudamatsu.atena_nos[0]
    r = call_gate(resident, SHUNAN, {"atena_no": k_atena}, {}, user=User.objects.get(username="clerk1"))
    assert r.status == 404
    assert _found(r.text, both.kudamatsu.markers() - {k_atena}) == set()
    r = call_gate(resident, KUDAMATSU, {"atena_no": k_atena}, {}, user=kclerk)  # positive control
    assert r.status == 200
    assert r.body["atena_no"] == k_atena

    token, raw = issue_token(KUDAMATSU, "clerk", "下松市の連携")
    r = call_gate(search, SHUNAN, {}, {"name": "ヤマダ"}, authorization=f"Bearer {raw}")
    assert (r.status, r.code) == (403, IdentityErrorCode.NOT_MEMBER)
    assert denied(SHUNAN, f"token:{token.prefix}") == [(f"token:{token.prefix}", "denied:search_residents")]
    r = call_gate(search, KUDAMATSU, {}, {"name": "スエタケ"}, authorization=f"Bearer {raw}")
    assert (r.status, r.body["total"]) == (200, 3)


def _found(text: str, markers: set[str]) -> set[str]:
    return {m for m in markers if m in text}


@pytest.mark.django_db
def test_http_another_tenants_clerk_gets_403(world: World) -> None:
    build_both(world)
    client = Client(raise_request_exception=False)
    client.force_login(get_user_model().objects.get(username="kclerk1"))
    r = call_http(client, f"/api/v1/tenants/{SHUNAN}/residents", {"name": "ヤマダ"})
    assert (r.status, r.code) == (403, IdentityErrorCode.NOT_MEMBER), r.body
    assert denied(SHUNAN, "staff:kclerk1") == [("staff:kclerk1", "denied:search_residents")]
    assert "山田" not in r.text


@pytest.mark.django_db
def test_http_a_resident_of_the_other_tenant_is_not_found(world: World) -> None:
    both = build_both(world)
    client = Client(raise_request_exception=False)
    client.force_login(get_user_model().objects.get(username="clerk1"))
    k_atena = both.kudamatsu.atena_nos[0]
    r = call_http(client, f"/api/v1/tenants/{SHUNAN}/residents/{k_atena}", {})
    assert (r.status, r.code) == (404, "residents.not_found"), r.body
    assert _found(r.text, both.kudamatsu.markers() - {k_atena}) == set()
    r = call_http(client, f"/api/v1/tenants/{SHUNAN}/residents/{both.shunan.atena_nos[0]}", {})
    assert r.status == 200, r.body  # positive control


@pytest.mark.django_db
def test_http_a_token_of_the_other_tenant_gets_403(world: World) -> None:
    build_both(world)
    token, raw = issue_token(KUDAMATSU, "clerk", "下松市の連携")
    client = Client(raise_request_exception=False)
    r = call_http(client, f"/api/v1/tenants/{SHUNAN}/residents", {"name": "ヤマダ"}, f"Bearer {raw}")
    assert (r.status, r.code) == (403, IdentityErrorCode.NOT_MEMBER), r.body
    assert denied(SHUNAN, f"token:{token.prefix}") == [(f"token:{token.prefix}", "denied:search_residents")]
    r = call_http(client, f"/api/v1/tenants/{KUDAMATSU}/residents", {"name": "スエタケ"}, f"Bearer {raw}")
    assert (r.status, r.body["total"]) == (200, 3)  # positive control


# ------------------------------------------------------------------ property: nothing of the other 団体 leaks

TENANT_PREFIX = "/tenants/{tenant}"
GET_OPERATIONS = sorted(
    (p.removeprefix(TENANT_PREFIX), op.view_func)
    for prefix, router, *_ in api._routers
    for path, pv in router.path_operations.items()
    for op in pv.operations
    if "GET" in op.methods
    for p in ["/" + "/".join(x.strip("/") for x in (prefix, path) if x.strip("/"))]
    if p.startswith(TENANT_PREFIX + "/")
)


@dataclass(frozen=True)
class Probe:
    path: str
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


def _pick(xs: list[Any], i: int) -> Any:
    return xs[i % len(xs)]


#: GET endpoint → a request for it made of the OTHER 団体's real ids (i picks among them).
PROBES: dict[str, Callable[[TenantData, int], Probe]] = {
    "/residents": lambda o, i: Probe("/residents", query=_pick([
        {"name": o.family_name}, {"atena_no": _pick(o.atena_nos, i // 4)},
        {"resident_code": _pick(o.resident_codes, i // 4)}, {"address": o.address_marker},
        {"household_no": _pick(o.household_nos, i // 4)}, {"name": o.family_name, "include_removed": "true"}], i)),
    "/search-history": lambda o, i: Probe("/search-history"),
    "/residents/{atena_no}": lambda o, i: Probe(
        "/residents/{atena_no}", {"atena_no": _pick(o.atena_nos, i)}),
    "/residents/{atena_no}/history": lambda o, i: Probe(
        "/residents/{atena_no}/history", {"atena_no": _pick(o.atena_nos, i)}),
    "/households/{household_no}": lambda o, i: Probe(
        "/households/{household_no}", {"household_no": _pick(o.household_nos, i)}),
    "/changes": lambda o, i: Probe("/changes"),
    "/changes/{change_id}": lambda o, i: Probe("/changes/{change_id}", {"change_id": str(_pick(o.change_ids, i))}),
    "/resident-codes/status": lambda o, i: Probe("/resident-codes/status"),
    "/parameters/{key}": lambda o, i: Probe("/parameters/{key}", {"key": o.param_key}),
    "/staff": lambda o, i: Probe("/staff"),
    "/audit/residents/{atena_no}": lambda o, i: Probe(
        "/audit/residents/{atena_no}", {"atena_no": _pick(o.atena_nos, i)}),
    "/audit/staff/{actor}": lambda o, i: Probe("/audit/staff/{actor}", {"actor": o.staff_label}),
    "/residents/{atena_no}/suppression": lambda o, i: Probe(
        "/residents/{atena_no}/suppression", {"atena_no": _pick(o.atena_nos, i)}),
    "/suppressions": lambda o, i: Probe("/suppressions", query={"target": _pick(o.atena_nos, i)}),
    "/support-measures": lambda o, i: Probe("/support-measures", query={"atena_no": _pick(o.atena_nos, i)}),
    "/support-measures/{measure_id}": lambda o, i: Probe(
        "/support-measures/{measure_id}", {"measure_id": str(_pick(o.change_ids, i))}),
    "/suppression-monitor/blocked": lambda o, i: Probe("/suppression-monitor/blocked", query={
        "since": "2000-01-01T00:00:00+09:00"}),
    "/suppression-monitor/due": lambda o, i: Probe("/suppression-monitor/due"),
    "/linkage/{consumer}/full": lambda o, i: Probe("/linkage/{consumer}/full", {"consumer": "tax"}),
    "/linkage/{consumer}/changes": lambda o, i: Probe("/linkage/{consumer}/changes", {"consumer": "tax"},
                                                      query={"after": "0"}),
    "/certificate-issuances": lambda o, i: Probe("/certificate-issuances", query={
        "date_from": "2000-01-01", "date_to": "2000-12-31", "atena_no": _pick(o.atena_nos, i)}),
    "/audit/analysis": lambda o, i: Probe("/audit/analysis", query={
        "start": "2000-01-01T00:00:00+09:00", "end": "2100-01-01T00:00:00+09:00"}),
}

#: When the caller may use the endpoint: the exact status, and what the body must be.
NOT_FOUND = {"/residents/{atena_no}", "/residents/{atena_no}/history", "/households/{household_no}",
             "/changes/{change_id}"}
EMPTY_LIST = {"/parameters/{key}", "/audit/residents/{atena_no}", "/audit/staff/{actor}"}
NOT_FOUND |= {"/residents/{atena_no}/suppression", "/support-measures/{measure_id}"}  # 抑止・支援措置
EMPTY_LIST |= {"/suppressions", "/support-measures", "/suppression-monitor/blocked", "/suppression-monitor/due"}
NOT_FOUND |= {"/linkage/{consumer}/full", "/linkage/{consumer}/changes"}  # 宛名連携: no consumer "tax" here


def test_every_get_endpoint_has_a_probe() -> None:
    assert sorted(PROBES) == sorted(p for p, _ in GET_OPERATIONS)


CALLER_KINDS = ("staff", "token", "staff_of_other", "token_of_other", "dual")


@dataclass
class Callers:
    users: dict[tuple[str, str, str], AbstractBaseUser]  # (kind, acting 団体, role) → user
    tokens: dict[tuple[str, str], str]  # (団体, role) → Authorization header
    clients: dict[int, Client] = field(default_factory=dict)

    def client(self, user: AbstractBaseUser | None) -> Client:
        key = user.pk if user is not None else 0
        if key not in self.clients:
            c = Client(raise_request_exception=False)
            if user is not None:
                c.force_login(user)
            self.clients[key] = c
        return self.clients[key]


def make_callers(w: World) -> Callers:
    User = get_user_model()
    members = {(SHUNAN, r): User.objects.get(username=f"{r}1") for r in ROLES}
    members[(KUDAMATSU, "clerk")] = User.objects.get(username="kclerk1")
    for r in ("approver", "admin", "auditor"):
        u = UserFactory(username=f"k{r}1")
        MembershipFactory(user=u, tenant=w.kudamatsu, role=r)
        members[(KUDAMATSU, r)] = u
    users: dict[tuple[str, str, str], AbstractBaseUser] = {}
    for acting in (SHUNAN, KUDAMATSU):
        for r in ROLES:
            users[("staff", acting, r)] = members[(acting, r)]
            users[("staff_of_other", acting, r)] = members[(OTHER[acting], r)]
            dual = UserFactory(username=f"dual-{acting}-{r}")  # role r here, every role in the other 団体
            MembershipFactory(user=dual, tenant=w.shunan if acting == SHUNAN else w.kudamatsu, role=r)
            for other_role in ROLES:
                MembershipFactory(user=dual, tenant=w.kudamatsu if acting == SHUNAN else w.shunan, role=other_role)
            users[("dual", acting, r)] = dual
    tokens = {(t, r): f"Bearer {issue_token(t, r, f'{t}-{r}')[1]}" for t in (SHUNAN, KUDAMATSU) for r in ROLES}
    return Callers(users, tokens)


@dataclass
class Scenario:
    both: Both
    callers: Callers


@pytest.fixture
def scenario(world: World) -> Scenario:
    return Scenario(build_both(world), make_callers(world))


def probe_once(sc: Scenario, layer: str, acting: str, kind: str, role: str, path: str, i: int) -> None:
    other = sc.both.of(OTHER[acting])
    mine = sc.both.of(acting)
    probe = PROBES[path](other, i)
    view = dict(GET_OPERATIONS)[path]
    url = f"/api/v1/tenants/{acting}" + probe.path.format(**probe.path_params)
    user = sc.callers.users.get((kind, acting, role)) if kind in ("staff", "staff_of_other", "dual") else None
    auth = None
    if kind == "token":
        auth = sc.callers.tokens[(acting, role)]
    elif kind == "token_of_other":
        auth = sc.callers.tokens[(OTHER[acting], role)]
    client = sc.callers.client(user) if layer == "http" else None  # log in outside the rolled-back block
    with transaction.atomic():
        if client is None:
            reply = call_gate(view, acting, probe.path_params, probe.query, user=user, authorization=auth)
        else:
            reply = call_http(client, url, probe.query, auth)
        transaction.set_rollback(True)

    echoed = url + " " + json.dumps(probe.query, ensure_ascii=False)
    leaked = {m for m in _found(reply.text, other.markers()) if m not in echoed}
    assert leaked == set(), f"{layer} {kind}/{role} in {acting}: {url} {probe.query} leaked {leaked}: {reply.text}"

    permission = view.permission  # type: ignore[attr-defined]
    if kind in ("staff_of_other", "token_of_other"):
        assert (reply.status, reply.code) == (403, IdentityErrorCode.NOT_MEMBER), reply.text
        return
    if permission not in roles()[role].permissions:
        assert (reply.status, reply.code) == (403, IdentityErrorCode.FORBIDDEN), reply.text
        return
    if path in NOT_FOUND:
        assert reply.status == 404, reply.text
    elif path in EMPTY_LIST:
        assert (reply.status, reply.body) == (200, []), reply.text
    elif path in ("/residents", "/certificate-issuances"):
        assert (reply.status, reply.body["total"], reply.body["items"]) == (200, 0, []), reply.text
    elif path == "/changes":
        assert reply.status == 200, reply.text
        assert [str(c["id"]) for c in reply.body] == [str(mine.awaiting_id)]
    else:
        assert reply.status == 200, reply.text


PROPERTY_SETTINGS = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
STRATEGIES = given(
    acting=st.sampled_from([SHUNAN, KUDAMATSU]),
    kind=st.sampled_from(CALLER_KINDS),
    role=st.sampled_from(ROLES),
    path=st.sampled_from(sorted(PROBES)),
    i=st.integers(min_value=0, max_value=23),
)
#: Always run: a 周南市 clerk asking for a 下松市 resident, and a 下松市 auditor for 周南市's log of one.
FIXED = [example(acting=SHUNAN, kind="staff", role="clerk", path="/residents/{atena_no}", i=0),
         example(acting=KUDAMATSU, kind="dual", role="auditor", path="/audit/residents/{atena_no}", i=1)]


def with_examples(test: F) -> F:
    for ex in FIXED:
        test = ex(test)
    return STRATEGIES(test)  # type: ignore[no-any-return]


@pytest.mark.django_db
@PROPERTY_SETTINGS
@with_examples
def test_property_gate_never_returns_the_other_tenants_data(scenario: Scenario, acting: str, kind: str,
                                                            role: str, path: str, i: int) -> None:
    probe_once(scenario, "gate", acting, kind, role, path, i)


@pytest.mark.django_db
@PROPERTY_SETTINGS
@with_examples
def test_property_http_never_returns_the_other_tenants_data(scenario: Scenario, acting: str, kind: str,
                                                            role: str, path: str, i: int) -> None:
    probe_once(scenario, "http", acting, kind, role, path, i)


# ------------------------------------------------------------------ PostgreSQL: row-level security


def _one(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cur:
        cur.execute(sql, params or [])
        row = cur.fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def _all(sql: str, params: list[Any] | None = None) -> list[Any]:
    with connection.cursor() as cur:
        cur.execute(sql, params or [])
        return list(cur.fetchall())


def _set_tenant(code: str) -> None:
    _one("SELECT set_config('moyai.tenant', %s, true)", [code])


RESIDENT_INSERT = (
    "INSERT INTO residents_resident (tenant_code, atena_no, household_no, status, resident_kind, display_name, "
    "display_kana, birth_sort, sex, relationship, address, katagaki, postal_code, individual_number, "
    "resident_code, state, version) VALUES (%s, %s, '', 'resident', 'japanese', '侵入　太郎', '', '', '', '', '', "
    "'', '', '', '', '{}'::jsonb, 1)"
)


@postgresql_only
@pytest.mark.django_db
def test_pg_raw_sql_sees_only_the_tenant_in_the_setting(world: World) -> None:
    both = build_both(world)
    assert _one("SELECT coalesce(current_setting('moyai.tenant', true), '')") == ""
    for table in ("residents_resident", "residents_event", "audit_accesslog", "tenancy_tenantparameter"):
        assert _one(f"SELECT count(*) FROM {table}") == 0, table
    with transaction.atomic():
        _set_tenant(SHUNAN)
        assert _one("SELECT count(*) FROM residents_resident") == len(both.shunan.atena_nos)
        assert sorted(r[0] for r in _all("SELECT atena_no FROM residents_resident")) == both.shunan.atena_nos
        assert _all("SELECT DISTINCT tenant_code FROM residents_event") == [(SHUNAN,)]
        assert _one("SELECT count(*) FROM residents_resident WHERE atena_no = %s", [both.kudamatsu.atena_nos[0]]) == 0
        assert _one("SELECT count(*) FROM residents_resident WHERE tenant_code = %s", [KUDAMATSU]) == 0
        assert _all("SELECT DISTINCT tenant_code FROM audit_accesslog") == [(SHUNAN,)]
        transaction.set_rollback(True)
    with transaction.atomic():
        _set_tenant(KUDAMATSU)
        assert _one("SELECT count(*) FROM residents_resident") == len(both.kudamatsu.atena_nos) == 3
        transaction.set_rollback(True)
    assert _one("SELECT count(*) FROM residents_resident") == 0


@postgresql_only
@pytest.mark.django_db
def test_pg_insert_for_the_other_tenant_violates_the_policy(world: World) -> None:
    with transaction.atomic():
        _set_tenant(SHUNAN)
        with pytest.raises(DatabaseError) as e, transaction.atomic():
            _one(RESIDENT_INSERT + " RETURNING atena_no", [KUDAMATSU, "9999999990"])
        assert "row-level security" in str(e.value)
        with pytest.raises(DatabaseError) as e, transaction.atomic():
            _one("INSERT INTO residents_household (tenant_code, household_no, created_on) "
                 "VALUES (%s, '9999999990', '2024-01-01') RETURNING household_no", [KUDAMATSU])
        assert "row-level security" in str(e.value)
        # the same statements for the 団体 in the setting go through (the refusal is the policy)
        assert _one(RESIDENT_INSERT + " RETURNING atena_no", [SHUNAN, "9999999990"]) == "9999999990"
        transaction.set_rollback(True)
    with pytest.raises(DatabaseError) as e, transaction.atomic():  # no setting at all: nothing is writable
        _one(RESIDENT_INSERT + " RETURNING atena_no", [SHUNAN, "9999999991"])
    assert "row-level security" in str(e.value)


@postgresql_only
@pytest.mark.django_db
def test_pg_the_application_role_owns_nothing_and_cannot_bypass(world: World) -> None:
    app = django_settings.PG_APP_ROLE
    assert _one("SELECT current_user") == app == "moyai_app"
    assert _one("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'residents_event'") != app
    assert _one("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user") == 0
    assert _one("SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user") == (False, False)


@postgresql_only
@pytest.mark.django_db
def test_pg_every_table_with_a_tenant_code_has_forced_row_level_security(world: World) -> None:
    rows = _all(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_code' AND NOT a.attisdropped"
    )
    tables = {name for name, _, _ in rows}
    scoped = {m._meta.db_table for m in tenant_models()}
    assert scoped <= tables
    assert GLOBAL_TENANT_CODE_TABLES <= tables
    without = sorted(name for name, rls, force in rows if not (rls and force))
    assert without == sorted(GLOBAL_TENANT_CODE_TABLES), "tenant-owned table without (forced) row-level security"
    policies = dict(_all("SELECT tablename, qual FROM pg_policies WHERE schemaname = 'public' "
                         "AND policyname = 'tenant_isolation'"))
    for table in sorted(tables - GLOBAL_TENANT_CODE_TABLES):
        assert "moyai.tenant" in policies.get(table, ""), table


@postgresql_only
@pytest.mark.django_db
def test_pg_append_only_tables_grant_no_update_or_delete(world: World) -> None:
    for table in ("residents_event", "audit_accesslog"):
        for privilege, expected in (("SELECT", True), ("INSERT", True), ("UPDATE", False), ("DELETE", False),
                                    ("TRUNCATE", False)):
            assert _one("SELECT has_table_privilege(current_user, %s, %s)", [table, privilege]) is expected, (
                table, privilege)


@postgresql_only
@pytest.mark.django_db
def test_pg_the_trigger_refuses_even_the_owner(world: World) -> None:
    """Privileges aside, the append-only trigger refuses UPDATE/DELETE for a role that has them."""
    both = build_both(world)
    owner = _one("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'residents_event'")
    for sql in ("UPDATE residents_event SET kind = 'changed'", "DELETE FROM residents_event",
                "UPDATE audit_accesslog SET outcome = 'ok'", "DELETE FROM audit_accesslog"):
        with pytest.raises(DatabaseError) as e, transaction.atomic():
            _one("SELECT set_config('role', %s, true)", [owner])  # SET LOCAL ROLE <owner>
            assert _one("SELECT current_user") == owner
            _set_tenant(SHUNAN)
            _all(sql + " RETURNING 1")
        assert "append-only" in str(e.value), sql
    assert _one("SELECT current_user") == django_settings.PG_APP_ROLE
    with tenant_scope(SHUNAN):
        assert Event.objects.count() == both.shunan.events
        assert set(Event.objects.values_list("kind", flat=True)) == {"move_in"}
