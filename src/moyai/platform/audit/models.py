"""Append-only access log of personal data (アクセスログ, 標準仕様書 10.2)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from moyai.platform.ids import new_id
from moyai.platform.tenancy.models import TenantScopedModel


class AccessLog(TenantScopedModel):
    """One access: who, when, from where, what operation, why, with which outcome.

    Rows are never updated or deleted (a trigger refuses it, and on PostgreSQL the application
    role has no UPDATE/DELETE right). The residents touched are in :class:`AccessLogSubject`.
    """

    pk = models.CompositePrimaryKey("tenant", "id")
    id = models.BigIntegerField(default=new_id)
    at = models.DateTimeField("日時", default=timezone.now)
    actor = models.CharField("操作者", max_length=160)
    actor_kind = models.CharField("操作者種別", max_length=10)
    operation = models.CharField("操作", max_length=60)
    purpose = models.CharField("利用目的", max_length=200, blank=True)
    outcome = models.CharField("結果", max_length=10, default="ok")
    request_id = models.CharField("要求ID", max_length=64)
    terminal = models.CharField("端末", max_length=64, blank=True)
    subject_count = models.PositiveIntegerField("対象者数", default=0)
    individual_number = models.BooleanField("個人番号の利用", default=False)
    detail = models.JSONField("詳細", default=dict)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "アクセスログ"
        indexes = [
            models.Index(fields=["tenant", "actor", "at"], name="accesslog_actor"),
            models.Index(fields=["tenant", "at"], name="accesslog_at"),
        ]


class AccessLogSubject(TenantScopedModel):
    """A resident (by 宛名番号) touched by an access: lets auditors and residents list accesses."""

    pk = models.CompositePrimaryKey("tenant", "atena_no", "log_id")
    atena_no = models.CharField("宛名番号", max_length=16)
    log_id = models.BigIntegerField()
    at = models.DateTimeField("日時")

    class Meta(TenantScopedModel.Meta):
        verbose_name = "アクセスログ対象者"


class SecurityLog(models.Model):
    """認証ログ (標準仕様書 10.2-d): log-ins, log-outs and failed log-ins, before any 団体 is chosen.

    Global (a log-in is not yet inside a 団体) and append-only like the access log.
    """

    id = models.BigIntegerField(primary_key=True, default=new_id)
    at = models.DateTimeField("日時", default=timezone.now)
    kind = models.CharField("種別", max_length=20)  # login, logout, login_failed
    username = models.CharField("ユーザー名", max_length=150)
    terminal = models.CharField("端末", max_length=64, blank=True)

    class Meta:
        verbose_name = "認証ログ"
        indexes = [models.Index(fields=["username", "at"], name="securitylog_user"),
                   models.Index(fields=["at"], name="securitylog_at")]
