"""Stored projection of the export: each person's rows of the 住民 file, encoded (ADR 0005).

:class:`PersonLines` — one row per person (宛名番号) of a 団体: the text of that person's history
rows of ``JYUKI_KOJIN.csv`` (UTF-8, CRLF after each row, 支援措置対象フラグ empty), what they were
computed from (how many 異動 and the last one's id, so staleness is found in SQL) and the few
items of the final record the 世帯 file needs.  Rebuilt from the 異動 at any time
(:mod:`moyai.portability.lines`); an export recomputes whatever is missing or stale.
"""

from __future__ import annotations

from django.db import models

from moyai.platform.tenancy.models import Tenant, TenantScopedModel


class PersonLines(TenantScopedModel):
    """Projection: one person's rows of the 住民 file as text, and the record the 世帯 file needs."""

    pk = models.CompositePrimaryKey("tenant", "atena_no")
    # no index on tenant_code alone (the primary key leads with it), as in the residents tables
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, db_column="tenant_code", related_name="+", verbose_name="団体", db_index=False
    )
    atena_no = models.CharField("宛名番号", max_length=16)
    lines = models.TextField("住民ファイルの行")  # CSV rows, each ending in CRLF; 支援措置対象フラグ empty
    rows = models.IntegerField("行数")
    event_count = models.IntegerField("異動の数")  # computed from this many 異動 …
    last_event_id = models.BigIntegerField("最後の異動")  # … the latest id among them
    version = models.CharField("書式の版", max_length=32, default="")  # … by this layout and code (lines.VERSION)
    # the record with every 異動 applied (世帯 file; "" when the 異動 give no record)
    status = models.CharField("住民状態", max_length=10, blank=True)
    household_no = models.CharField("世帯番号", max_length=16, blank=True)
    order_in_household = models.IntegerField("世帯内順位", null=True)
    head = models.BooleanField("世帯主", default=False)
    postal_code = models.TextField("郵便番号", null=True)
    address = models.TextField("住所", null=True)
    katagaki = models.TextField("方書", null=True)
    address_code = models.TextField("住所コード", null=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "住民ファイルの行"
