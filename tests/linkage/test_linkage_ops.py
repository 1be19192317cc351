"""宛名連携 operations: ``moyai linkage push`` for a timer, and the append-only outbox and delivery log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from typer.testing import CliRunner

from moyai.cli import app
from moyai.linkage.models import LinkageChange, LinkageDelivery
from moyai.platform.tenancy.scope import tenant_scope
from moyai.platform.tenancy.signals import APPEND_ONLY_TABLES
from tests.fixtures import KUDAMATSU, SHUNAN, World
from tests.linkage.test_linkage import _consumer, _person

runner = CliRunner()


def _push(*args: str) -> Any:
    return runner.invoke(app, ["linkage", "push", *args])


@pytest.mark.django_db
def test_push_sends_each_file_consumer_and_reports_an_outage_with_exit_code_1(world: World, tmp_path: Path) -> None:
    good = tmp_path / "tax-in"
    good.mkdir()
    gone = tmp_path / "missing-share" / "kokuho-in"  # its share is not mounted: cannot be written
    _consumer("tax", mode="interval", fmt="csv", outbox_dir=str(good))
    _consumer("kokuho", mode="interval", fmt="json", outbox_dir=str(gone), system="kokuho", items=["name"],
              name_ja="国保システム")
    _consumer("welfare", mode="pull", system="welfare", items=["name"], name_ja="福祉システム")
    a = _person(world, "山田", "一郎", "ヤマダ")
    b = _person(world, "佐藤", "花子", "サトウ")

    result = _push("--tenant", SHUNAN)
    assert result.exit_code == 1, result.output
    name = f"{SHUNAN}_tax_000000000001-000000000002.csv"
    assert f"{SHUNAN} tax: 送信しました {name}" in result.stdout
    assert f"{SHUNAN} kokuho: 送信できませんでした: 連携先 国保システム の出力先に書けません" in result.output
    assert "welfare" not in result.output  # a pull consumer is not pushed
    assert "1 団体: 1 件送信、1 件失敗" in result.stdout
    assert [p.name for p in good.iterdir()] == [name]
    body = (good / name).read_text(encoding="utf-8")
    assert a in body and b in body
    with tenant_scope(SHUNAN):
        assert list(LinkageDelivery.objects.values_list("consumer_id", "channel", "after_seq", "upto_seq",
                                                        "records")) == [("tax", "push", 0, 2, 2)]

    # the share comes back: the next run carries everything the consumer missed, the other has nothing new
    gone.parent.mkdir()
    result = _push()  # every active 団体
    assert result.exit_code == 0, result.output
    assert f"{SHUNAN} kokuho: 送信しました {SHUNAN}_kokuho_000000000001-000000000002.json" in result.stdout
    assert f"{SHUNAN} tax: 未送信の異動分はありません" in result.stdout
    assert "2 団体: 1 件送信、0 件失敗" in result.stdout
    with tenant_scope(SHUNAN):
        assert sorted(LinkageDelivery.objects.values_list("consumer_id", "upto_seq")) == [("kokuho", 2), ("tax", 2)]


@pytest.mark.django_db
def test_push_only_the_modes_and_tenants_asked(world: World, tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "k").mkdir()
    _consumer("tax", mode="interval", fmt="csv", outbox_dir=str(tmp_path / "s"))
    _consumer("tax", tenant=KUDAMATSU, mode="realtime", fmt="csv", outbox_dir=str(tmp_path / "k"))
    _person(world, "山田", "一郎", "ヤマダ")
    _person(world, "下松", "一", "クダマツ", tenant=KUDAMATSU)
    result = _push("--mode", "realtime")
    assert result.exit_code == 0, result.output
    assert f"{KUDAMATSU} tax: 送信しました" in result.stdout and f"{SHUNAN} tax" not in result.stdout
    assert [p.name for p in (tmp_path / "s").iterdir()] == []
    result = _push("--tenant", SHUNAN)
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "s").iterdir()] == [f"{SHUNAN}_tax_000000000001-000000000001.csv"]


@pytest.mark.django_db
def test_push_refuses_an_unknown_tenant_or_mode(world: World) -> None:
    result = _push("--tenant", "999999")
    assert result.exit_code == 2
    assert "団体 999999 は登録されていないか、有効ではありません" in result.output
    result = _push("--mode", "pull")
    assert result.exit_code == 2
    assert "連携方式 pull は送信できません" in result.output


# ------------------------------------------------------------------ append-only tables


def test_the_outbox_and_the_delivery_log_are_registered_append_only() -> None:
    assert {"linkage_linkagechange", "linkage_linkagedelivery"} <= set(APPEND_ONLY_TABLES)


APPEND_ONLY = [
    (LinkageChange, "linkage_linkagechange", "kind", "'changed'"),
    (LinkageDelivery, "linkage_linkagedelivery", "file_name", "'changed'"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "table", "column", "value"), APPEND_ONLY, ids=[a[1] for a in APPEND_ONLY])
def test_outbox_and_deliveries_cannot_be_updated_or_deleted(world: World, tmp_path: Path, model: Any, table: str,
                                                            column: str, value: str) -> None:
    _consumer("tax", mode="interval", fmt="csv", outbox_dir=str(tmp_path))
    _person(world, "山田", "一郎", "ヤマダ")
    assert _push("--tenant", SHUNAN).exit_code == 0
    with tenant_scope(SHUNAN):
        before = sorted(model.objects.values_list(column, flat=True))
        assert len(before) == 1
        first = model.objects.first()
        attempts: list[Callable[[], Any]] = [
            lambda: model.objects.all().update(**{column: "changed"}),
            lambda: model.objects.all().delete(),
            lambda: first.delete(),
            lambda: connection.cursor().execute(f'UPDATE "{table}" SET "{column}" = {value}'),
            lambda: connection.cursor().execute(f'DELETE FROM "{table}"'),
        ]
        for attempt in attempts:
            with pytest.raises(DatabaseError) as e, transaction.atomic():
                attempt()
            message = str(e.value)
            if connection.vendor == "sqlite":
                assert f"append-only table {table}" in message, message
            else:  # the application role has no UPDATE/DELETE; the trigger refuses any role
                assert "append-only" in message or "permission denied" in message, message
        assert sorted(model.objects.values_list(column, flat=True)) == before


@pytest.mark.django_db
def test_pg_the_application_role_may_only_read_and_append_the_outbox(world: World) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL privileges")
    with connection.cursor() as cur:
        for table in ("linkage_linkagechange", "linkage_linkagedelivery"):
            for privilege, expected in (("SELECT", True), ("INSERT", True), ("UPDATE", False), ("DELETE", False),
                                        ("TRUNCATE", False)):
                cur.execute("SELECT has_table_privilege(current_user, %s, %s)", [table, privilege])
                assert cur.fetchone() == (expected,), (table, privilege)
        # the counter and the consumers (cursor) are ordinary tables: they are updated by every push
        cur.execute("SELECT has_table_privilege(current_user, 'linkage_linkageconsumer', 'UPDATE')")
        assert cur.fetchone() == (True,)
        cur.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'linkage_linkagechange'::regclass "
                    "AND NOT tgisinternal")
        assert cur.fetchall() == [("linkage_linkagechange_append_only",)]
