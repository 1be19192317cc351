"""Staff memberships of 団体 with roles, and API tokens for systems."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from moyai.platform.tenancy.models import Tenant


class Membership(models.Model):
    """A staff member's role in one 団体 (a person may hold several roles in several 団体)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_column="tenant_code", related_name="+")
    role = models.CharField("役割", max_length=20)
    granted_at = models.DateTimeField(auto_now_add=True)
    granted_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "所属・役割"
        constraints = [models.UniqueConstraint(fields=["tenant", "user", "role"], name="membership_unique")]
        indexes = [models.Index(fields=["user", "tenant"], name="membership_user")]


class ApiToken(models.Model):
    """A bearer token for a system, scoped to one 団体 and one role. Only a hash is stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_column="tenant_code", related_name="+")
    name = models.CharField("名称", max_length=100)
    role = models.CharField("役割", max_length=20)
    prefix = models.CharField(max_length=12, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "APIトークン"
