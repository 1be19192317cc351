"""エラー・アラート rules for 異動 (標準仕様書 11.1), levels and messages from ``rules.yaml``.

The predicate of each rule is code (below); whether it is an エラー or an アラート, which kinds it
checks and its Japanese message are data. The service gathers a :class:`RuleContext` (the
records as they stand on the 異動日, and after the change) and calls :func:`check`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from moyai.platform.codes.checkdigits import check_individual_number, check_mod11
from moyai.platform.codes.datafiles import load
from moyai.platform.codes.tables import code_table, validate_relationship
from moyai.platform.codes.wareki import JpDate, JpDateError, parse_jp_date

from .model import SETTABLE_ITEMS, Effect, PersonState, kind_spec


class Level(StrEnum):
    ERROR = "error"  # エラー: cannot be registered
    ALERT = "alert"  # アラート: may be registered once confirmed


@dataclass(frozen=True)
class RuleSpec:
    id: str
    level: Level
    kinds: frozenset[str]
    message: str

    def applies_to(self, kind: str) -> bool:
        return "*" in self.kinds or kind in self.kinds


@functools.cache
def rule_specs() -> dict[str, RuleSpec]:
    return {
        e["id"]: RuleSpec(e["id"], Level(e["level"]), frozenset(e["kinds"]), e["message"])
        for e in load("moyai.residents", "rules").entries
    }


@dataclass(frozen=True)
class Finding:
    rule: str
    level: Level
    message: str
    atena_no: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "level": self.level.value, "message": self.message,
                "atena_no": self.atena_no, "field": self.field}


@dataclass(frozen=True)
class ProposedMove:
    """One resident's part of a 届出 or 職権 decision, before it is recorded."""

    kind: str
    atena_no: str
    effective_date: dt.date
    notified_date: dt.date | None
    changes: Mapping[str, Any]
    cancels: int | None = None


@dataclass
class RuleContext:
    """What the rules need to know, gathered by the service in one pass."""

    today: dt.date
    before: Mapping[str, PersonState | None]  # each subject as of its 異動日, before the change
    after: Mapping[str, PersonState | None]  # each subject right after the change
    exists_since: Mapping[str, dt.date | None]  # first 記載 date of each existing subject
    households_after: Mapping[str, list[PersonState]]  # members (residents) of each touched household
    households_before: Mapping[str, list[PersonState]] = field(default_factory=dict)
    number_holders: Mapping[str, list[tuple[str, str]]] = field(default_factory=dict)  # 個人番号 → [(宛名番号, status)]
    cancel_target_ok: bool = True
    names: Mapping[str, str] = field(default_factory=dict)  # 氏名 of each existing subject, for messages


def _fmt_date(d: dt.date) -> str:
    from moyai.platform.codes.wareki import format_wareki

    return format_wareki(d)


class _Collector:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.findings: list[Finding] = []

    def add(self, rule: str, atena_no: str | None = None, field_name: str | None = None, **kw: Any) -> None:
        spec = rule_specs()[rule]
        if not spec.applies_to(self.kind):
            return
        values = {"name": "", "date": "", "value": "", "days": ""} | {k: str(v) for k, v in kw.items()}
        self.findings.append(Finding(rule, spec.level, spec.message.format(**values), atena_no, field_name))


# ---------------------------------------------------------------- item validation

_KATAKANA = re.compile(r"^[ァ-ヶー・　 ]*$")
_POSTAL = re.compile(r"^\d{3}-?\d{4}$")
_DIGITS = re.compile(r"^\d+$")

ITEM_LABELS: dict[str, str] = {
    "family_name": "氏", "given_name": "名", "family_kana": "氏フリガナ", "given_kana": "名フリガナ",
    "birth_date": "生年月日", "sex": "性別", "relationship": "続柄", "address": "住所",
    "postal_code": "郵便番号", "individual_number": "個人番号", "resident_code": "住民票コード",
    "household_no": "世帯番号", "became_resident_on": "住民となった年月日", "address_set_on": "住所を定めた年月日",
    "death_date": "死亡日", "residence_status": "在留資格", "stay_expiry": "在留期間の満了の日",
    "nationality": "国籍・地域", "name_alpha": "アルファベット氏名", "previous_address": "前住所",
    "resident_kind": "住民種別", "katagaki": "方書", "honseki": "本籍", "hittousha": "筆頭者",
    "foreign_category": "外国人住民の区分", "residence_card_no": "在留カード等の番号",
}

FUZZY_DATE_ITEMS = frozenset({"birth_date", "became_resident_on", "address_set_on", "death_date"})


def label(item: str) -> str:
    return ITEM_LABELS.get(item, item)


def normalise_changes(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Parse and validate item values; returns (normalised changes, [(item, Japanese reason)]).

    Dates that the standard allows to be 不詳 or non-calendar are parsed with those forms allowed
    and kept as entered (JpDate JSON); full-width digits are accepted for numbers.
    """
    out: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for item, raw in changes.items():
        if item not in SETTABLE_ITEMS:
            problems.append((item, f"項目 {item} は住民記録の項目ではありません"))
            continue
        value = raw
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                value = None
        if value is None:
            out[item] = None
            continue
        try:
            out[item] = _normalise_item(item, value)
        except ValueError as exc:
            problems.append((item, str(exc)))
    return out, problems


def _digits(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value)).replace("-", "").replace(" ", "")


def _normalise_item(item: str, value: Any) -> Any:
    if item in FUZZY_DATE_ITEMS:
        if isinstance(value, Mapping):
            return dict(JpDate.from_json(dict(value)).to_json())
        try:
            return dict(parse_jp_date(str(value), allow_fuzzy=True, allow_non_calendar=True).to_json())
        except JpDateError as exc:
            raise ValueError(exc.message) from None
    if item == "individual_number":
        v = _digits(value)
        reason = check_individual_number(v)
        if reason:
            raise ValueError(reason)
        return v
    if item == "resident_code":
        v = _digits(value)
        if not re.fullmatch(r"\d{11}", v):
            raise ValueError("住民票コードは11桁の数字です")
        return v
    if item == "household_no":
        v = _digits(value)
        reason = check_mod11(v, "世帯番号")
        if reason:
            raise ValueError(reason)
        return v
    if item == "relationship":
        v = unicodedata.normalize("NFKC", str(value)).replace("(", "（").replace(")", "）").strip()
        reason = validate_relationship(v)
        if reason:
            raise ValueError(reason)
        return v
    if item == "sex":
        v = _digits(value)
        if not code_table("sex").has(v):
            raise ValueError(f"性別コード {v} は性別コード表にありません")
        return v
    if item in ("family_kana", "given_kana", "alias_kana", "former_surname_kana"):
        import jaconv  # type: ignore[import-untyped]

        v = jaconv.hira2kata(unicodedata.normalize("NFKC", str(value))).strip()
        if not _KATAKANA.match(v):
            raise ValueError("フリガナはカタカナで入力してください")
        return v
    if item in ("postal_code", "next_postal_code"):
        v = unicodedata.normalize("NFKC", str(value))
        if not _POSTAL.match(v):
            raise ValueError("郵便番号は7桁の数字です（例: 745-0045）")
        return v.replace("-", "")
    if item == "foreign_category":
        table = code_table("foreign_resident_category")
        v = unicodedata.normalize("NFKC", str(value)).strip()
        if table.has(v):
            return v
        entry = table.find(v)
        if entry is None:
            raise ValueError(f"外国人住民の区分 {v} は区分コード表にありません")
        return entry.code
    if item == "residence_status":
        table = code_table("residence_status")
        v = str(value)
        if table.has(v):
            return v
        entry = table.find(v)
        if entry is None:
            raise ValueError(f"在留資格 {v} は在留資格コード表にありません")
        return entry.code
    if item == "stay_expiry" or item == "foreign_resident_since":
        try:
            return dt.date.fromisoformat(unicodedata.normalize("NFKC", str(value))).isoformat()
        except ValueError:
            try:
                d = parse_jp_date(str(value)).to_date()
            except JpDateError as exc:
                raise ValueError(exc.message) from None
            if d is None:
                raise ValueError("日付を年月日まで入力してください") from None
            return d.isoformat()
    if item == "resident_kind":
        if value not in ("japanese", "foreign"):
            raise ValueError("住民種別は japanese（日本人住民）か foreign（外国人住民）です")
        return value
    if item == "order_in_household":
        return int(value)
    if item == "kana_confirmed":
        return bool(value)
    return unicodedata.normalize("NFC", str(value)) if isinstance(value, str) else value


# ---------------------------------------------------------------- the rules


def _sort_key(jp: Mapping[str, Any]) -> str:
    return f"{jp.get('year') or 0:04d}-{jp.get('month') or 0:02d}-{jp.get('day') or 0:02d}"


@functools.cache
def _mid_long_term() -> str:
    """Code of 中長期在留者 in the 外国人住民の区分 table."""
    entry = code_table("foreign_resident_category").find("中長期在留者")
    return entry.code if entry else "中長期在留者"

REQUIRED_ON_CREATE = ("family_name", "birth_date", "sex", "address", "household_no", "relationship")


def check(moves: Iterable[ProposedMove], ctx: RuleContext) -> list[Finding]:
    """All findings for a group of moves (one 届出); errors block 本登録, alerts need a confirmation."""
    findings: list[Finding] = []
    moves = list(moves)
    touched_households: set[str] = set()
    for mv in moves:
        spec = kind_spec(mv.kind)
        c = _Collector(mv.kind)
        before = ctx.before.get(mv.atena_no)
        name = before.display_name if before else ctx.names.get(mv.atena_no) or mv.atena_no
        date_text = _fmt_date(mv.effective_date)

        for item in mv.changes:
            if item in SETTABLE_ITEMS and not spec.allows(item):
                c.add("item_not_allowed", mv.atena_no, item, name=label(item), value=spec.label)

        if mv.effective_date > ctx.today and not spec.future_allowed:
            if mv.kind == "birth":
                c.add("birth_in_future", mv.atena_no, "effective_date", date=date_text)
            else:
                c.add("future_date", mv.atena_no, "effective_date", date=date_text)
        if mv.notified_date is not None:
            if mv.notified_date > ctx.today:
                c.add("notified_in_future", mv.atena_no, "notified_date", value=_fmt_date(mv.notified_date))
            elif mv.notified_date < mv.effective_date:
                c.add("notified_before_effective", mv.atena_no, "notified_date",
                      value=_fmt_date(mv.notified_date), date=date_text)
            elif (mv.notified_date - mv.effective_date).days > 14:
                c.add("late_notification", mv.atena_no, "notified_date", days=(mv.notified_date - mv.effective_date).days)

        after = ctx.after.get(mv.atena_no)
        birth = (after.birth_date if after is not None else None) or {}
        if "birth_date" in mv.changes or spec.effect == Effect.CREATE:
            future_birth = mv.kind == "birth" and mv.effective_date > ctx.today  # reported as 出生日 below
            if birth.get("year") and _sort_key(birth) > ctx.today.isoformat() and not future_birth:
                c.add("birth_date_in_future", mv.atena_no, "birth_date", date=JpDate.from_json(birth).wareki_text())

        if spec.effect == Effect.CREATE:
            if before is None or before.status != "resident":
                for item in REQUIRED_ON_CREATE:
                    if after is None or getattr(after, item) in (None, ""):
                        if item == "family_name" and after is not None and after.name_alpha:
                            continue
                        c.add("required_item", mv.atena_no, item, name=label(item))
            if after is not None and after.resident_kind == "foreign" and after.foreign_category == _mid_long_term():
                indefinite = after.period_of_stay == "無期限"  # 永住者: no 満了日
                if not (after.residence_status and after.residence_card_no and (after.stay_expiry or indefinite)):
                    c.add("foreign_without_status", mv.atena_no, "residence_status")
        else:
            since = ctx.exists_since.get(mv.atena_no)
            if since is None and mv.kind != "cancellation":
                c.add("unknown_resident", mv.atena_no, "atena_no", value=mv.atena_no)
            elif since is not None and mv.effective_date < since and mv.kind != "cancellation":
                c.add("before_existence", mv.atena_no, "effective_date", date=date_text, name=name,
                      value=_fmt_date(since))
            elif before is not None:
                if spec.effect == Effect.RESTORE:
                    if before.is_resident:
                        c.add("not_removed", mv.atena_no, name=name)
                elif before.status == "removed" and spec.effect == Effect.REMOVE:
                    c.add("already_removed", mv.atena_no, name=name)
                elif not before.is_resident and mv.kind != "cancellation":
                    c.add("not_resident_on_date", mv.atena_no, "effective_date", name=name, date=date_text)
            elif since is not None and mv.kind != "cancellation":
                c.add("not_resident_on_date", mv.atena_no, "effective_date", name=name, date=date_text)

        if mv.kind == "cancellation" and not ctx.cancel_target_ok:
            c.add("cancel_target_missing", mv.atena_no, "cancels", value=mv.cancels or "")

        after = ctx.after.get(mv.atena_no)
        number = mv.changes.get("individual_number")
        if number:
            for holder, status in ctx.number_holders.get(number, []):
                if holder == mv.atena_no:
                    continue
                if status == "resident":
                    c.add("duplicate_individual_number", mv.atena_no, "individual_number", value=number, name=holder)
                else:
                    c.add("returning_resident", mv.atena_no, "individual_number", value=number, name=holder)
        if after is not None and after.resident_kind == "foreign" and after.stay_expiry:
            if after.stay_expiry < mv.effective_date.isoformat():
                c.add("stay_expired", mv.atena_no, "stay_expiry", value=after.stay_expiry)

        for st in (before, after):
            if st is not None and st.household_no:
                touched_households.add(st.household_no)
        findings.extend(c.findings)

    # Household rules, once per touched household, judged on the state after the whole group.
    kinds_in_group = {m.kind for m in moves}
    group_kind = moves[0].kind if moves else "*"
    for hh in sorted(touched_households):
        members = ctx.households_after.get(hh, [])
        heads = [m for m in members if m.relationship == "世帯主"]
        c = _Collector(group_kind)
        if len(heads) > 1:
            c.add("two_heads", None, "relationship", value=hh)
        elif members and not heads:
            had_head = any(m.relationship == "世帯主" for m in ctx.households_before.get(hh, []))
            head_removed = had_head and kinds_in_group & {"move_out_planned", "move_out", "death", "ex_officio_removal"}
            if head_removed:
                c.add("head_left_household", None, "relationship", value=hh)
            else:
                c.add("household_without_head", None, "relationship", value=hh)
        findings.extend(c.findings)
    return findings


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == Level.ERROR]


def alerts(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == Level.ALERT]


Checker = Callable[[ProposedMove, RuleContext], list[Finding]]
