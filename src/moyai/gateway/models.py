"""Durable storage of the gateway: the exchange log, its checkpoints, the 符号 table, the nonce cache.

None of these tables is tenant-owned: the gateway serves every 団体 of its data centre, and
its log spans them. They hold no 宛名番号 and no 個人番号: log entries name a person by the
provider's 符号 only, and the code table maps a code to the platform's person key (the
住民票コード), from which a 宛名番号 is found through the residents' read model.

``GatewayLogEntry``, ``GatewayCheckpoint`` and ``GatewayCode`` are append-only (trigger on both
backends; on PostgreSQL the application role also lacks UPDATE/DELETE, see ``signals``).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class GatewayLogEntry(models.Model):
    """One entry of the hash-chained exchange log (``moyai.gateway.domain.log.LogEntry``).

    ``canonical`` (the canonical JSON of the whole entry) is what is hashed, chained, signed and
    verified; the other columns are copies for indexing, which ``verify-log`` checks against it.
    """

    id = models.BigAutoField(primary_key=True)
    log_id = models.CharField("ログ", max_length=64)
    seq = models.BigIntegerField("番号")
    time = models.DateTimeField("日時")
    requester = models.CharField("照会者", max_length=64)
    provider = models.CharField("提供者", max_length=64)
    affair = models.CharField("事務", max_length=32, null=True)
    subject = models.CharField("符号（提供者の）", max_length=64, null=True)
    outcome = models.CharField("結果", max_length=16)
    disclose_after = models.DateField("開示可能日", null=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)
    canonical = models.TextField("正規化JSON")

    objects: ClassVar[models.Manager[GatewayLogEntry]] = models.Manager()

    class Meta:
        db_table = "gateway_logentry"
        verbose_name = "情報連携ログ"
        constraints = [models.UniqueConstraint(fields=["log_id", "seq"], name="gateway_logentry_seq")]
        indexes = [models.Index(fields=["subject", "seq"], name="gateway_logentry_subject")]


class GatewayCheckpoint(models.Model):
    """A signed Merkle checkpoint over one batch of entries (``domain.log.Checkpoint``)."""

    id = models.BigAutoField(primary_key=True)
    log_id = models.CharField("ログ", max_length=64)
    batch = models.BigIntegerField("バッチ")
    first_seq = models.BigIntegerField()
    size = models.IntegerField()
    root = models.CharField(max_length=64)
    head = models.CharField(max_length=64)
    document = models.TextField("チェックポイント（JSON）")

    objects: ClassVar[models.Manager[GatewayCheckpoint]] = models.Manager()

    class Meta:
        db_table = "gateway_checkpoint"
        verbose_name = "情報連携ログのチェックポイント"
        constraints = [models.UniqueConstraint(fields=["log_id", "batch"], name="gateway_checkpoint_batch")]


class GatewayCode(models.Model):
    """An issued 符号: (organisation, code) → the platform's person key. Never changed."""

    pk = models.CompositePrimaryKey("org_id", "code")
    org_id = models.CharField("団体", max_length=64)
    code = models.CharField("符号", max_length=64)
    person_key = models.CharField("本人の鍵（住民票コード）", max_length=64)
    issued_at = models.DateTimeField("発行日時", auto_now_add=True)

    objects: ClassVar[models.Manager[GatewayCode]] = models.Manager()

    class Meta:
        db_table = "gateway_code"
        verbose_name = "符号"
        constraints = [models.UniqueConstraint(fields=["org_id", "person_key"], name="gateway_code_person")]
        indexes = [models.Index(fields=["person_key"], name="gateway_code_by_person")]


class GatewayNonce(models.Model):
    """A nonce seen from a requester within the timestamp window (replay cache)."""

    id = models.BigAutoField(primary_key=True)
    requester = models.CharField("照会者", max_length=64)
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField()

    objects: ClassVar[models.Manager[GatewayNonce]] = models.Manager()

    class Meta:
        db_table = "gateway_nonce"
        verbose_name = "使用済みノンス"
        constraints = [models.UniqueConstraint(fields=["requester", "nonce"], name="gateway_nonce_once")]
        indexes = [models.Index(fields=["seen_at"], name="gateway_nonce_seen")]
