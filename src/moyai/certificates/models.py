"""Tables of the certificates app.

- :class:`IssuanceRecord` — the 交付履歴: one row per certificate issued (counter or kiosk),
  append-only. Persons are named by 宛名番号 only; what was certified is kept as its digest.
- :class:`IssueCounter` — the per-団体, per-day counter of the 発行番号's sequence (5.5).
- :class:`Revocation` — the 失効 of an issued certificate (one row per serial, append-only).
- :class:`VerificationLog` — every public verification (no personal data), append-only.
- :class:`KioskCard` / :class:`KioskNonce` — the card keys standing in for the 利用者証明用電子証明書
  of コンビニ交付, and the nonces already used (replay).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from moyai.platform.tenancy.models import TenantScopedModel


class Channel(models.TextChoices):
    COUNTER = "counter", "窓口"
    KIOSK = "kiosk", "コンビニ交付"


class IssueCounter(TenantScopedModel):
    """The last sequence number given out, per 団体 and counter name (never reused)."""

    pk = models.CompositePrimaryKey("tenant", "name")
    name = models.CharField(max_length=20)
    value = models.BigIntegerField(default=0)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "発行番号の採番"


class IssuanceRecord(TenantScopedModel):
    """交付履歴: who was certified, how, to whom, for what, at which fee, by whom, and the digest."""

    pk = models.CompositePrimaryKey("tenant", "serial")
    serial = models.CharField("証明書番号", max_length=40)
    sequence = models.BigIntegerField("連番（その日の）")
    issue_number = models.CharField("発行番号", max_length=120)
    kind = models.CharField("種類", max_length=32)
    form = models.CharField("形式", max_length=16)
    persons = models.JSONField("対象者（宛名番号）", default=list)
    whole_household = models.BooleanField("世帯全員", default=False)
    requester_kind = models.CharField("請求者の種別", max_length=16)
    requester_name = models.CharField("請求者", max_length=200, blank=True)
    purpose = models.CharField("請求の目的", max_length=200, blank=True)
    items = models.JSONField("記載した省略可能事項", default=list)
    basic_items = models.JSONField("証明した事項（記載事項証明書）", default=list)
    as_of = models.DateField("基準日")
    channel = models.CharField("交付の方法", max_length=8, choices=Channel.choices)
    fee = models.PositiveIntegerField("手数料（円）")
    staff = models.CharField("交付者", max_length=150)
    digest = models.CharField("証明内容の要約（SHA-256）", max_length=64)
    key_id = models.CharField("署名鍵", max_length=16)
    pages = models.PositiveSmallIntegerField("頁数")
    issued_at = models.DateTimeField("交付日時")

    class Meta(TenantScopedModel.Meta):
        verbose_name = "交付履歴"
        indexes = [models.Index(fields=["tenant", "issued_at"], name="issuance_by_time")]


class Revocation(TenantScopedModel):
    """失効: an issued certificate declared no longer valid (e.g. issued in error). Never undone."""

    pk = models.CompositePrimaryKey("tenant", "serial")
    serial = models.CharField("証明書番号", max_length=40)
    reason = models.CharField("失効の理由", max_length=200)
    revoked_by = models.CharField("失効させた職員", max_length=150)
    revoked_at = models.DateTimeField("失効日時")

    class Meta(TenantScopedModel.Meta):
        verbose_name = "証明書の失効"


class VerificationLog(models.Model):
    """One public verification: how, the answer, and which certificate (団体コード and serial only,
    never a name, an address or the requester's IP address)."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField("日時")
    method = models.CharField("方法", max_length=8)  # payload | pdf
    outcome = models.CharField("結果", max_length=16)  # genuine | revoked | unknown
    issuer_code = models.CharField("団体コード（発行者）", max_length=6, blank=True)  # not tenant_code: a global table
    serial = models.CharField("証明書番号", max_length=40, blank=True)
    reason = models.CharField("理由", max_length=200, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects: ClassVar[models.Manager[VerificationLog]] = models.Manager()

    class Meta:
        db_table = "certificates_verificationlog"
        verbose_name = "証明書の検証ログ"
        indexes = [models.Index(fields=["issuer_code", "serial"], name="verification_by_serial")]


class KioskCard(TenantScopedModel):
    """A card key registered for a resident: the Ed25519 public key that stands in for the
    利用者証明用電子証明書 of the マイナンバーカード in コンビニ交付 (see docs/certificates.md)."""

    pk = models.CompositePrimaryKey("tenant", "card_id")
    card_id = models.CharField("カードID", max_length=64)
    atena_no = models.CharField("宛名番号", max_length=16)
    public_key = models.CharField("公開鍵（Ed25519, base64url）", max_length=64)
    active = models.BooleanField("有効", default=True)
    registered_at = models.DateTimeField("登録日時")
    registered_by = models.CharField("登録者", max_length=150)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "コンビニ交付の利用者証明用鍵"


class KioskNonce(TenantScopedModel):
    """A nonce already used by a card within the time window: the same request is refused twice."""

    pk = models.CompositePrimaryKey("tenant", "card_id", "nonce")
    card_id = models.CharField(max_length=64)
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField()

    class Meta(TenantScopedModel.Meta):
        verbose_name = "使用済みノンス（コンビニ交付）"
        indexes = [models.Index(fields=["tenant", "seen_at"], name="kiosknonce_seen")]
