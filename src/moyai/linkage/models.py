"""宛名連携 tables (all tenant-owned, row-level security on PostgreSQL).

- :class:`LinkageCounter` — the 団体's outbox sequence; its row is locked by every 本登録 that
  appends to the outbox, so sequence numbers become visible in commit order (no late gaps).
- :class:`LinkageChange` — the outbox (append-only): one row per resident per 本登録.
- :class:`LinkageConsumer` — a business system (税, 国保, 福祉 …) and what it may receive.
- :class:`LinkageDelivery` — every delivery made (append-only): the audit of 宛名連携.
"""

from __future__ import annotations

from django.db import models

from moyai.platform.ids import new_id
from moyai.platform.tenancy.models import TenantScopedModel


class LinkageCounter(TenantScopedModel):
    pk = models.CompositePrimaryKey("tenant", "name")
    name = models.CharField(max_length=20)
    last_seq = models.BigIntegerField("最後に振った連携番号", default=0)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "宛名連携の連番"


class LinkageChange(TenantScopedModel):
    """異動分: a resident whose 宛名 data changed, numbered in commit order."""

    pk = models.CompositePrimaryKey("tenant", "seq")
    seq = models.BigIntegerField("連携番号")
    atena_no = models.CharField("宛名番号", max_length=16)
    kind = models.CharField("異動の種類", max_length=30)
    effective_date = models.DateField("異動日")
    event_id = models.BigIntegerField("異動")
    recorded_at = models.DateTimeField("記録日時")

    class Meta(TenantScopedModel.Meta):
        verbose_name = "宛名連携の異動分"


class LinkageConsumer(TenantScopedModel):
    """A business system of the 団体 that receives 宛名 data."""

    pk = models.CompositePrimaryKey("tenant", "consumer_id")
    consumer_id = models.CharField("連携先ID", max_length=32)
    name_ja = models.CharField("連携先名", max_length=100)
    system = models.CharField("業務", max_length=20)  # tax 税, kokuho 国保, welfare 福祉, other
    items = models.JSONField("提供項目")
    basis = models.CharField("根拠（法令・条例）", max_length=300)
    mode = models.CharField("連携方式", max_length=10)  # realtime / interval / pull
    fmt = models.CharField("形式", max_length=10)  # json / csv / fixed
    outbox_dir = models.CharField("出力先ディレクトリ", max_length=500, blank=True)
    principal = models.CharField("取得に使うAPIトークン・職員（label）", max_length=160, blank=True)
    cursor = models.BigIntegerField("送信済みの連携番号", default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "宛名連携の連携先"


class LinkageDelivery(TenantScopedModel):
    """One delivery (pull or push) of the full set or of a range of the outbox."""

    pk = models.CompositePrimaryKey("tenant", "id")
    id = models.BigIntegerField(default=new_id)
    consumer_id = models.CharField("連携先ID", max_length=32)
    kind = models.CharField("種類", max_length=10)  # full / diff
    channel = models.CharField("経路", max_length=10)  # pull / push
    fmt = models.CharField("形式", max_length=10)
    after_seq = models.BigIntegerField()
    upto_seq = models.BigIntegerField()
    records = models.IntegerField("件数")
    file_name = models.CharField(max_length=200, blank=True)
    actor = models.CharField(max_length=160)
    at = models.DateTimeField()

    class Meta(TenantScopedModel.Meta):
        verbose_name = "宛名連携の送信記録"
        indexes = [models.Index(fields=["tenant", "consumer_id", "at"], name="linkage_delivery_consumer")]


class PortalClient(models.Model):
    """A portal (マイナポータル-like) allowed to read residents' 情報提供等記録 on their behalf.

    Not tenant-owned: one portal serves residents of every 団体. Only the token's hash is kept.
    """

    id = models.CharField("ポータルID", max_length=40, primary_key=True)
    name_ja = models.CharField("名称", max_length=100)
    token_hash = models.CharField(max_length=64)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "ポータル"


class CardToken(TenantScopedModel):
    """A token standing in for a resident's 個人番号カード (its 利用者証明用電子証明書) at the portal.

    Issued by the 団体 to the resident (``moyai.linkage.portal.issue_card_token``); the portal sends
    it with each call on the resident's behalf. Only its hash is kept.
    """

    pk = models.CompositePrimaryKey("tenant", "prefix")
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64)
    atena_no = models.CharField("宛名番号", max_length=16)
    issued_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "カード代替トークン"
