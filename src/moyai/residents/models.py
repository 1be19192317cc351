"""住民記録 persistence: the append-only 異動 store, and projections rebuilt from it.

- :class:`Event` — the source of truth (異動), never updated or deleted.
- :class:`Resident`, :class:`SearchKey`, :class:`Household` — projections for search and lists,
  rebuilt by the domain's replay; they can be dropped and rebuilt at any time.
- :class:`ChangeRequest` — the 仮登録 workflow (draft → 本登録, 審査 for 職権 changes).
- :class:`NumberSequence`, :class:`ResidentCodePool` — numbering (宛名番号, 世帯番号, 住民票コード).

Every table is tenant-owned (keys lead with ``tenant_code``).
"""

from __future__ import annotations

from django.db import models

from moyai.platform.ids import new_id
from moyai.platform.tenancy.models import Tenant, TenantScopedModel


def _tenant() -> models.ForeignKey[Tenant, Tenant]:
    """The 団体 of a row, as :class:`TenantScopedModel` has it but without an index of its own.

    Every key of these tables leads with ``tenant_code``, so the primary key's index serves any
    lookup by the 団体 alone (and the check when a 団体 is deleted); the index Django adds to a
    foreign key (and on PostgreSQL its ``varchar_pattern_ops`` twin ``…_like``) only cost two more
    index entries per row written: two of the five index entries of each search key of a bulk load.
    """
    return models.ForeignKey(
        Tenant, on_delete=models.PROTECT, db_column="tenant_code", related_name="+", verbose_name="団体", db_index=False
    )


class Event(TenantScopedModel):
    """異動: one appended change of one resident's record."""

    pk = models.CompositePrimaryKey("tenant", "event_id")
    tenant = _tenant()
    event_id = models.BigIntegerField(default=new_id)
    atena_no = models.CharField("宛名番号", max_length=16)
    kind = models.CharField("異動の種類", max_length=30)
    reason_code = models.CharField("異動事由コード", max_length=8)
    effective_date = models.DateField("異動日")
    notified_date = models.DateField("届出日", null=True)
    recorded_at = models.DateTimeField("記録日時")
    staff = models.CharField("入力者", max_length=160)
    changes = models.JSONField("変更内容", default=dict)
    household_no = models.CharField("世帯番号（異動後）", max_length=16, blank=True)
    group_id = models.BigIntegerField("届出単位")
    cancels = models.BigIntegerField("取り消す異動", null=True)
    request_id = models.CharField("要求ID", max_length=64, blank=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "異動"
        indexes = [
            models.Index(fields=["tenant", "atena_no", "effective_date"], name="event_person"),
            models.Index(fields=["tenant", "household_no"], name="event_household"),
            models.Index(fields=["tenant", "recorded_at"], name="event_recorded"),
            models.Index(fields=["tenant", "group_id"], name="event_group"),
        ]


class Resident(TenantScopedModel):
    """Projection: each resident's record as of today, as currently recorded (住民 and 除票)."""

    pk = models.CompositePrimaryKey("tenant", "atena_no")
    tenant = _tenant()
    atena_no = models.CharField("宛名番号", max_length=16)
    household_no = models.CharField("世帯番号", max_length=16, blank=True)
    status = models.CharField("住民状態", max_length=10)
    resident_kind = models.CharField("住民種別", max_length=10)
    display_name = models.CharField("氏名", max_length=200)
    display_kana = models.CharField("フリガナ", max_length=200, blank=True)
    birth_sort = models.CharField("生年月日（整列用）", max_length=10, blank=True)
    sex = models.CharField("性別", max_length=2, blank=True)
    relationship = models.CharField("続柄", max_length=40, blank=True)
    order_in_household = models.IntegerField(null=True)
    address = models.CharField("住所", max_length=300, blank=True)
    katagaki = models.CharField("方書", max_length=200, blank=True)
    postal_code = models.CharField("郵便番号", max_length=8, blank=True)
    individual_number = models.CharField("個人番号", max_length=12, blank=True)
    resident_code = models.CharField("住民票コード", max_length=11, blank=True)
    removed_on = models.DateField("消除日", null=True)
    pending_from = models.DateField("未反映の異動日", null=True)
    state = models.JSONField("全項目")
    version = models.BigIntegerField("最新の異動")

    class Meta(TenantScopedModel.Meta):
        verbose_name = "住民"
        indexes = [
            models.Index(fields=["tenant", "household_no"], name="resident_household"),
            models.Index(fields=["tenant", "status", "display_kana", "atena_no"], name="resident_order"),
            models.Index(fields=["tenant", "birth_sort", "atena_no"], name="resident_birth"),
            models.Index(fields=["tenant", "individual_number"], name="resident_number"),
            models.Index(fields=["tenant", "resident_code"], name="resident_code"),
            models.Index(fields=["tenant", "pending_from"], name="resident_pending"),
        ]


class SearchKey(TenantScopedModel):
    """Projection: normalised search keys, including past names and addresses (検索).

    kind: name (氏名), kana (フリガナ), given_kana (名フリガナのみ), address (住所).
    """

    pk = models.CompositePrimaryKey("tenant", "kind", "key", "atena_no")
    tenant = _tenant()
    kind = models.CharField(max_length=20)
    key = models.CharField(max_length=300)
    atena_no = models.CharField("宛名番号", max_length=16)
    current = models.BooleanField("現在の値", default=True)
    sort_kana = models.CharField("並び順（フリガナ）", max_length=200, blank=True, default="")
    resident = models.BooleanField("住民（消除されていない）", default=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "検索キー"
        # a person's keys of one kind (the given-name condition of a search is a semi-join on it):
        # with the keys written in key order a person's rows are on ~9 heap pages, not one
        indexes = [models.Index(fields=["tenant", "atena_no", "kind"], name="searchkey_person_kind")]


class Household(TenantScopedModel):
    """世帯: a household number and when it was opened. Members are derived from the records."""

    pk = models.CompositePrimaryKey("tenant", "household_no")
    tenant = _tenant()
    household_no = models.CharField("世帯番号", max_length=16)
    created_on = models.DateField("設定日")

    class Meta(TenantScopedModel.Meta):
        verbose_name = "世帯"


class ChangeRequest(TenantScopedModel):
    """仮登録: a proposed 異動 (one 届出 or 職権 decision, one or more residents).

    status: draft 仮登録 → registered 本登録; for kinds that need 審査:
    draft → awaiting_approval 審査待ち → registered (approved) / rejected 却下; any open request
    may be withdrawn 取下げ. Nothing in it is visible to certificates or linkage until 本登録.
    """

    pk = models.CompositePrimaryKey("tenant", "id")
    tenant = _tenant()
    id = models.BigIntegerField(default=new_id)
    kind = models.CharField("異動の種類", max_length=30)
    status = models.CharField("状態", max_length=20, default="draft")
    effective_date = models.DateField("異動日")
    notified_date = models.DateField("届出日", null=True)
    moves = models.JSONField("異動内容")
    findings = models.JSONField("エラー・アラート", default=list)
    created_by = models.CharField("入力者", max_length=160)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.CharField("審査者", max_length=160, blank=True)
    decided_at = models.DateTimeField(null=True)
    decision_note = models.CharField("審査メモ", max_length=400, blank=True)
    group_id = models.BigIntegerField("登録した届出単位", null=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "仮登録"
        indexes = [models.Index(fields=["tenant", "status", "created_at"], name="changerequest_status")]


class NumberSequence(TenantScopedModel):
    """Per-tenant counters for 宛名番号 and 世帯番号 (the check digit is added on issue)."""

    pk = models.CompositePrimaryKey("tenant", "name")
    tenant = _tenant()
    name = models.CharField(max_length=20)
    next_value = models.BigIntegerField(default=1)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "採番"


class ResidentCodePool(TenantScopedModel):
    """住民票コード supplied by the national network (CS), drawn at random when a record is made."""

    pk = models.CompositePrimaryKey("tenant", "code")
    tenant = _tenant()
    code = models.CharField("住民票コード", max_length=11)
    assigned_to = models.CharField("宛名番号", max_length=16, blank=True)
    assigned_at = models.DateTimeField(null=True)
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "住民票コード在庫"
        indexes = [models.Index(fields=["tenant", "assigned_to", "code"], name="codepool_free")]


class SearchHistory(TenantScopedModel):
    """検索履歴: the last search conditions of each staff member (標準仕様書 2.1.1), to re-run them."""

    pk = models.CompositePrimaryKey("tenant", "actor", "id")
    tenant = _tenant()
    actor = models.CharField("職員", max_length=160)
    id = models.BigIntegerField(default=new_id)
    at = models.DateTimeField(auto_now_add=True)
    query = models.JSONField("検索条件")

    class Meta(TenantScopedModel.Meta):
        verbose_name = "検索履歴"


class Suppression(TenantScopedModel):
    """抑止 (標準仕様書 3.1): one process (異動, 発行, 照会) stopped (エラー) or warned (アラート) for a
    person or a 世帯, from a start date until released (本解除).

    The end date passing does not end it. A 一時解除 is a window ``temp_from``–``temp_until``:
    once it has passed the 抑止 applies again, without any job.
    """

    pk = models.CompositePrimaryKey("tenant", "id")
    tenant = _tenant()
    id = models.BigIntegerField(default=new_id)
    target_kind = models.CharField("対象の単位", max_length=10)  # person 個人 / household 世帯
    target = models.CharField("宛名番号又は世帯番号", max_length=16)
    process = models.CharField("抑止する処理", max_length=10)  # move / issuance / inquiry
    level = models.CharField("抑止レベル", max_length=10)  # error / alert
    reason = models.CharField("抑止事由", max_length=20)
    note = models.CharField("備考", max_length=400, blank=True)
    start_date = models.DateField("開始日")
    end_date = models.DateField("終了日", null=True)
    created_by = models.CharField("設定者", max_length=160)
    created_at = models.DateTimeField("設定日時")
    released_at = models.DateTimeField("解除日時", null=True)
    released_by = models.CharField("解除者", max_length=160, blank=True)
    release_note = models.CharField("解除理由", max_length=400, blank=True)
    temp_from = models.DateTimeField("一時解除の開始", null=True)
    temp_until = models.DateTimeField("一時解除の終了", null=True)
    temp_by = models.CharField("一時解除者", max_length=160, blank=True)
    temp_reason = models.CharField("一時解除の理由", max_length=400, blank=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "抑止"
        indexes = [models.Index(fields=["tenant", "target", "process"], name="suppression_target")]


class SupportMeasure(TenantScopedModel):
    """支援措置 (DV・ストーカー・児童虐待等の被害者の支援, 標準仕様書 3.4, 1.1.16).

    status: provisional 仮支援措置 (from the 申出, until the need is confirmed) → active 支援措置
    (one-year periods, renewed from one month before the end) → ended 終了. ``periods`` keeps
    every past period. The persons protected are in :class:`SupportMeasurePerson`.
    """

    pk = models.CompositePrimaryKey("tenant", "id")
    tenant = _tenant()
    id = models.BigIntegerField(default=new_id)
    applicant = models.CharField("申出者の宛名番号", max_length=16)
    status = models.CharField("状態", max_length=12)
    received_on = models.DateField("申出の受付日")
    provisional_from = models.DateField("仮支援措置の開始年月日", null=True)
    start_date = models.DateField("支援措置の開始年月日", null=True)
    end_date = models.DateField("支援措置の終了年月日", null=True)
    periods = models.JSONField("これまでの期間", default=list)
    affairs = models.JSONField("支援を求められている事務", default=list)
    offender_name = models.CharField("加害者の氏名", max_length=200, blank=True)
    offender_atena_no = models.CharField("加害者の宛名番号", max_length=16, blank=True)
    note = models.CharField("備考", max_length=1000, blank=True)
    ended_on = models.DateField("終了日", null=True)
    end_reason = models.CharField("終了理由", max_length=400, blank=True)
    created_by = models.CharField("登録者", max_length=160)
    created_at = models.DateTimeField("登録日時")
    updated_by = models.CharField("更新者", max_length=160, blank=True)
    temp_from = models.DateTimeField("一時解除の開始", null=True)
    temp_until = models.DateTimeField("一時解除の終了", null=True)
    temp_by = models.CharField("一時解除者", max_length=160, blank=True)
    temp_reason = models.CharField("一時解除の理由", max_length=400, blank=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "支援措置"
        indexes = [models.Index(fields=["tenant", "status", "end_date"], name="supportmeasure_status")]


class SupportMeasurePerson(TenantScopedModel):
    """A person protected by a 支援措置: the applicant (申出者) or 併せて支援を求める者."""

    pk = models.CompositePrimaryKey("tenant", "measure_id", "atena_no")
    tenant = _tenant()
    measure_id = models.BigIntegerField("支援措置")
    atena_no = models.CharField("宛名番号", max_length=16)
    role = models.CharField("区分", max_length=12)  # applicant / accompanying
    relationship = models.CharField("申出者との関係", max_length=40, blank=True)

    class Meta(TenantScopedModel.Meta):
        verbose_name = "支援対象者"
        indexes = [models.Index(fields=["tenant", "atena_no"], name="supportperson_atena")]
