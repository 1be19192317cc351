"""住民票の写し・除票の写し: what a certificate says, decided in pure Python.

- :func:`household_order` — the order of 世帯員 on a 世帯連記式 copy (標準仕様書 5.2), from the
  続柄 text: 世帯主, spouse, children by birth date; the families of children; parents, siblings,
  grandparents; other relatives, 縁故者, 同居人.
- :func:`shown_items` — which optional items (住基法 第12条, 標準仕様書 5.1) are printed: none
  unless specially requested with a purpose, and never those the requester may not have.
- :class:`IssueNumber` — the 発行番号 (5.5): 発行年月日・市区町村名・端末・プリンタ・連番・頁／総頁.
- :class:`Certificate` — the certified content: only what is printed, nothing more. Its
  :meth:`~Certificate.digest` is what the QR code's signed payload vouches for.

Imports no Django: callers give :class:`~moyai.residents.domain.model.PersonState` records
reconstructed as of the certificate's date.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from moyai.platform.codes import datafiles
from moyai.platform.codes.tables import code_table
from moyai.platform.codes.wareki import JpDate, JpDateError, format_wareki
from moyai.platform.errors import DomainError
from moyai.residents.domain.model import PersonState, kinds

PACKAGE: Final = "moyai.certificates"
OFFICIAL_USE_MARK: Final = "公用"  # printed on a certificate requested by a public body (5.7)


class CertificateErrorCode(StrEnum):
    PURPOSE_REQUIRED = "purpose_required"  # an optional item requested without a purpose
    ITEM_NOT_ALLOWED = "item_not_allowed"  # an item this requester may never have printed
    UNKNOWN_ITEM = "unknown_item"
    NO_MEMBERS = "no_members"
    NOT_IN_HOUSEHOLD = "not_in_household"
    WRONG_STATUS = "wrong_status"  # a 除票 on a 住民票の写し, or a living record on a 除票の写し
    FORM = "form"  # 個人票 of several persons
    MISSING_GLYPH = "missing_glyph"  # a character no font of the certificate has
    PARAMETER = "parameter"  # a 団体 parameter the certificate needs is missing
    NO_ITEMS = "no_items"  # a 記載事項証明書 with nothing to certify
    SUPPRESSED = "suppressed"  # refused by 支援措置 or 抑止 (residents.selectors.issuance_check)
    NOT_ALLOWED = "not_allowed"  # the actor may not issue (permission)
    NOT_FOUND = "not_found"  # no such certificate in the 交付履歴
    ALREADY_REVOKED = "already_revoked"
    KIOSK = "kiosk"  # a コンビニ交付 request refused (token, card, hours)
    QUERY = "query"  # a 交付履歴 query out of bounds (period, page)


class CertificateError(DomainError, ValueError):
    """A certificate that cannot be issued; ``message`` is for staff, in Japanese (problem+json in the API)."""

    code: CertificateErrorCode

    def __init__(self, code: CertificateErrorCode, message: str, *, field: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(code, message, field=field, status=status)


class CertificateKind(StrEnum):
    RESIDENT_COPY = "resident_copy"  # 住民票の写し
    REMOVED_COPY = "removed_copy"  # 住民票の除票の写し
    ITEM_CERTIFICATE = "item_certificate"  # 住民票記載事項証明書: only the items asked for
    REMOVED_ITEM_CERTIFICATE = "removed_item_certificate"  # 住民票の除票記載事項証明書

    @property
    def label(self) -> str:
        return _KIND_LABELS[self.value]

    @property
    def removed(self) -> bool:
        """Certifies a 除票 (a removed record)."""
        return self in (CertificateKind.REMOVED_COPY, CertificateKind.REMOVED_ITEM_CERTIFICATE)

    @property
    def items_only(self) -> bool:
        """A 記載事項証明書: prints only the items asked for, not the whole record."""
        return self in (CertificateKind.ITEM_CERTIFICATE, CertificateKind.REMOVED_ITEM_CERTIFICATE)


_KIND_LABELS: Final = {"resident_copy": "住民票の写し", "removed_copy": "住民票の除票の写し",
                       "item_certificate": "住民票記載事項証明書", "removed_item_certificate": "住民票の除票記載事項証明書"}


class Form(StrEnum):
    HOUSEHOLD = "household"  # 世帯連記式
    INDIVIDUAL = "individual"  # 個人票

    @property
    def label(self) -> str:
        return {"household": "世帯連記式", "individual": "個人票"}[self.value]


class Requester(StrEnum):
    SELF = "self"  # 本人又は同一世帯の者 (第12条)
    WIDE_AREA = "wide_area"  # 広域交付 (第12条の4)
    PUBLIC_BODY = "public_body"  # 国又は地方公共団体の機関 (第12条の2)
    THIRD_PARTY = "third_party"  # 本人等以外の者 (第12条の3)


class BasicItem(StrEnum):
    """Items always on a 写し that a 記載事項証明書 prints only when asked for (氏名 is always printed)."""

    FORMER_SURNAME = "former_surname"  # 旧氏
    BIRTH_DATE = "birth_date"  # 生年月日
    SEX = "sex"  # 性別
    ADDRESS = "address"  # 住所（方書）
    BECAME_RESIDENT = "became_resident"  # 住民となった年月日（外国人住民となった年月日）
    ADDRESS_SET_ON = "address_set_on"  # 住所を定めた年月日
    PREVIOUS_ADDRESS = "previous_address"  # 前住所
    REMOVAL = "removal"  # 消除事由・消除の年月日・転出先 (除票 only)

    @property
    def label(self) -> str:
        return _BASIC_LABELS[self.value]


_BASIC_LABELS: Final = {"former_surname": "旧氏", "birth_date": "生年月日", "sex": "性別", "address": "住所",
                        "became_resident": "住民となった年月日", "address_set_on": "住所を定めた年月日",
                        "previous_address": "前住所", "removal": "消除事由・消除の年月日"}


def parse_basic_items(values: Iterable[str]) -> frozenset[BasicItem]:
    out: set[BasicItem] = set()
    for v in values:
        try:
            out.add(BasicItem(v))
        except ValueError:
            raise CertificateError(CertificateErrorCode.UNKNOWN_ITEM, f"証明する事項 {v} は定義されていません",
                                   field="basic_items") from None
    return frozenset(out)


class OptionalItem(StrEnum):
    HEAD_RELATIONSHIP = "head_relationship"  # 世帯主・続柄
    HONSEKI = "honseki"  # 本籍・筆頭者
    INDIVIDUAL_NUMBER = "individual_number"  # 個人番号
    RESIDENT_CODE = "resident_code"  # 住民票コード
    NATIONALITY = "nationality"  # 国籍・地域
    FOREIGN_CATEGORY = "foreign_category"  # 第30条の45に規定する区分
    RESIDENCE_STATUS = "residence_status"  # 在留資格
    PERIOD_OF_STAY = "period_of_stay"  # 在留期間等
    STAY_EXPIRY = "stay_expiry"  # 在留期間等の満了の日
    RESIDENCE_CARD_NO = "residence_card_no"  # 在留カード等番号
    ALIAS = "alias"  # 通称の記載及び削除に関する事項


# --- optional items (第12条) -----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRule:
    item: OptionalItem
    label: str
    applies_to: str  # all | japanese | foreign

    def applies(self, resident_kind: str) -> bool:
        return self.applies_to == "all" or self.applies_to == resident_kind


@dataclass(frozen=True)
class ItemRules:
    items: Mapping[OptionalItem, ItemRule]
    forbidden: Mapping[Requester, frozenset[OptionalItem]]
    requester_labels: Mapping[Requester, str]

    def label(self, item: OptionalItem) -> str:
        return self.items[item].label


@functools.cache
def item_rules() -> ItemRules:
    """The rules of ``certificates/data/optional_items.yaml`` (read once)."""
    df = datafiles.load(PACKAGE, "optional_items")
    raw = df.entries
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list) or not isinstance(
        raw.get("requesters"), list
    ):
        raise datafiles.DataFileError(f"{df.path}: entries は items と requesters のリストです")
    items: dict[OptionalItem, ItemRule] = {}
    for e in raw["items"]:
        rule = ItemRule(OptionalItem(e["item"]), str(e["label"]), str(e["applies_to"]))
        if rule.applies_to not in ("all", "japanese", "foreign"):
            raise datafiles.DataFileError(f"{df.path}: applies_to {rule.applies_to} は all/japanese/foreign です")
        items[rule.item] = rule
    missing = set(OptionalItem) - set(items)
    if missing:
        raise datafiles.DataFileError(f"{df.path}: 項目 {sorted(missing)} の定義がありません")
    forbidden: dict[Requester, frozenset[OptionalItem]] = {}
    labels: dict[Requester, str] = {}
    for e in raw["requesters"]:
        r = Requester(e["requester"])
        forbidden[r] = frozenset(OptionalItem(i) for i in e.get("forbidden", []))
        labels[r] = str(e["label"])
    if set(forbidden) != set(Requester):
        raise datafiles.DataFileError(f"{df.path}: 請求者の種類がそろっていません")
    return ItemRules(items, forbidden, labels)


def parse_items(values: Iterable[str]) -> frozenset[OptionalItem]:
    out: set[OptionalItem] = set()
    for v in values:
        try:
            out.add(OptionalItem(v))
        except ValueError:
            raise CertificateError(CertificateErrorCode.UNKNOWN_ITEM, f"記載事項 {v} は定義されていません",
                                   field="items") from None
    return frozenset(out)


def shown_items(requester: Requester, requested: Iterable[OptionalItem], purpose: str) -> frozenset[OptionalItem]:
    """The optional items printed: those requested, each with a purpose, none forbidden.

    Without a request every optional item is omitted (the default of 第12条第5項). A request
    without a stated purpose is refused rather than silently ignored, and so is an item the
    requester can never have (e.g. 個人番号 for a third party, 本籍 in 広域交付).
    """
    items = frozenset(requested)
    if not items:
        return items
    if not purpose.strip():
        names = "、".join(item_rules().label(i) for i in sorted(items))
        raise CertificateError(CertificateErrorCode.PURPOSE_REQUIRED,
                               f"{names}の記載には請求の目的（利用目的）が必要です", field="purpose")
    rules = item_rules()
    refused = sorted(items & rules.forbidden[requester])
    if refused:
        names = "、".join(rules.label(i) for i in refused)
        raise CertificateError(CertificateErrorCode.ITEM_NOT_ALLOWED,
                               f"{rules.requester_labels[requester]}の請求では{names}を記載できません", field="items")
    return items


# --- household order (5.2) ------------------------------------------------------------------------

SPOUSE_TERMS: Final = frozenset({"夫", "妻", "夫（未届）", "妻（未届）"})
_PARENT: Final = frozenset({"父", "母"})
_SIBLING: Final = frozenset({"兄", "姉", "弟", "妹"})
_GENERATION: Final = {"子": -1, "父": 1, "母": 1}


def relationship_links(relationship: str | None) -> tuple[str, ...]:
    """「子の妻」 → ("子", "妻"); 世帯主, 縁故者 and 同居人 are one link."""
    s = unicodedata.normalize("NFKC", relationship or "").replace("(", "（").replace(")", "）")
    s = "".join(s.split())
    return tuple(p for p in s.split("の") if p) if s else ()


def _generation(links: Sequence[str]) -> int:
    return sum(_GENERATION.get(x, 0) for x in links)


def _birth_key(s: PersonState) -> str:
    if s.birth_date:
        try:
            return JpDate.from_json(s.birth_date).sort_key()
        except JpDateError:
            pass
    return "9999-99-99"


def _is_hittousha(s: PersonState) -> bool:
    """The person is the 筆頭者 of their 戸籍 (the 筆頭者 item names them)."""
    name = "".join((s.family_name + s.given_name).split())
    return bool(s.hittousha) and "".join((s.hittousha or "").split()) == name


def _is_child_family(links: Sequence[str]) -> bool:
    """子の夫, 子の妻, 子の子, 子の子の妻 …: a member of the family of one of the head's children."""
    return len(links) >= 2 and links[0] == "子" and all(x == "子" or x in SPOUSE_TERMS for x in links)


def _infer_families(members: Sequence[PersonState], links: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Which child of the head each 子の… member belongs with, where only one child fits.

    The 続柄 text does not say which child a 子の妻 or 子の子 belongs to. A spouse is placed
    with the only child of the matching sex (子の妻 with a son), a grandchild with the only child
    who has a spouse in the household (or the only child). Anything ambiguous is left to an
    explicit ``families`` mapping, which always wins.
    """
    children = [m for m in members if links[m.atena_no] == ("子",)]
    out: dict[str, str] = {}
    for m in members:
        ls = links[m.atena_no]
        if not _is_child_family(ls) or len(ls) != 2 or ls[1] not in SPOUSE_TERMS:
            continue
        want = "1" if ls[1].startswith("妻") else "2"  # 子の妻 → a son (性別 1), 子の夫 → a daughter
        cands = [c for c in children if c.sex == want] or (children if len(children) == 1 else [])
        if len(cands) == 1:
            out[m.atena_no] = cands[0].atena_no
    anchored = set(out.values())
    for m in members:
        ls = links[m.atena_no]
        if not _is_child_family(ls) or m.atena_no in out:
            continue
        heads = [c.atena_no for c in children if c.atena_no in anchored] if anchored else [
            c.atena_no for c in children]
        if len(heads) == 1:
            out[m.atena_no] = heads[0]
    return out


def household_order(members: Sequence[PersonState], *, families: Mapping[str, str] | None = None,
                    manual: Sequence[str] | None = None) -> list[PersonState]:
    """Members in the standard's order (5.2) for a 世帯連記式 copy.

    ``families`` maps the 宛名番号 of a member of a child's family (子の妻, 子の子 …) to the
    宛名番号 of that child, where the registry knows it; otherwise it is inferred when certain
    (see :func:`_infer_families`) and members that stay unplaced follow the placed families.
    ``manual`` is an order set by staff (the standard allows one): those listed come first in that
    order, the rest follow in the standard order.
    """
    links = {m.atena_no: relationship_links(m.relationship) for m in members}
    fam = _infer_families(members, links)
    fam.update({k: v for k, v in (families or {}).items() if k in links and v in links})
    anchors = set(fam.values())
    by_atena = {m.atena_no: m for m in members}

    def person(m: PersonState) -> tuple[str, str]:
        return (_birth_key(m), m.atena_no)

    def key(m: PersonState) -> tuple[Any, ...]:
        ls = links[m.atena_no]
        if ls == ("世帯主",):
            return (1, 1, ())
        if len(ls) == 1 and ls[0] in SPOUSE_TERMS:
            return (1, 2, person(m))
        if ls == ("子",) and m.atena_no not in anchors:
            return (1, 3, person(m))
        if ls == ("子",):  # a child with a family of their own: 第2順位, families in the child's birth order
            return (2, 0, person(m), 0, ())
        if _is_child_family(ls):
            anchor = fam.get(m.atena_no)
            within = (1 if len(ls) == 2 and ls[1] in SPOUSE_TERMS else 2, -_generation(ls), *person(m))
            if anchor is None:
                return (2, 1, (), 1, within)  # family not known: after the known families
            return (2, 0, person(by_atena[anchor]), 1, within)
        if ls == ("縁故者",):
            return (4, 2, person(m))
        if ls == ("同居人",):
            return (4, 3, person(m))
        if len(ls) == 1 and ls[0] in _PARENT:
            return (3, 1, 0 if _is_hittousha(m) else 1, person(m))
        if len(ls) == 1 and ls[0] in _SIBLING:
            return (3, 2, person(m))
        if len(ls) == 2 and ls[0] in _PARENT and ls[1] in _PARENT:
            return (3, 3, 0 if _is_hittousha(m) else 1, person(m))
        if not ls:
            return (4, 4, person(m))  # no 続柄 recorded (a household without a 世帯主 …)
        # 第4順位 親族: the spouse's parents, siblings, grandparents in the 第3順位 order, then the rest
        # by generation (older first).
        if len(ls) >= 2 and ls[0] in SPOUSE_TERMS:
            rest = ls[1:]
            if len(rest) == 1 and rest[0] in _PARENT:
                return (4, 1, 0, 0 if _is_hittousha(m) else 1, person(m))
            if len(rest) == 1 and rest[0] in _SIBLING:
                return (4, 1, 1, 0, person(m))
            if len(rest) == 2 and all(x in _PARENT for x in rest):
                return (4, 1, 2, 0 if _is_hittousha(m) else 1, person(m))
        return (4, 1, 3, -_generation(ls), person(m))

    ordered = sorted(members, key=key)
    if manual:
        pos = {a: i for i, a in enumerate(manual)}
        ordered.sort(key=lambda m: pos.get(m.atena_no, len(pos)))  # stable: the rest keep the standard order
    return ordered


# --- 発行番号 (5.5) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueNumber:
    """発行年月日・市区町村名・発行端末名番号・発行プリンタ番号・連番 (+ 頁／総頁 per page).

    Each copy has its own number (several copies → several numbers). Terminal and printer may be
    blank when the output device cannot be known (a kiosk, a PDF handed over online).
    """

    issued_on: dt.date
    municipality: str
    terminal: str
    printer: str
    sequence: int

    def text(self) -> str:
        """「20200502 ●●市 本庁1 プリンタ001 011」, without the page part (added per page)."""
        parts = [f"{self.issued_on:%Y%m%d}", self.municipality, self.terminal, self.printer, f"{self.sequence:03d}"]
        return " ".join(p for p in parts if p)

    def page_text(self, page: int, pages: int) -> str:
        return f"{self.text()} {page}/{pages}"


# --- the certificate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issuer:
    """The 証明者 (5.6): 職名 with the prefecture's name, 氏名, the 電子公印's text, and the 認証文."""

    tenant_code: str
    prefecture: str  # 山口県
    municipality: str  # 周南市
    title: str  # 山口県周南市長 (職名, always with the prefecture, 5.6)
    name: str  # 氏名
    seal_text: str  # 周南市長之印 (drawn as a 25 mm black 電子公印)
    certification_texts: Mapping[str, str] = field(default_factory=dict)  # 認証文 by kind.form.whole|part

    def certification_text(self, kind: CertificateKind, form: Form, whole: bool) -> str:
        key = certification_text_key(kind, form, whole)
        return self.certification_texts.get(key) or default_certification_texts()[key]


@dataclass(frozen=True)
class Entry:
    """One printed box: label and value; ``name`` True for text set in the names' font."""

    label: str
    value: str
    name: bool = False

    def as_json(self) -> list[Any]:
        return [self.label, self.value, self.name]


@dataclass(frozen=True)
class Member:
    """What is printed about one person, already formatted; nothing that is not printed."""

    name: str
    entries: tuple[Entry, ...]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "entries": [e.as_json() for e in self.entries]}


@dataclass(frozen=True)
class Certificate:
    serial: str  # unique in the 団体; printed and carried by the QR code (ASCII, no "|")
    kind: CertificateKind
    form: Form
    whole_household: bool
    as_of: dt.date  # 基準日: the registry as of this date
    issued_at: dt.datetime  # 発行日時 (aware)
    issuer: Issuer
    issue_number: IssueNumber
    address: str  # 住所 (and 方書) of the household, or of the one person
    head_name: str | None  # 世帯主 (only when 世帯主・続柄 is shown)
    members: tuple[Member, ...]
    omitted: tuple[str, ...]  # labels of the optional items left out ("記載を省略した事項")
    certification_text: str  # 認証文 (last page only)
    shown: frozenset[OptionalItem] = field(default_factory=frozenset)
    official_use: bool = False  # 公用 (5.7): requested by a public body (第12条の2)

    @property
    def title(self) -> str:
        return self.kind.label

    @property
    def issued_on(self) -> dt.date:
        return self.issue_number.issued_on

    def content(self) -> dict[str, Any]:
        """Everything the certificate certifies, as JSON-ready data (and nothing else)."""
        return {
            "v": 1,
            "serial": self.serial,
            "tenant": self.issuer.tenant_code,
            "kind": self.kind.value,
            "form": self.form.value,
            "whole_household": self.whole_household,
            "as_of": self.as_of.isoformat(),
            "issued_at": self.issued_at.isoformat(),
            "issue_number": self.issue_number.text(),
            "issuer": {"title": self.issuer.title, "name": self.issuer.name},
            "certification_text": self.certification_text,
            "address": self.address,
            "head_name": self.head_name,
            "members": [m.as_json() for m in self.members],
            "omitted": list(self.omitted),
            **({"official_use": True} if self.official_use else {}),
        }

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.content())

    def digest(self) -> bytes:
        """SHA-256 of the canonical certified content."""
        return hashlib.sha256(self.canonical_bytes()).digest()

    def all_text(self) -> Iterable[tuple[str, bool]]:
        """Every printed string with whether it is set in the names' font (for the glyph check)."""
        yield self.title, False
        yield OFFICIAL_USE_MARK, False
        yield self.address, False
        if self.head_name:
            yield self.head_name, True
        for m in self.members:
            yield m.name, True
            for e in m.entries:
                yield e.label, False
                yield e.value, e.name
        yield self.issuer.title, False
        yield self.issuer.name, True
        yield self.issuer.seal_text, False
        yield self.certification_text, False
        yield self.issue_number.text(), False
        yield "、".join(self.omitted), False


def canonical_json(obj: Any) -> bytes:
    """UTF-8 JSON, keys sorted, no spaces: the same content always gives the same bytes."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# --- formatting of items --------------------------------------------------------------------------


def date_text(value: Mapping[str, Any] | str | None, *, western: bool = False) -> str:
    """A registry date for print: 和暦 (as entered, 不詳 forms kept), or 西暦 when ``western``."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        d = dt.date.fromisoformat(value)
        return f"{d.year}年{d.month}月{d.day}日" if western else format_wareki(d)
    jp = JpDate.from_json(value)
    return jp.seireki_text() if western else jp.wareki_text()


def _label(table: str, code: str | None) -> str:
    if not code:
        return ""
    t = code_table(table)
    return t.label(code) if t.has(code) else code


def removal_label(kind: str | None) -> str:
    if not kind:
        return ""
    spec = kinds().get(kind)
    return spec.label.split("（")[0] if spec else kind  # 転出（確定） → 転出


def member_entries(s: PersonState, shown: frozenset[OptionalItem], kind: CertificateKind,
                   basic: frozenset[BasicItem] | None = None) -> Member:
    """The printed boxes of one person, optional items only when ``shown``; on a 記載事項証明書
    (``basic`` given) the always-printed items too only when in ``basic``."""
    foreign = s.resident_kind == "foreign"
    rules = item_rules()

    def show(item: OptionalItem) -> bool:
        return item in shown and rules.items[item].applies(s.resident_kind)

    def want(item: BasicItem) -> bool:
        return basic is None or item in basic

    e: list[Entry] = []
    if foreign and s.name_alpha and s.family_name:
        e.append(Entry("アルファベット氏名", s.name_alpha, name=True))
    if foreign and show(OptionalItem.ALIAS) and s.alias:
        e.append(Entry("通称", s.alias, name=True))
    if s.former_surname and want(BasicItem.FORMER_SURNAME):
        e.append(Entry("旧氏", s.former_surname, name=True))
    if want(BasicItem.BIRTH_DATE):
        e.append(Entry("生年月日", date_text(s.birth_date, western=foreign)))
    if want(BasicItem.SEX):
        e.append(Entry("性別", _label("sex", s.sex)))
    if show(OptionalItem.HEAD_RELATIONSHIP):
        e.append(Entry("続柄", s.relationship or ""))
    if foreign:
        if show(OptionalItem.NATIONALITY):
            e.append(Entry("国籍・地域", s.nationality or ""))
        if show(OptionalItem.FOREIGN_CATEGORY):
            e.append(Entry("第30条の45に規定する区分", _label("foreign_resident_category", s.foreign_category)))
        if show(OptionalItem.RESIDENCE_STATUS):
            e.append(Entry("在留資格", _label("residence_status", s.residence_status)))
        if show(OptionalItem.PERIOD_OF_STAY):
            e.append(Entry("在留期間等", s.period_of_stay or ""))
        if show(OptionalItem.STAY_EXPIRY):
            e.append(Entry("在留期間等の満了の日", date_text(s.stay_expiry, western=True)))
        if show(OptionalItem.RESIDENCE_CARD_NO):
            e.append(Entry("在留カード等番号", s.residence_card_no or ""))
        if want(BasicItem.BECAME_RESIDENT):
            e.append(Entry("外国人住民となった年月日", date_text(s.foreign_resident_since or s.became_resident_on)))
    elif want(BasicItem.BECAME_RESIDENT):
        e.append(Entry("住民となった年月日", date_text(s.became_resident_on)))
    if want(BasicItem.ADDRESS_SET_ON):
        e.append(Entry("住所を定めた年月日", date_text(s.address_set_on)))
    if s.previous_address and want(BasicItem.PREVIOUS_ADDRESS):
        e.append(Entry("前住所", s.previous_address))
    if show(OptionalItem.HONSEKI):
        e.append(Entry("本籍", s.honseki or ""))
        e.append(Entry("筆頭者", s.hittousha or "", name=True))
    if show(OptionalItem.INDIVIDUAL_NUMBER):
        e.append(Entry("個人番号", s.individual_number or ""))
    if show(OptionalItem.RESIDENT_CODE):
        e.append(Entry("住民票コード", s.resident_code or ""))
    if kind.removed and want(BasicItem.REMOVAL):
        e.append(Entry("消除事由", removal_label(s.removal_kind)))
        e.append(Entry("消除の年月日", date_text(s.removed_on)))
        if s.next_address:
            e.append(Entry("転出先", s.next_address))
    return Member(name=s.display_name, entries=tuple(e))


def full_address(s: PersonState) -> str:
    """住所 with 方書 (5.4), separated by a space."""
    return "　".join(p for p in (s.address or "", s.katagaki or "") if p)


def omitted_labels(shown: frozenset[OptionalItem], resident_kinds: Iterable[str]) -> tuple[str, ...]:
    """Labels of the optional items left out that could have applied to the persons printed."""
    rules = item_rules()
    present = set(resident_kinds)
    return tuple(r.label for r in rules.items.values()
                 if r.item not in shown and any(r.applies(k) for k in present))


@dataclass(frozen=True)
class Selection:
    """What was asked for: kind, form, the persons, the optional items with their purpose."""

    kind: CertificateKind
    form: Form
    requester: Requester
    items: frozenset[OptionalItem] = frozenset()
    purpose: str = ""
    basic: frozenset[BasicItem] = frozenset()  # 記載事項証明書: the always-printed items asked for


def compose(selection: Selection, *, persons: Sequence[PersonState], household: Sequence[PersonState],
            as_of: dt.date, issued_at: dt.datetime, issuer: Issuer, issue_number: IssueNumber, serial: str,
            families: Mapping[str, str] | None = None) -> Certificate:
    """Build the certificate of ``persons`` (all of ``household`` or a part of it).

    ``household`` is the whole 世帯 as of ``as_of`` (empty for a 除票), used to tell a whole-
    household copy from a partial one. Checks status and form; applies the item rules.
    """
    if not persons:
        raise CertificateError(CertificateErrorCode.NO_MEMBERS, "証明する住民が選ばれていません", field="members")
    if "|" in serial or not serial.isascii():
        raise ValueError("serial must be ASCII without '|'")
    shown = shown_items(selection.requester, selection.items, selection.purpose)
    want_removed = selection.kind.removed
    basic: frozenset[BasicItem] | None = None
    if selection.kind.items_only:
        basic = selection.basic - ({BasicItem.REMOVAL} if not want_removed else set())
        if not basic and not shown:
            raise CertificateError(CertificateErrorCode.NO_ITEMS, "証明する事項を1つ以上選んでください",
                                   field="basic_items")
    elif selection.basic:
        raise CertificateError(CertificateErrorCode.FORM, "証明する事項の選択は記載事項証明書でのみ指定できます",
                               field="basic_items")
    for p in persons:
        if p.is_resident == want_removed:
            msg = (f"{selection.kind.label}は消除された記録についてのみ発行できます" if want_removed
                   else f"{p.display_name} さんの住民票は消除されています（除票の写し等を選んでください）")
            raise CertificateError(CertificateErrorCode.WRONG_STATUS, msg, field="kind")
    if selection.form == Form.INDIVIDUAL and len(persons) != 1:
        raise CertificateError(CertificateErrorCode.FORM, "個人票は1人ずつ発行します", field="form")
    household_ids = {m.atena_no for m in household}
    if household_ids:
        outside = [p.display_name for p in persons if p.atena_no not in household_ids]
        if outside:
            raise CertificateError(CertificateErrorCode.NOT_IN_HOUSEHOLD,
                                   f"{'、'.join(outside)} さんは基準日にこの世帯の世帯員ではありません", field="members")
    whole = bool(household_ids) and {p.atena_no for p in persons} == household_ids
    ordered = household_order(persons, families=families) if selection.form == Form.HOUSEHOLD else list(persons)
    head = next((m for m in household if m.relationship == "世帯主"), None)
    head_name = head.display_name if head and OptionalItem.HEAD_RELATIONSHIP in shown else None
    return Certificate(
        serial=serial,
        kind=selection.kind,
        form=selection.form,
        whole_household=whole,
        as_of=as_of,
        issued_at=issued_at,
        issuer=issuer,
        issue_number=issue_number,
        address=full_address(ordered[0]) if basic is None or BasicItem.ADDRESS in basic else "",
        head_name=head_name,
        members=tuple(member_entries(p, shown, selection.kind, basic) for p in ordered),
        omitted=() if basic is not None else omitted_labels(shown, (p.resident_kind for p in ordered)),
        certification_text=issuer.certification_text(selection.kind, selection.form, whole),
        shown=shown,
        official_use=selection.requester == Requester.PUBLIC_BODY,
    )


def certification_text_key(kind: CertificateKind, form: Form, whole: bool) -> str:
    return f"{kind.value}.{form.value}.{'whole' if whole else 'part'}"


@functools.cache
def default_certification_texts() -> Mapping[str, str]:
    df = datafiles.load(PACKAGE, "certification_texts")
    if not isinstance(df.entries, dict):
        raise datafiles.DataFileError(f"{df.path}: entries はマッピングです")
    return {str(k): str(v) for k, v in df.entries.items()}
