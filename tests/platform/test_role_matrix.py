"""The role matrix: every tenant operation of the API × every kind of caller.

Three layers, all driven by the same tables:

1. static — every operation under ``/tenants/{tenant}/`` is declared with ``tenant_endpoint`` and
   names a permission defined in ``roles.yaml``; every operation has a request recipe below (so a
   new endpoint cannot escape the matrix); roles.yaml grants exactly what the issue asked for;
2. the gate — each view as decorated by ``tenant_endpoint`` called directly with a real request:
   who is let through, who is refused with which error, and the refusal in the access log;
3. HTTP — the same matrix through the Django test ``Client`` (session login and bearer tokens),
   exact status codes, and every 403 leaves one ``denied`` access-log row in the target 団体.

The expected table is computed from roles.yaml (data-driven) and checked against a hard-coded
copy of the issue's division of duties.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from ninja import Status
from pydantic import BaseModel

from moyai.api import api
from moyai.certificates.services import CertificateRequest, issue_at_counter
from moyai.platform.audit.models import AccessLog
from moyai.platform.http.endpoints import ENDPOINT_PERMISSIONS
from moyai.platform.identity.models import Membership
from moyai.platform.identity.roles import permissions as permission_table
from moyai.platform.identity.roles import roles
from moyai.platform.identity.services import IdentityError, IdentityErrorCode, issue_token, revoke_token
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.services import set_parameter
from moyai.residents import services
from moyai.residents.errors import RegistryError
from moyai.residents.services import SubjectInput
from tests.factories import UserFactory
from tests.fixtures import KUDAMATSU, SHUNAN, World

TENANT_PREFIX = "/tenants/{tenant}"
BASE = f"/api/v1/tenants/{SHUNAN}"

#: Operations deliberately outside /tenants/{tenant}/. Adding one is a conscious decision.
PUBLIC_OPERATIONS: frozenset[tuple[str, str]] = frozenset({
    # certificates: anyone may verify (signed payload or PDF needed); kiosks authenticate with the card's key
    ("POST", "/public/certificates/verify"), ("POST", "/public/certificates/verify-pdf"),
    ("POST", "/kiosk/{tenant}/certificates"),
    # 情報提供等記録: the portal authenticates with its own token, the resident with a card token
    ("GET", "/portal/disclosures"),
})

ADDR = "山口県周南市岐山通一丁目1番地"
ADDR_NEW = "山口県周南市糀町二丁目5番地"


# ------------------------------------------------------------------ enumerating the API


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # full path under the API root, e.g. "/tenants/{tenant}/residents/{atena_no}"
    view: Callable[..., Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path.removeprefix(TENANT_PREFIX))

    @property
    def qualname(self) -> str:
        return f"{self.view.__module__}.{self.view.__qualname__}"

    @property
    def name(self) -> str:
        return self.view.__name__

    @property
    def permission(self) -> str | None:
        return getattr(self.view, "permission", None)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _join(prefix: str, path: str) -> str:
    parts = [p.strip("/") for p in (prefix, path) if p.strip("/")]
    return "/" + "/".join(parts)


def api_operations() -> list[Operation]:
    """Every operation of every router mounted on the ninja ``api`` object."""
    ops: list[Operation] = []
    for mounted in api._routers:
        prefix, router = mounted[0], mounted[1]
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                for method in op.methods:
                    ops.append(Operation(method.upper(), _join(prefix, path), op.view_func))
    return ops


OPERATIONS = api_operations()
TENANT_OPERATIONS = [op for op in OPERATIONS if op.path.startswith(TENANT_PREFIX + "/")]


# ------------------------------------------------------------------ the issue's division of duties

SEARCH = {"search_residents", "my_search_history"}
VIEW = {"get_resident", "get_history", "get_household", "get_change", "resident_marks"}
#: 抑止・支援措置 (issue 5): 審査 sets/releases 抑止 and keeps 支援措置; 管理 watches blocked attempts.
SUPPRESSION = {"create_suppression", "list_suppressions", "release_suppression", "release_suppression_temporarily"}
SUPPORT_MEASURES = {"register_measure", "list_measures", "get_measure", "start_measure", "renew_measure",
                    "end_measure", "release_measure_temporarily"}
SUPPRESSION_MONITOR = {"blocked_attempts", "due_for_attention"}
REGISTER = {"propose_change", "register_change", "withdraw_change"}
APPROVE = {"list_awaiting", "approve_change", "reject_change"}
PARAMETERS = {"parameter_history", "set_parameter", "resident_code_status", "load_resident_codes"}
USERS_TOKENS = {"list_staff", "grant", "issue"}
AUDIT = {"by_resident", "by_actor", "audit_analysis"}
CERTIFICATES = {"issue_certificate", "register_kiosk_card"}
REVOKE = {"revoke_certificate"}
ISSUANCE_HISTORY = {"list_issuances"}  # 交付履歴照会 (2.2.2): the staff who issue and revoke

#: Hard-coded from the issue: 窓口 searches, views and registers 異動; 審査 approves/cancels 職権
#: changes (and searches/views); 管理 keeps tenant parameters, users and tokens; 監査 reads the log only.
ISSUE_ALLOWED: dict[str, set[str]] = {
    "clerk": SEARCH | VIEW | REGISTER | CERTIFICATES,
    "approver": SEARCH | VIEW | APPROVE | REVOKE,
    "admin": PARAMETERS | USERS_TOKENS,
    "auditor": AUDIT,
}
ISSUE_ALLOWED["approver"] |= SUPPRESSION | SUPPORT_MEASURES
ISSUE_ALLOWED["admin"] |= SUPPRESSION_MONITOR
ISSUE_ALLOWED["clerk"] |= ISSUANCE_HISTORY
ISSUE_ALLOWED["approver"] |= ISSUANCE_HISTORY
#: 宛名連携 (issue 6): the 団体's other business systems pull 宛名 data, nothing else.
LINKAGE = {"linkage_full", "linkage_changes"}
ISSUE_ALLOWED["linkage"] = LINKAGE


# ------------------------------------------------------------------ request recipes


@dataclass
class Data:
    """Real rows of 周南市 the recipes point at."""

    atena_no: str
    household_no: str
    draft_id: int  # a 仮登録 (move_within) waiting for 本登録
    awaiting_id: int  # a 職権修正 waiting for 審査
    serial: str = ""  # a certificate issued to the 世帯主


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # under /api/v1/tenants/{tenant}
    success: int  # the exact status when the caller holds the permission
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    path_params: dict[str, str] = field(default_factory=dict)


Recipe = Callable[[Data], Call]

RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/residents"): lambda d: Call("GET", "/residents", 200, query={"name": "ヤマダ"}),
    ("GET", "/search-history"): lambda d: Call("GET", "/search-history", 200),
    ("GET", "/residents/{atena_no}"): lambda d: Call(
        "GET", f"/residents/{d.atena_no}", 200, path_params={"atena_no": d.atena_no}),
    ("GET", "/residents/{atena_no}/history"): lambda d: Call(
        "GET", f"/residents/{d.atena_no}/history", 200, path_params={"atena_no": d.atena_no}),
    ("GET", "/households/{household_no}"): lambda d: Call(
        "GET", f"/households/{d.household_no}", 200, path_params={"household_no": d.household_no}),
    ("POST", "/changes"): lambda d: Call(
        "POST", "/changes", 201,
        body={"kind": "move_within", "effective_date": "2024-05-01", "notified_date": "2024-05-01",
              "subjects": [{"atena_no": d.atena_no, "changes": {"address": ADDR_NEW}}]}),
    ("GET", "/changes"): lambda d: Call("GET", "/changes", 200),
    ("GET", "/changes/{change_id}"): lambda d: Call(
        "GET", f"/changes/{d.draft_id}", 200, path_params={"change_id": str(d.draft_id)}),
    ("POST", "/changes/{change_id}/register"): lambda d: Call(
        "POST", f"/changes/{d.draft_id}/register", 200, body={"confirm_alerts": True},
        path_params={"change_id": str(d.draft_id)}),
    ("POST", "/changes/{change_id}/withdraw"): lambda d: Call(
        "POST", f"/changes/{d.draft_id}/withdraw", 200, path_params={"change_id": str(d.draft_id)}),
    ("POST", "/changes/{change_id}/approve"): lambda d: Call(
        "POST", f"/changes/{d.awaiting_id}/approve", 200, body={"confirm_alerts": True, "note": "確認済み"},
        path_params={"change_id": str(d.awaiting_id)}),
    ("POST", "/changes/{change_id}/reject"): lambda d: Call(
        "POST", f"/changes/{d.awaiting_id}/reject", 200, body={"note": "根拠資料なし"},
        path_params={"change_id": str(d.awaiting_id)}),
    ("GET", "/resident-codes/status"): lambda d: Call("GET", "/resident-codes/status", 200),
    ("POST", "/resident-codes"): lambda d: Call("POST", "/resident-codes", 200, body={"codes": ["99999999999"]}),
    ("GET", "/parameters/{key}"): lambda d: Call(
        "GET", "/parameters/issuer_title", 200, path_params={"key": "issuer_title"}),
    ("POST", "/parameters/{key}"): lambda d: Call(
        "POST", "/parameters/issuer_title", 201, body={"value": "周南市長", "effective_from": "2026-04-01"},
        path_params={"key": "issuer_title"}),
    ("GET", "/staff"): lambda d: Call("GET", "/staff", 200),
    ("POST", "/staff"): lambda d: Call("POST", "/staff", 201, body={"username": "clerk2", "role": "auditor"}),
    ("POST", "/tokens"): lambda d: Call("POST", "/tokens", 201, body={"name": "税システム連携", "role": "clerk"}),
    ("GET", "/audit/analysis"): lambda d: Call(
        "GET", "/audit/analysis", 200, query={"start": "2020-01-01T00:00:00+09:00", "end": "2100-01-01T00:00:00+09:00"}),
    ("GET", "/audit/residents/{atena_no}"): lambda d: Call(
        "GET", f"/audit/residents/{d.atena_no}", 200, path_params={"atena_no": d.atena_no}),
    ("GET", "/residents/{atena_no}/suppression"): lambda d: Call(
        "GET", f"/residents/{d.atena_no}/suppression", 200, path_params={"atena_no": d.atena_no}),
    ("POST", "/suppressions"): lambda d: Call("POST", "/suppressions", 201, body={
        "target_kind": "person", "target": d.atena_no, "process": "move", "level": "error", "reason": "other",
        "start_date": "2026-04-01"}),
    ("GET", "/suppressions"): lambda d: Call("GET", "/suppressions", 200),
    ("POST", "/suppressions/{suppression_id}/release"): lambda d: (lambda r: Call(
        "POST", f"/suppressions/{r.suppression}/release", 200, body={"note": "解除"},
        path_params={"suppression_id": str(r.suppression)}))(suppression_rows(d)),
    ("POST", "/suppressions/{suppression_id}/temporary-release"): lambda d: (lambda r: Call(
        "POST", f"/suppressions/{r.suppression}/temporary-release", 200, body={"reason": "本人確認済み"},
        path_params={"suppression_id": str(r.suppression)}))(suppression_rows(d)),
    ("POST", "/support-measures"): lambda d: Call("POST", "/support-measures", 201, body={
        "applicant": d.atena_no, "received_on": "2026-04-01"}),
    ("GET", "/support-measures"): lambda d: Call("GET", "/support-measures", 200),
    ("GET", "/support-measures/{measure_id}"): lambda d: (lambda r: Call(
        "GET", f"/support-measures/{r.measure}", 200, path_params={"measure_id": str(r.measure)}))(suppression_rows(d)),
    ("POST", "/support-measures/{measure_id}/start"): lambda d: (lambda r: Call(
        "POST", f"/support-measures/{r.provisional}/start", 200, body={"start_date": r.today.isoformat()},
        path_params={"measure_id": str(r.provisional)}))(suppression_rows(d)),
    ("POST", "/support-measures/{measure_id}/renew"): lambda d: (lambda r: Call(
        "POST", f"/support-measures/{r.measure}/renew", 200, body={},
        path_params={"measure_id": str(r.measure)}))(suppression_rows(d)),
    ("POST", "/support-measures/{measure_id}/end"): lambda d: (lambda r: Call(
        "POST", f"/support-measures/{r.measure}/end", 200, body={"ended_on": r.today.isoformat(), "reason": "申出"},
        path_params={"measure_id": str(r.measure)}))(suppression_rows(d)),
    ("POST", "/support-measures/{measure_id}/temporary-release"): lambda d: (lambda r: Call(
        "POST", f"/support-measures/{r.measure}/temporary-release", 200, body={"reason": "審査済み"},
        path_params={"measure_id": str(r.measure)}))(suppression_rows(d)),
    ("GET", "/suppression-monitor/blocked"): lambda d: Call(
        "GET", "/suppression-monitor/blocked", 200, query={"since": "2020-01-01T00:00:00+09:00"}),
    ("GET", "/suppression-monitor/due"): lambda d: Call("GET", "/suppression-monitor/due", 200),
    ("GET", "/audit/staff/{actor}"): lambda d: Call(
        "GET", "/audit/staff/staff:clerk1", 200, path_params={"actor": "staff:clerk1"}),
    ("POST", "/certificates"): lambda d: Call("POST", "/certificates", 201, body={"atena_no": d.atena_no}),
    ("POST", "/certificates/{serial}/revoke"): lambda d: Call(
        "POST", f"/certificates/{d.serial}/revoke", 200, body={"reason": "誤交付"}, path_params={"serial": d.serial}),
    ("GET", "/certificate-issuances"): lambda d: Call("GET", "/certificate-issuances", 200, query={
        "date_from": "2026-01-01", "date_to": "2026-12-31", "atena_no": d.atena_no}),
    ("GET", "/linkage/{consumer}/full"): lambda d: Call(
        "GET", f"/linkage/{linkage_consumer()}/full", 200, path_params={"consumer": "tax"}),
    ("GET", "/linkage/{consumer}/changes"): lambda d: Call(
        "GET", f"/linkage/{linkage_consumer()}/changes", 200, query={"after": "0"}, path_params={"consumer": "tax"}),
    ("POST", "/kiosk-cards"): lambda d: Call("POST", "/kiosk-cards", 201, body={
        "atena_no": d.atena_no, "card_id": "card-0001", "public_key": "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"}),
}


@pytest.fixture(autouse=True)
def _certificate_keys(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A throw-away signing key for 周南市 (certificate endpoints)."""
    from moyai.certificates import signing

    store = signing.FileIdentityStore(tmp_path / "keys")
    ca_key, ca = signing.make_test_ca()
    store.save(signing.issue_identity(SHUNAN, "周南市", ca_key, ca))
    monkeypatch.setenv("MOYAI_CERT_KEY_DIR", str(store.root))


def linkage_consumer() -> str:
    """A 宛名連携 consumer of 周南市 (registered outside the matrix)."""
    from moyai.linkage.services import register_consumer

    with tenant_scope(SHUNAN):
        register_consumer("tax", name_ja="住民税システム", system="tax", items=["name", "address"],
                          basis="地方税法")
    return "tax"


@dataclass(frozen=True)
class SuppressionRows:
    suppression: int  # a 抑止 (発行, アラート) on the 世帯主
    measure: int  # a 支援措置 of his wife, in its renewal window today
    provisional: int  # a 仮支援措置 of the same person, received today
    today: dt.date


def suppression_rows(d: Data) -> SuppressionRows:
    """Rows the 抑止・支援措置 endpoints act on (made by a 支援措置責任者 outside the matrix)."""
    from django.utils import timezone

    from moyai.platform.identity.services import Principal
    from moyai.residents import suppression
    from moyai.residents.domain.suppression import add_months
    from moyai.residents.models import Resident

    officer = Principal("staff", "officer", SHUNAN, frozenset(), frozenset({"suppression.manage",
                                                                            "support_measure.manage"}))
    today = timezone.localdate()
    with tenant_scope(SHUNAN):
        wife = Resident.objects.filter(household_no=d.household_no).exclude(atena_no=d.atena_no).get().atena_no
        s = suppression.set_suppression(officer, target_kind="person", target=d.atena_no, process="issuance",
                                        level="alert", reason="other", start_date=today)
        start = add_months(today, -11)
        m = suppression.register_measure(officer, applicant=wife, received_on=start, provisional=False, today=today)
        p = suppression.register_measure(officer, applicant=wife, received_on=today, today=today)
    return SuppressionRows(s.id, m.id, p.id, today)


def build_data(w: World) -> Data:
    with tenant_scope(SHUNAN):
        req = services.record_now(
            w.clerk, "move_in", dt.date(2020, 4, 1),
            [
                SubjectInput(None, {"family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ",
                                    "birth_date": "昭和45年5月5日", "sex": "1",
                                    "relationship": "世帯主", "address": ADDR, "household_no": "new"}),
                SubjectInput(None, {"family_name": "山田", "given_name": "花子", "family_kana": "ヤマダ",
                                    "birth_date": "昭和47年2月3日", "sex": "2",
                                    "relationship": "妻", "address": ADDR, "household_no": "new"}),
            ],
            notified_date=dt.date(2020, 4, 3),
        )
        assert req.status == "registered", req.findings
        father, mother = (m["atena_no"] for m in req.moves)
        household = req.moves[0]["changes"]["household_no"]
        draft = services.propose(w.clerk, "move_within", dt.date(2024, 4, 1),
                                 [SubjectInput(father, {"address": ADDR_NEW})], notified_date=dt.date(2024, 4, 1))
        assert draft.status == "draft"
        awaiting = services.record_now(w.clerk, "ex_officio_correction", dt.date(2020, 4, 1),
                                       [SubjectInput(mother, {"given_name": "花代"})])
        assert awaiting.status == "awaiting_approval", awaiting.findings
        set_parameter("issuer_name", "周南　太郎", dt.date(2020, 1, 1), "admin1")
        serial = issue_at_counter(w.clerk, CertificateRequest(atena_no=father)).serial
    return Data(atena_no=father, household_no=household, draft_id=draft.id, awaiting_id=awaiting.id, serial=serial)


# ------------------------------------------------------------------ callers


@dataclass(frozen=True)
class Caller:
    key: str
    kind: str  # staff | token | anonymous | bad_token
    role: str | None = None  # role in 周南市 (None: no right in 周南市 at all)


CALLERS: list[Caller] = [
    *[Caller(f"staff:{r}", "staff", r) for r in ("clerk", "approver", "admin", "auditor")],
    Caller("staff:no-membership", "staff"),
    Caller("staff:kudamatsu-clerk", "staff"),
    Caller("anonymous", "anonymous"),
    *[Caller(f"token:{r}", "token", r) for r in ("clerk", "approver", "admin", "auditor")],
    Caller("token:kudamatsu-clerk", "token"),
    Caller("token:wrong-secret", "bad_token"),
    Caller("token:revoked", "bad_token"),
    Caller("token:malformed", "bad_token"),
]


@dataclass
class Credentials:
    users: dict[str, AbstractBaseUser]  # caller key → user, for staff callers
    headers: dict[str, str]  # caller key → Authorization header, for token callers
    labels: dict[str, str]  # caller key → actor label expected in the access log


def make_credentials(w: World) -> Credentials:
    User = get_user_model()
    users: dict[str, AbstractBaseUser] = {
        f"staff:{r}": User.objects.get(username=f"{r}1") for r in ("clerk", "approver", "admin", "auditor")
    }
    users["staff:no-membership"] = UserFactory(username="nomember1")
    users["staff:kudamatsu-clerk"] = User.objects.get(username="kclerk1")
    assert not Membership.objects.filter(user=users["staff:no-membership"]).exists()
    labels = {k: f"staff:{u.get_username()}" for k, u in users.items()}
    headers: dict[str, str] = {}
    for r in ("clerk", "approver", "admin", "auditor"):
        token, raw = issue_token(SHUNAN, r, f"{r} system")
        headers[f"token:{r}"] = f"Bearer {raw}"
        labels[f"token:{r}"] = f"token:{token.prefix}"
    token, raw = issue_token(KUDAMATSU, "clerk", "下松市の連携")
    headers["token:kudamatsu-clerk"] = f"Bearer {raw}"
    labels["token:kudamatsu-clerk"] = f"token:{token.prefix}"
    token, raw = issue_token(SHUNAN, "admin", "wrong secret")
    headers["token:wrong-secret"] = f"Bearer moyai_{token.prefix}_{'x' * 43}"
    token, raw = issue_token(SHUNAN, "admin", "revoked")
    revoke_token(token.prefix)
    headers["token:revoked"] = f"Bearer {raw}"
    headers["token:malformed"] = "Bearer not-a-moyai-token"
    return Credentials(users, headers, labels)


@dataclass(frozen=True)
class Expected:
    status: int
    code: str | None = None  # problem code for refusals
    #: one "denied" access-log row in 周南市 (True), none (False), or not checked (None: 401s — the gate
    #: logs refusals of known principals only; whether anonymous attempts are logged is not pinned here)
    denied_log: bool | None = False


def expected_for(caller: Caller, permission: str, success: int) -> Expected:
    """The expected outcome, from roles.yaml."""
    if caller.kind in ("anonymous", "bad_token"):
        return Expected(401, IdentityErrorCode.NOT_AUTHENTICATED, denied_log=None)
    if caller.role is None:
        return Expected(403, IdentityErrorCode.NOT_MEMBER, denied_log=True)
    if permission in roles()[caller.role].permissions:
        return Expected(success)
    return Expected(403, IdentityErrorCode.FORBIDDEN, denied_log=True)


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """The world has six staff members; hashing their passwords with PBKDF2 dominates run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def denied_rows() -> list[AccessLog]:
    with tenant_scope(SHUNAN):
        return list(AccessLog.objects.filter(outcome="denied").order_by("at", "id"))


@dataclass
class Outcome:
    status: int
    code: str | None
    body: Any


@dataclass
class Mismatch:
    caller: str
    expected: str
    actual: str


def check(op: Operation, caller: Caller, creds: Credentials, call: Call,
          run: Callable[[], Outcome]) -> list[Mismatch]:
    """Run one call in a savepoint that is rolled back afterwards; compare with the table."""
    assert op.permission is not None, f"{op} is not declared with tenant_endpoint"
    exp = expected_for(caller, op.permission, call.success)
    out: list[Mismatch] = []
    with transaction.atomic():
        before = {r.id for r in denied_rows()}
        got = run()
        new = [r for r in denied_rows() if r.id not in before]
        transaction.set_rollback(True)
    if (got.status, got.code if exp.code else None) != (exp.status, exp.code):
        out.append(Mismatch(caller.key, f"{exp.status} {exp.code or ''}", f"{got.status} {got.code or ''} {got.body}"))
    if exp.denied_log:
        wanted = (creds.labels[caller.key], f"denied:{op.name}", SHUNAN)
        rows = [(r.actor, r.operation, r.tenant_id) for r in new]
        if rows != [wanted] or not new[0].detail.get("reason"):
            out.append(Mismatch(caller.key, f"one denied access-log row {wanted}", f"{rows}"))
    elif exp.denied_log is False and new:
        out.append(Mismatch(caller.key, "no denied access-log row", f"{[(r.actor, r.operation) for r in new]}"))
    return out


def report(op: Operation, mismatches: list[Mismatch]) -> str:
    lines = [f"{op} ({op.permission}):"]
    lines += [f"  {m.caller}: expected {m.expected}, got {m.actual}" for m in mismatches]
    return "\n".join(lines)


# ------------------------------------------------------------------ 1. static checks


def test_the_api_has_tenant_operations() -> None:
    assert len(TENANT_OPERATIONS) >= 20
    assert {op.name for op in TENANT_OPERATIONS} >= SEARCH | VIEW | REGISTER | APPROVE | PARAMETERS | AUDIT


def test_every_operation_is_a_tenant_endpoint_with_a_known_permission() -> None:
    known = set(permission_table())
    problems: list[str] = []
    for op in OPERATIONS:
        if not op.path.startswith(TENANT_PREFIX + "/"):
            if (op.method, op.path) not in PUBLIC_OPERATIONS:
                problems.append(f"{op}: outside {TENANT_PREFIX}/ and not a declared public operation")
            continue
        if op.permission is None:
            problems.append(f"{op}: not declared with tenant_endpoint (no .permission)")
            continue
        if ENDPOINT_PERMISSIONS.get(op.qualname) != op.permission:
            problems.append(f"{op}: ENDPOINT_PERMISSIONS[{op.qualname}] = "
                            f"{ENDPOINT_PERMISSIONS.get(op.qualname)!r}, view says {op.permission!r}")
        if op.permission not in known:
            problems.append(f"{op}: permission {op.permission!r} is not defined in roles.yaml")
        if "tenant" not in inspect.signature(op.view).parameters:
            problems.append(f"{op}: the view takes no tenant argument")
    assert problems == []


def test_a_view_without_tenant_endpoint_is_caught() -> None:
    """The check above relies on ``.permission``: a bare view has none, a decorated one has it."""
    from moyai.platform.http.endpoints import tenant_endpoint

    def bare(request: HttpRequest, tenant: str) -> None:
        return None

    assert getattr(bare, "permission", None) is None
    assert tenant_endpoint("audit.read")(bare).permission == "audit.read"  # type: ignore[attr-defined]
    ENDPOINT_PERMISSIONS.pop(f"{bare.__module__}.{bare.__qualname__}", None)


def test_every_operation_has_a_recipe_and_every_recipe_an_operation() -> None:
    ops = {op.key for op in TENANT_OPERATIONS}
    assert sorted(ops - set(RECIPES)) == [], "new endpoint: add a request recipe to the role matrix"
    assert sorted(set(RECIPES) - ops) == [], "recipe for an endpoint that no longer exists"
    assert len(TENANT_OPERATIONS) == len(ops), "two views share one method and path"


def test_every_permission_is_used_by_an_endpoint() -> None:
    used = {op.permission for op in TENANT_OPERATIONS}
    assert used == set(permission_table())


def test_roles_yaml_grants_exactly_what_the_issue_asked_for() -> None:
    table = roles()
    assert set(table) == set(ISSUE_ALLOWED)
    for role, allowed in ISSUE_ALLOWED.items():
        from_yaml = {op.name for op in TENANT_OPERATIONS if op.permission in table[role].permissions}
        assert from_yaml == allowed, role
    assert table["auditor"].permissions == {"audit.read"}
    assert not table["clerk"].permissions & {"move.approve", "audit.read", "staff.manage", "tenant.parameters"}


def test_the_openapi_schema_lists_the_same_operations() -> None:
    schema = api.get_openapi_schema()
    listed = {(m.upper(), p.removeprefix("/api/v1")) for p, ms in schema["paths"].items() for m in ms}
    assert listed == {(op.method, op.path) for op in OPERATIONS}


# ------------------------------------------------------------------ 2. the gate, called directly


def _gate_kwargs(op: Operation, call: Call) -> dict[str, Any]:
    """Arguments for the undecorated view's parameters, as ninja would build them."""
    sig = inspect.signature(op.view.__wrapped__, eval_str=True)  # type: ignore[attr-defined]
    kwargs: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name in ("request", "tenant"):
            continue
        ann = p.annotation
        if typing.get_origin(ann) is typing.Annotated:
            ann = typing.get_args(ann)[0]
        if name in call.path_params:
            kwargs[name] = ann(call.path_params[name])
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            kwargs[name] = ann.model_validate(call.body if call.body is not None else call.query)
        elif name in call.query:
            kwargs[name] = call.query[name]
    return kwargs


def run_gate(op: Operation, caller: Caller, creds: Credentials, call: Call) -> Outcome:
    rf = RequestFactory()
    headers = {"Authorization": creds.headers[caller.key]} if caller.key in creds.headers else {}
    request = rf.generic(call.method, BASE + call.path, json.dumps(call.body or {}),
                         content_type="application/json", headers=headers)
    request.user = creds.users.get(caller.key) or AnonymousUser()
    request._dont_enforce_csrf_checks = True  # as the test Client does; CSRF has its own test below
    try:
        result = op.view(request, SHUNAN, **_gate_kwargs(op, call))
    except IdentityError as exc:
        return Outcome(401 if exc.code == IdentityErrorCode.NOT_AUTHENTICATED else 403, exc.code, exc.message)
    except RegistryError as exc:
        return Outcome(exc.status, exc.code, exc.message)
    if isinstance(result, Status):
        return Outcome(result.status_code, None, result.value)
    if isinstance(result, HttpResponse):
        return Outcome(result.status_code, None, result.content[:200])
    if isinstance(result, tuple):
        return Outcome(result[0], None, result[1])
    return Outcome(200, None, result)


@pytest.mark.django_db
@pytest.mark.parametrize("op", TENANT_OPERATIONS, ids=str)
def test_gate_matrix(world: World, op: Operation) -> None:
    if op.key not in RECIPES:
        pytest.fail(f"{op}: no request recipe in RECIPES — add one so the endpoint is in the role matrix")
    data = build_data(world)
    creds = make_credentials(world)
    call = RECIPES[op.key](data)
    mismatches: list[Mismatch] = []
    for caller in CALLERS:
        mismatches += check(op, caller, creds, call, lambda c=caller: run_gate(op, c, creds, call))  # type: ignore[misc]
    assert not mismatches, report(op, mismatches)


# ------------------------------------------------------------------ 3. HTTP, through the test client

def make_clients(creds: Credentials) -> dict[str, Client]:
    clients: dict[str, Client] = {}
    for caller in CALLERS:
        client = Client(raise_request_exception=False)
        if caller.key in creds.users:
            client.force_login(creds.users[caller.key])
        clients[caller.key] = client
    return clients


def run_http(caller: Caller, creds: Credentials, clients: dict[str, Client], call: Call) -> Outcome:
    headers = {"Authorization": creds.headers[caller.key]} if caller.key in creds.headers else {}
    client = clients[caller.key]
    if call.method == "GET":
        resp = client.get(BASE + call.path, call.query, headers=headers)
    else:
        resp = client.generic(call.method, BASE + call.path, json.dumps(call.body or {}),
                              content_type="application/json", headers=headers)
    try:
        body = resp.json()
    except ValueError:
        body = resp.content[:200]
    code = body.get("code") if isinstance(body, dict) and resp.status_code >= 400 else None
    return Outcome(resp.status_code, code, body)


@pytest.mark.django_db
@pytest.mark.parametrize("op", TENANT_OPERATIONS, ids=str)
def test_http_matrix(world: World, op: Operation) -> None:
    data = build_data(world)
    creds = make_credentials(world)
    clients = make_clients(creds)
    call = RECIPES[op.key](data)
    mismatches: list[Mismatch] = []
    for caller in CALLERS:
        mismatches += check(op, caller, creds, call, lambda c=caller: run_http(c, creds, clients, call))  # type: ignore[misc]
    assert not mismatches, report(op, mismatches)


@pytest.mark.django_db
def test_http_success_bodies(world: World) -> None:
    """A few permitted calls in full: the body is the 団体's data, not just a status."""
    data = build_data(world)
    creds = make_credentials(world)
    clients = make_clients(creds)
    clerk = clients["staff:clerk"]
    r = clerk.get(f"{BASE}/residents", {"name": "ﾔﾏﾀﾞ"})
    assert r.status_code == 200, r.content
    assert r.json()["total"] == 2
    assert {i["atena_no"] for i in r.json()["items"]} >= {data.atena_no}
    r = clerk.get(f"{BASE}/residents/{data.atena_no}")
    assert r.status_code == 200, r.content
    assert r.json()["atena_no"] == data.atena_no
    assert next(m["atena_no"] for m in r.json()["household"]) == data.atena_no
    r = clients["token:approver"].get(f"{BASE}/changes", headers={"Authorization": creds.headers["token:approver"]})
    assert r.status_code == 200, r.content
    assert [c["id"] for c in r.json()] == [str(data.awaiting_id)]
    r = clients["staff:admin"].generic("POST", f"{BASE}/staff", json.dumps({"username": "clerk2", "role": "auditor"}),
                                       content_type="application/json")
    assert r.status_code == 201, r.content
    assert Membership.objects.filter(user__username="clerk2", tenant_id=SHUNAN, role="auditor").exists()


@pytest.mark.django_db
def test_a_session_post_without_csrf_token_is_refused(world: World) -> None:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(get_user_model().objects.get(username="admin1"))
    r = client.generic("POST", f"{BASE}/staff", json.dumps({"username": "kclerk1", "role": "admin"}),
                       content_type="application/json")
    assert r.status_code == 403, r.content
    assert r.json()["code"] == IdentityErrorCode.FORBIDDEN
    assert not Membership.objects.filter(user__username="kclerk1", tenant_id=SHUNAN).exists()
    # the same request with the CSRF cookie and header goes through
    client.get("/counter/?switch=1")  # any page of the counter UI sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    r = client.generic("POST", f"{BASE}/staff", json.dumps({"username": "kclerk1", "role": "admin"}),
                       content_type="application/json", headers={"X-CSRFToken": token})
    assert r.status_code == 201, r.content
