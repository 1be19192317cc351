"""Forms of the counter screens: field checks with Japanese messages next to the field.

Item values (names, dates of birth, 続柄 …) are parsed by the registry itself
(``residents.services.propose``); its findings name the item, and the screen shows each one next
to the field of that name. The forms only check what the screen needs before asking.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from moyai.platform.codes.tables import code_table
from moyai.platform.codes.wareki import JpDateError, parse_jp_date
from moyai.residents.domain.model import PersonState

REQUIRED = "{label}を入力してください"


class JpDateField(forms.CharField):
    """An exact calendar date typed in 和暦 or 西暦 (令和8年4月1日, R8.4.1, 2026-04-01 …)."""

    def __init__(self, *, future: bool = False, **kwargs: Any) -> None:
        self.future = future
        kwargs.setdefault("max_length", 30)
        kwargs.setdefault("widget", forms.TextInput(attrs={"autocomplete": "off", "placeholder": "例: 令和8年4月1日"}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> dt.date | None:  # type: ignore[override]
        text = super().clean(value)
        if not text:
            return None
        try:
            d = parse_jp_date(text).to_date()
        except JpDateError as exc:
            raise forms.ValidationError(exc.message) from None
        if d is None:
            raise forms.ValidationError("年月日をすべて入力してください")
        if not self.future and d > timezone.localdate():
            raise forms.ValidationError(f"{self.label}に未来の日付は入力できません")
        return d


def _japanese_required(form: forms.Form) -> None:
    for name, field in form.fields.items():
        field.error_messages["required"] = REQUIRED.format(label=field.label or name)
        if isinstance(field, forms.MultipleChoiceField):
            field.error_messages["required"] = f"{field.label}を1つ以上選んでください"


class JapaneseForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _japanese_required(self)

    def choose(self, name: str, options: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = options


class SearchForm(JapaneseForm):
    name = forms.CharField(label="氏名・フリガナ", required=False, max_length=60,
                           help_text="前方一致。ひらがな・カタカナ、全角・半角、旧字を区別しません")
    birth = forms.CharField(label="生年月日", required=False, max_length=30, help_text="例: 平成2年、H2.3.4、1990/3/4")
    address = forms.CharField(label="住所", required=False, max_length=100, help_text="町名からでも検索できます")
    atena_no = forms.CharField(label="宛名番号", required=False, max_length=20)
    include_removed = forms.BooleanField(label="除票も含める", required=False)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


def sex_choices() -> list[tuple[str, str]]:
    table = code_table("sex")
    return [("", "選択してください"), *[(c, table.label(c)) for c in ("1", "2") if table.has(c)]]


class MoveBase(JapaneseForm):
    effective_date = JpDateField(label="異動日")
    notified_date = JpDateField(label="届出日", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        eff, notified = data.get("effective_date"), data.get("notified_date")
        if eff and notified and notified < eff:
            self.add_error("notified_date", "届出日が異動日より前です")
        return data


def member_choices(members: list[PersonState]) -> list[tuple[str, str]]:
    return [(m.atena_no, f"{m.display_name}（{m.relationship or '続柄なし'}）") for m in members]


class SubjectsMixin(forms.Form):
    subjects = forms.MultipleChoiceField(label="異動する人", widget=forms.CheckboxSelectMultiple)


class PersonFields(JapaneseForm):
    family_name = forms.CharField(label="氏", max_length=40)
    given_name = forms.CharField(label="名", max_length=40)
    family_kana = forms.CharField(label="氏フリガナ", max_length=60)
    given_kana = forms.CharField(label="名フリガナ", max_length=60)
    sex = forms.ChoiceField(label="性別", choices=sex_choices)
    relationship = forms.CharField(label="続柄", max_length=40)


class MoveInForm(MoveBase, PersonFields):
    birth_date = forms.CharField(label="生年月日", max_length=30, help_text="和暦または西暦。不詳の場合は「昭和20年月日不詳」など")
    address = forms.CharField(label="住所", max_length=120)
    katagaki = forms.CharField(label="方書", required=False, max_length=80)
    postal_code = forms.CharField(label="郵便番号", required=False, max_length=8)
    previous_address = forms.CharField(label="前住所", max_length=120)
    household_no = forms.CharField(label="世帯番号", required=False, max_length=12,
                                   help_text="既存の世帯に入る場合のみ。空欄なら新しい世帯になります")
    individual_number = forms.CharField(label="個人番号", required=False, max_length=14)
    field_order = ["effective_date", "notified_date", "family_name", "given_name", "family_kana", "given_kana",
                   "birth_date", "sex", "relationship", "address", "katagaki", "postal_code", "previous_address",
                   "household_no", "individual_number"]


class BirthForm(MoveBase, PersonFields):
    field_order = ["effective_date", "notified_date", "family_name", "given_name", "family_kana", "given_kana",
                   "sex", "relationship"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["effective_date"].label = "出生日"


class MoveWithinForm(MoveBase, SubjectsMixin):
    address = forms.CharField(label="新しい住所", max_length=120)
    katagaki = forms.CharField(label="方書", required=False, max_length=80)
    postal_code = forms.CharField(label="郵便番号", required=False, max_length=8)


class MoveOutForm(MoveBase, SubjectsMixin):
    planned = forms.BooleanField(label="転出予定として登録する（異動日が未来の予定日の場合）", required=False)
    next_address = forms.CharField(label="転出先住所", max_length=120)
    next_postal_code = forms.CharField(label="転出先郵便番号", required=False, max_length=8)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["effective_date"] = JpDateField(label="異動日（転出日・転出予定日）", future=True)
        _japanese_required(self)


class DeathForm(MoveBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["effective_date"].label = "死亡日"


HOUSEHOLD_KINDS = [("head_change", "世帯主変更"), ("household_split", "世帯分離"), ("household_merge", "世帯合併")]


class HouseholdChangeForm(MoveBase, SubjectsMixin):
    """世帯変更: 世帯主変更 (new 続柄 for each member), 世帯分離 (to a new 世帯), 世帯合併 (into another)."""

    kind = forms.ChoiceField(label="変更の種類", choices=HOUSEHOLD_KINDS, widget=forms.RadioSelect)
    target_household = forms.CharField(label="合併先の世帯番号", required=False, max_length=12,
                                       help_text="世帯合併の場合のみ")
    field_order = ["kind", "effective_date", "notified_date", "subjects", "target_household"]

    def __init__(self, *args: Any, members: list[PersonState], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members = members
        self.choose("subjects", member_choices(members))
        self.fields["subjects"].label = "変更する人"
        for m in members:
            self.fields[f"rel_{m.atena_no}"] = forms.CharField(
                label=f"{m.display_name}の新しい続柄", required=False, max_length=40, initial=m.relationship or "")
        _japanese_required(self)

    def relationship_fields(self) -> list[forms.BoundField]:
        return [self[f"rel_{m.atena_no}"] for m in self.members]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") == "household_merge" and not (data.get("target_household") or "").strip():
            self.add_error("target_household", "世帯合併では合併先の世帯番号を入力してください")
        for a in data.get("subjects") or []:
            if not (data.get(f"rel_{a}") or "").strip():
                self.add_error(f"rel_{a}", "新しい続柄を入力してください")
        return data


class ConfirmForm(JapaneseForm):
    confirm_alerts = forms.BooleanField(label="アラートの内容を確認しました", required=False)


class CertificateForm(JapaneseForm):
    kind = forms.ChoiceField(label="証明書の種類", widget=forms.RadioSelect)
    form = forms.ChoiceField(label="様式", widget=forms.RadioSelect)
    members = forms.MultipleChoiceField(label="記載する人（世帯連記式）", required=False,
                                        widget=forms.CheckboxSelectMultiple)
    requester = forms.ChoiceField(label="請求者の区分")
    requested_by = forms.ChoiceField(label="請求者（世帯員の場合）", required=False,
                                     help_text="本人・同一世帯の者の請求では、窓口に来た人を選んでください（支援措置の確認に使います）")
    requester_name = forms.CharField(label="請求者の氏名・名称", required=False, max_length=100,
                                     help_text="交付履歴に記録します（証明書には印字しません）")
    items = forms.MultipleChoiceField(label="記載を希望する事項（省略可能事項）", required=False,
                                      widget=forms.CheckboxSelectMultiple)
    basic_items = forms.MultipleChoiceField(label="証明する事項（記載事項証明書の場合）", required=False,
                                            widget=forms.CheckboxSelectMultiple)
    fee_exempt = forms.BooleanField(label="手数料を免除する（公用請求など）", required=False)
    purpose = forms.CharField(label="請求の目的", required=False, max_length=100,
                              help_text="省略可能事項を記載する場合は必須です")
    as_of = JpDateField(label="基準日", required=False, help_text="空欄なら本日現在")

    def __init__(self, *args: Any, choices: dict[str, list[tuple[str, str]]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, options in choices.items():
            self.choose(name, options)
        _japanese_required(self)
