"""団体 (tenant), consortium, versioned per-tenant parameters, and the tenant-owned base model."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models

from moyai.platform.codes.checkdigits import check_local_government_code

from .errors import CrossTenantWrite, NoTenantScope
from .scope import active_tenant_code, current_tenant_code


def validate_tenant_code(value: str) -> None:
    reason = check_local_government_code(value)
    if reason:
        raise ValidationError(reason)


class Consortium(models.Model):
    """The group of 団体 sharing one system (自治体クラウド協議会); holds default parameters."""

    code = models.SlugField(primary_key=True, max_length=40)
    name = models.CharField("名称", max_length=100)
    default_parameters = models.JSONField("既定パラメータ", default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "協議会"

    def __str__(self) -> str:
        return self.name


class Tenant(models.Model):
    """A member municipality, keyed by its 全国地方公共団体コード (6 digits, check digit validated)."""

    code = models.CharField("団体コード", primary_key=True, max_length=6, validators=[validate_tenant_code])
    name = models.CharField("団体名", max_length=50)
    prefecture = models.CharField("都道府県", max_length=10)
    consortium = models.ForeignKey(Consortium, on_delete=models.PROTECT, related_name="tenants")
    joined_on = models.DateField("参加日", default=dt.date.today)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "団体"

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    def save(self, *args: Any, **kwargs: Any) -> None:
        validate_tenant_code(self.code)
        super().save(*args, **kwargs)


class TenantScopedQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        code = current_tenant_code()
        for key in ("tenant", "tenant_id"):
            if key in kwargs:
                value = kwargs[key]
                target = getattr(value, "pk", value)
                if target != code:
                    raise CrossTenantWrite(str(target), code)
        return super().update(**kwargs)

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        code = current_tenant_code()
        for obj in objs:
            if obj.tenant_id != code:
                raise CrossTenantWrite(obj.tenant_id, code)
        return super().bulk_update(objs, fields, *args, **kwargs)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        code = current_tenant_code()
        for obj in objs:
            if obj.tenant_id is None:
                obj.tenant_id = code
            elif obj.tenant_id != code:
                raise CrossTenantWrite(obj.tenant_id, code)
        return super().bulk_create(objs, *args, **kwargs)


class TenantScopedManager(models.Manager[Any]):
    """The only manager of tenant-owned models: refuses to run without an active scope."""

    _queryset_class = TenantScopedQuerySet

    def get_queryset(self) -> TenantScopedQuerySet:
        code = active_tenant_code()
        if code is None:
            raise NoTenantScope(self.model._meta.verbose_name or self.model.__name__)
        return TenantScopedQuerySet(self.model, using=self._db).filter(tenant_id=code)


class TenantScopedModel(models.Model):
    """Base of every tenant-owned table: a ``tenant_code`` column leading every key.

    Subclasses declare ``pk = models.CompositePrimaryKey("tenant", …)`` so that keys lead with
    the tenant (and tables can be partitioned by it), and get row-level security on PostgreSQL
    through :class:`moyai.platform.tenancy.operations.EnableTenantRLS` in their migration.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, db_column="tenant_code", related_name="+", verbose_name="団体"
    )

    objects: ClassVar[TenantScopedManager] = TenantScopedManager()

    class Meta:
        abstract = True
        base_manager_name = "objects"
        default_manager_name = "objects"

    def save(self, *args: Any, **kwargs: Any) -> None:
        code = current_tenant_code()
        if self.tenant_id is None:
            self.tenant_id = code
        elif self.tenant_id != code:
            raise CrossTenantWrite(self.tenant_id, code)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        code = current_tenant_code()
        if self.tenant_id != code:
            raise CrossTenantWrite(self.tenant_id, code)
        return super().delete(*args, **kwargs)


class TenantParameter(TenantScopedModel):
    """A per-tenant parameter value effective from a date (発行者職名・氏名, 庁舎名, 手数料…).

    Never updated: a new value is a new row with its own effective date; the value in force on
    a date is the row with the latest ``effective_from`` not after it (ties: latest recorded).
    """

    pk = models.CompositePrimaryKey("tenant", "key", "effective_from", "version")
    key = models.CharField("パラメータ名", max_length=80)
    effective_from = models.DateField("適用開始日")
    version = models.PositiveIntegerField("版", default=1)
    value = models.JSONField("値")
    recorded_at = models.DateTimeField("記録日時", auto_now_add=True)
    recorded_by = models.CharField("記録者", max_length=150, blank=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "団体パラメータ"
        indexes = [models.Index(fields=["tenant", "key", "-effective_from"], name="tenantparam_lookup")]
