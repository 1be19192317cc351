"""宛名連携: full set, changes since a cursor, pull API formats, push files, outage and resume, isolation."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import Client

from moyai.gateway.adapters.csvbatch import read_csv
from moyai.gateway.adapters.fixed import read_fixed
from moyai.linkage import services
from moyai.linkage.models import LinkageChange, LinkageDelivery
from moyai.platform.audit.models import AccessLog
from moyai.platform.identity.services import issue_token
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services as residents
from moyai.residents.services import SubjectInput
from tests.conftest import PG
from tests.fixtures import KUDAMATSU, SHUNAN, World

ADDR1 = "山口県周南市岐山通一丁目1番地"
ADDR2 = "山口県周南市岐山通二丁目3番地"
NUMBER_BASIS = "番号法第9条第1項 別表 地方税の賦課徴収に関する事務"


def _person(world: World, family: str, given: str, kana: str, tenant: str = SHUNAN, number: str = "") -> str:
    clerk = world.clerk if tenant == SHUNAN else world.other_clerk
    items = {"family_name": family, "given_name": given, "family_kana": kana, "given_kana": "イチロウ",
             "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主", "address": ADDR1,
             "postal_code": "745-0045", "household_no": "new", "previous_address": "広島県広島市中区基町1番"}
    if number:
        items["individual_number"] = number
    with tenant_scope(tenant):
        req = residents.record_now(clerk, "move_in", dt.date(2024, 4, 1), [SubjectInput(None, items)])
        assert req.status == "registered", req.findings
        return str(req.moves[0]["atena_no"])


def _move(world: World, atena_no: str, address: str = ADDR2) -> None:
    with tenant_scope(SHUNAN):
        req = residents.record_now(world.clerk, "move_within", dt.date(2025, 5, 1),
                                   [SubjectInput(atena_no, {"address": address})])
        assert req.status == "registered", req.findings


def _consumer(consumer_id: str = "tax", tenant: str = SHUNAN, **kw: object) -> None:
    args: dict[str, object] = {"name_ja": "住民税システム", "system": "tax",
                               "items": ["name", "address", "individual_number"], "basis": NUMBER_BASIS} | kw
    with tenant_scope(tenant):
        services.register_consumer(consumer_id, **args)  # type: ignore[arg-type]


def _pull(after: int | None, *, full: bool = False, fmt: str = "json", consumer: str = "tax",
          tenant: str = SHUNAN) -> tuple[services.Batch, bytes]:
    with tenant_scope(tenant):
        batch, body, _ = services.pull(consumer, services.linkage_actor(consumer), after=after, full=full, fmt=fmt)
    return batch, body


@pytest.mark.django_db
def test_the_full_set_carries_only_the_consumers_items_and_the_cursor_to_continue_from(world: World) -> None:
    a = _person(world, "山田", "一郎", "ヤマダ", number="123456789018")
    b = _person(world, "髙橋", "次郎", "タカハシ")
    _consumer()
    batch, body = _pull(None, full=True)
    assert (batch.kind, batch.after, batch.upto) == ("full", 0, 2)
    data = json.loads(body)
    assert [(r["atena_no"], r["name"], r["address"], r["kana"], r["individual_number"], r["change"])
            for r in data["records"]] == [(a, "山田　一郎", ADDR1, None, "123456789018", "full"),
                                          (b, "髙橋　次郎", ADDR1, None, None, "full")]
    with tenant_scope(SHUNAN):
        log = AccessLog.objects.filter(operation="resident.linkage").get()
        assert (log.actor, log.subject_count, log.individual_number) == ("linkage:tax", 2, True)
        assert "住民税システム" in log.purpose and "番号法" in log.purpose
        assert LinkageDelivery.objects.get().kind == "full"


@pytest.mark.django_db
def test_changes_since_a_cursor_are_numbered_and_carry_the_current_items(world: World) -> None:
    a = _person(world, "山田", "一郎", "ヤマダ")
    _consumer(items=["address", "kana"], basis="周南市個人情報保護条例施行規則 別表（国保）", system="kokuho")
    full, _ = _pull(None, full=True)
    _move(world, a)
    batch, body = _pull(full.upto)
    assert (batch.after, batch.upto, batch.more) == (1, 2, False)
    [record] = json.loads(body)["records"]
    assert (record["seq"], record["change"], record["effective_date"], record["address"], record["name"]) == (
        2, "move_within", "2025-05-01", ADDR2, None)
    again, _ = _pull(batch.upto)
    assert (again.records, again.upto) == ([], 2)


@pytest.mark.django_db
def test_a_limit_splits_the_changes_and_more_says_so(world: World) -> None:
    people = [_person(world, "山田", given, "ヤマダ") for given in ("一郎", "二郎", "三郎")]
    _consumer()
    with tenant_scope(SHUNAN):
        first, _, _ = services.pull("tax", services.linkage_actor("tax"), after=0, limit=2)
        second, _, _ = services.pull("tax", services.linkage_actor("tax"), after=first.upto, limit=2)
    assert ([r["atena_no"] for r in first.records], first.more) == (people[:2], True)
    assert ([r["atena_no"] for r in second.records], second.more, second.upto) == (people[2:], False, 3)


@pytest.mark.django_db
def test_csv_and_fixed_forms_use_the_layout_and_carry_the_range(world: World) -> None:
    _person(world, "𠮷田", "一郎", "ヨシダ")
    _consumer(items=["name", "kana", "relationship"])
    _, fixed_body = _pull(0, fmt="fixed")
    _, header, [row] = read_fixed(fixed_body, "atena_linkage")
    assert (header["after_seq"], header["upto_seq"], header["kind"]) == ("000000000000", "000000000001", "diff")
    assert (row["name"], row["gaiji"], row["relationship"], row["address"]) == ("〓田　一郎", "1", "世帯主", None)
    _, csv_body = _pull(0, fmt="csv")
    _, _, [csv_row] = read_csv(csv_body, "atena_linkage")
    assert (csv_row["name"], csv_row["gaiji"]) == ("𠮷田　一郎", "0")


@pytest.mark.django_db
@pytest.mark.parametrize(("kw", "message"), [
    ({"items": ["name", "salary"]}, "salary"),
    ({"items": ["individual_number"], "basis": "庁内の申合せ"}, "個人番号"),
    ({"basis": " "}, "根拠"),
    ({"mode": "interval"}, "出力先"),
])
def test_a_consumer_without_basis_or_with_unknown_items_is_refused(world: World, kw: dict[str, object],
                                                                   message: str) -> None:
    with pytest.raises(services.LinkageError, match=message):
        _consumer(**kw)


@pytest.mark.django_db
def test_a_consumer_outage_loses_nothing_and_duplicates_nothing(world: World, tmp_path: Path) -> None:
    share = tmp_path / "share"
    outbox = share / "tax-in"
    share.mkdir()
    _consumer(mode="interval", fmt="fixed", outbox_dir=str(outbox))
    a = _person(world, "山田", "一郎", "ヤマダ")
    assert services.push_all(SHUNAN)["tax"].startswith("sent ")
    received = {p.name: p.read_bytes() for p in outbox.iterdir()}  # the consumer took the first file
    shutil.rmtree(share)  # then its share is gone (outage)
    b = _person(world, "佐藤", "花子", "サトウ")
    _move(world, a)
    result = services.push_all(SHUNAN)
    assert "出力先に書けません" in result["tax"]
    with tenant_scope(SHUNAN):
        assert services._consumer("tax").cursor == 1
    share.mkdir()  # back
    c = _person(world, "鈴木", "三郎", "スズキ")
    assert services.push_all(SHUNAN)["tax"].startswith("sent ")
    assert services.push_all(SHUNAN)["tax"] == "nothing"
    received |= {p.name: p.read_bytes() for p in outbox.iterdir()}
    assert sorted(received) == [f"{SHUNAN}_tax_000000000001-000000000001.dat",
                                f"{SHUNAN}_tax_000000000002-000000000004.dat"]
    seen = [(int(r["seq"]), r["atena_no"], r["change"]) for f in sorted(received)
            for r in read_fixed(received[f], "atena_linkage")[2]]
    assert seen == [(1, a, "move_in"), (2, b, "move_in"), (3, a, "move_within"), (4, c, "move_in")]
    with tenant_scope(SHUNAN):
        assert [(d.after_seq, d.upto_seq, d.channel) for d in LinkageDelivery.objects.order_by("at")] == [
            (0, 1, "push"), (1, 4, "push")]


@pytest.mark.django_db
def test_a_realtime_consumer_gets_a_file_when_the_registration_commits(
        world: World, tmp_path: Path, django_capture_on_commit_callbacks: object) -> None:
    _consumer(mode="realtime", fmt="csv", outbox_dir=str(tmp_path))
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        a = _person(world, "山田", "一郎", "ヤマダ")
    [file] = list(tmp_path.iterdir())
    _, _, [row] = read_csv(file.read_bytes(), "atena_linkage")
    assert (row["atena_no"], row["seq"], row["address"]) == (a, "1", ADDR1)


@pytest.mark.django_db
def test_tenants_are_isolated_numbers_consumers_and_the_api(world: World) -> None:
    a = _person(world, "山田", "一郎", "ヤマダ")
    k = _person(world, "下松", "一郎", "クダマツ", tenant=KUDAMATSU)
    _consumer()
    _consumer(tenant=KUDAMATSU)
    shunan, _ = _pull(0)
    kudamatsu, _ = _pull(0, tenant=KUDAMATSU)
    assert [(r["seq"], r["atena_no"]) for r in shunan.records] == [(1, a)]
    assert [(r["seq"], r["atena_no"]) for r in kudamatsu.records] == [(1, k)]
    with tenant_scope(SHUNAN):
        _, shunan_token = issue_token(SHUNAN, "linkage", "tax-system")
    with tenant_scope(KUDAMATSU):
        _, kudamatsu_token = issue_token(KUDAMATSU, "linkage", "tax-system")
    client = Client()
    ok = client.get(f"/api/v1/tenants/{SHUNAN}/linkage/tax/changes", {"after": 0, "format": "fixed"},
                    HTTP_AUTHORIZATION=f"Bearer {shunan_token}")
    assert ok.status_code == 200 and ok["X-Moyai-Linkage-Upto"] == "1"
    assert [r["atena_no"] for r in read_fixed(ok.content, "atena_linkage")[2]] == [a]
    other = client.get(f"/api/v1/tenants/{SHUNAN}/linkage/tax/changes", {"after": 0},
                       HTTP_AUTHORIZATION=f"Bearer {kudamatsu_token}")
    assert other.status_code == 403
    with tenant_scope(SHUNAN):
        _, clerk_token = issue_token(SHUNAN, "clerk", "counter")
    assert client.get(f"/api/v1/tenants/{SHUNAN}/linkage/tax/full",
                      HTTP_AUTHORIZATION=f"Bearer {clerk_token}").status_code == 403
    missing = client.get(f"/api/v1/tenants/{SHUNAN}/linkage/tax/changes", HTTP_AUTHORIZATION=f"Bearer {shunan_token}")
    assert missing.status_code in (400, 422)


@pytest.mark.django_db
def test_a_consumer_bound_to_a_principal_refuses_others(world: World) -> None:
    _person(world, "山田", "一郎", "ヤマダ")
    _consumer(principal="token:abcdef")
    with tenant_scope(SHUNAN), pytest.raises(services.LinkageError, match="取得できません"):
        services.pull("tax", services.linkage_actor("tax"), after=0)


@pytest.mark.postgresql
@pytest.mark.skipif(not PG, reason="the PostgreSQL flavour: concurrent transactions")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("flush_as_owner")
def test_a_late_committing_registration_is_not_skipped(world: World) -> None:
    """T1 registers first and commits late; T2 registers meanwhile; a pull in between must not skip T1."""
    _consumer()
    t1_recorded, release = threading.Event(), threading.Event()
    results: dict[str, str] = {}

    def t1() -> None:
        try:
            with tenant_scope(SHUNAN):
                results["t1"] = _person(world, "先", "一郎", "サキ")
                t1_recorded.set()
                release.wait(20)  # still uncommitted: holds the outbox counter
        finally:
            connections.close_all()

    def t2() -> None:
        try:
            t1_recorded.wait(20)
            results["t2"] = _person(world, "後", "二郎", "アト")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=t1), threading.Thread(target=t2)]
    for t in threads:
        t.start()
    assert t1_recorded.wait(20)
    threads[1].join(1.0)  # T2 is blocked at the outbox counter, not committed
    during, _ = _pull(0)
    assert during.records == [] and during.upto == 0  # nothing visible, cursor does not move past T1
    release.set()
    for t in threads:
        t.join(30)
    after, _ = _pull(during.upto)
    assert [(r["seq"], r["atena_no"]) for r in after.records] == [(1, results["t1"]), (2, results["t2"])]
    with tenant_scope(SHUNAN):
        rows = list(LinkageChange.objects.order_by("seq").values_list("seq", "recorded_at"))
    assert rows[0][1] <= rows[1][1]
    connection.close()


@pytest.mark.django_db
def test_a_support_measure_reaches_every_consumer_as_a_change_and_a_flag(world: World) -> None:
    """支援対象者 (7.2.3): registering and ending a 支援措置 are changes of the persons it protects, and
    the flag is delivered to a consumer whose item list does not name it."""
    from moyai.residents import suppression

    a = _person(world, "山田", "一郎", "ヤマダ")
    b = _person(world, "髙橋", "次郎", "タカハシ")
    _consumer(items=["name"], basis="地方税法第294条")
    start, _ = _pull(None, full=True)
    assert [r["support_measure"] for r in start.records] == [None, None]
    with tenant_scope(SHUNAN):
        measure = suppression.register_measure(world.approver, applicant=a, received_on=dt.date(2026, 5, 1),
                                               today=dt.date(2026, 5, 1))
    batch, body = _pull(start.upto, fmt="csv")
    assert [(r["atena_no"], r["change"], r["effective_date"], r["support_measure"]) for r in batch.records] == [
        (a, "support_measure", "2026-05-01", "1")]
    _, _, rows = read_csv(body, "atena_linkage")
    assert [(r["atena_no"], r["support_measure"]) for r in rows] == [(a, "1")]
    with tenant_scope(SHUNAN):
        suppression.end_measure(world.approver, measure.id, ended_on=dt.date(2026, 6, 1), reason="申出による終了")
    after_end, _ = _pull(batch.upto)
    assert [(r["atena_no"], r["change"], r["support_measure"]) for r in after_end.records] == [
        (a, "support_measure", None)]
    everyone, _ = _pull(None, full=True)
    assert {r["atena_no"]: r["support_measure"] for r in everyone.records} == {a: None, b: None}
