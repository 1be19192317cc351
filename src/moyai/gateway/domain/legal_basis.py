"""The legal-basis table (modelled on 番号法 別表第二) and the authorisation decision.

A row of ``data/legal_basis.yaml`` says: an organisation of kind *requester_kind* may request
*items* from an organisation of kind *provider_kind* for the 事務 *affair*, from *effective_from*
to *effective_to* (both inclusive, ``null`` = open ended). Changing what a row allows means a
new row with its own id and dates (a new version); two rows for one (requester kind, 事務,
provider kind) may not be in force on the same day, so a decision always names one row.

:func:`authorise` denies by default: a request is allowed only when it names a 事務 and every
item it asks for is allowed by the row in force on the day for its (requester kind, 事務,
provider kind). The :class:`Decision` gives the reason in Japanese for staff and logs, a
machine-readable ``code`` and the row id (``basis_id``) that the exchange log records.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from moyai.platform.codes import datafiles
from moyai.platform.codes.datafiles import DataFileError

from .organisations import PACKAGE, Directory, directory

__all__ = [
    "Affair",
    "Decision",
    "DenialCode",
    "LegalBasisRow",
    "LegalBasisTable",
    "authorise",
    "legal_basis_table",
    "table_from_data",
]

ROW_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
AFFAIR_CODE_RE: Final = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")


class DenialCode:
    """Machine-readable reasons of a refusal (``Decision.code``)."""

    NO_AFFAIR: Final = "no_affair"
    UNKNOWN_AFFAIR: Final = "unknown_affair"
    UNKNOWN_REQUESTER_KIND: Final = "unknown_requester_kind"
    UNKNOWN_PROVIDER_KIND: Final = "unknown_provider_kind"
    NO_ITEMS: Final = "no_items"
    UNKNOWN_ITEM: Final = "unknown_item"
    NO_BASIS: Final = "no_basis"
    NOT_IN_FORCE: Final = "not_in_force"
    ITEM_NOT_ALLOWED: Final = "item_not_allowed"


@dataclass(frozen=True)
class Affair:
    """A 事務 (number-use affair)."""

    code: str
    name_ja: str


@dataclass(frozen=True)
class LegalBasisRow:
    id: str
    requester_kind: str
    affair: Affair
    provider_kind: str
    #: the items allowed, fully qualified (groups expanded)
    items: frozenset[str]
    effective_from: dt.date
    effective_to: dt.date | None = None
    #: days the provision is withheld from the resident's 情報提供等記録 (None: disclosed at once)
    secrecy_days: int | None = None

    def in_force(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def period_ja(self) -> str:
        end = self.effective_to.isoformat() if self.effective_to else ""
        return f"{self.effective_from.isoformat()}〜{end}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason_ja: str
    #: the legal-basis row that allows the request, or that was closest to allowing it
    basis_id: str | None
    #: ``"allowed"`` or one of :class:`DenialCode`
    code: str = "allowed"
    secrecy_days: int | None = None

    def __bool__(self) -> bool:
        return self.allowed


def _deny(code: str, reason: str, basis_id: str | None = None) -> Decision:
    return Decision(False, reason, basis_id, code)


def _as_date(value: Any, path: str, row_id: str, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise DataFileError(f"{path}: 根拠 {row_id} の {key} は日付だけを書きます")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise DataFileError(f"{path}: 根拠 {row_id} の {key} {value!r} は日付ではありません")


class LegalBasisTable:
    """The rows, indexed by (requester kind, 事務 code, provider kind)."""

    def __init__(self, rows: Sequence[LegalBasisRow], directory: Directory) -> None:
        self.rows: tuple[LegalBasisRow, ...] = tuple(rows)
        self.directory = directory
        by_triple: dict[tuple[str, str, str], list[LegalBasisRow]] = defaultdict(list)
        affairs: dict[str, Affair] = {}
        for row in self.rows:
            by_triple[(row.requester_kind, row.affair.code, row.provider_kind)].append(row)
            affairs.setdefault(row.affair.code, row.affair)
        self._by_triple: Mapping[tuple[str, str, str], tuple[LegalBasisRow, ...]] = MappingProxyType(
            {k: tuple(sorted(v, key=lambda r: r.effective_from)) for k, v in by_triple.items()})
        self.affairs: Mapping[str, Affair] = MappingProxyType(affairs)

    def row(self, basis_id: str) -> LegalBasisRow | None:
        return next((r for r in self.rows if r.id == basis_id), None)

    def rows_for(self, requester_kind: str, affair: str, provider_kind: str) -> tuple[LegalBasisRow, ...]:
        """Every version of the rows for the triple, oldest first."""
        return self._by_triple.get((requester_kind, affair, provider_kind), ())

    def authorise(self, requester_kind: str, affair: str | None, provider_kind: str,
                  items: Iterable[str], on: dt.date) -> Decision:
        """Allow the request only if one row in force on ``on`` allows every item (deny by default)."""
        d = self.directory
        if not affair:
            return _deny(DenialCode.NO_AFFAIR, "照会には事務の指定が必要です（事務の指定がない照会は受け付けません）")
        if requester_kind not in d.kinds:
            return _deny(DenialCode.UNKNOWN_REQUESTER_KIND, f"照会者の種別 {requester_kind!r} は登録されていません")
        if provider_kind not in d.kinds:
            return _deny(DenialCode.UNKNOWN_PROVIDER_KIND, f"提供者の種別 {provider_kind!r} は登録されていません")
        known_affair = self.affairs.get(affair)
        if known_affair is None:
            return _deny(DenialCode.UNKNOWN_AFFAIR, f"事務 {affair!r} は法定の事務として登録されていません")
        names = list(items)
        if not names:
            return _deny(DenialCode.NO_ITEMS, "照会する情報の項目が指定されていません")
        requested, unknown = d.expand_items(names)
        if unknown:
            return _deny(DenialCode.UNKNOWN_ITEM, f"情報の項目 {', '.join(sorted(unknown))} は登録されていません")
        req_ja, prov_ja = d.kind_name(requester_kind), d.kind_name(provider_kind)
        rows = self.rows_for(requester_kind, affair, provider_kind)
        if not rows:
            return _deny(DenialCode.NO_BASIS,
                         f"{req_ja}が{prov_ja}に「{known_affair.name_ja}」のために照会できる根拠はありません")
        row = next((r for r in rows if r.in_force(on)), None)
        if row is None:
            periods = "、".join(f"{r.id}（{r.period_ja()}）" for r in rows)
            nearest = min(rows, key=lambda r: abs((r.effective_from - on).days))
            return _deny(DenialCode.NOT_IN_FORCE,
                         f"「{known_affair.name_ja}」の根拠は {on.isoformat()} 時点で効力がありません（{periods}）",
                         nearest.id)
        missing = requested - row.items
        if missing:
            return _deny(DenialCode.ITEM_NOT_ALLOWED,
                         f"{d.item_names_ja(missing)}は根拠 {row.id}（「{known_affair.name_ja}」）で"
                         f"{req_ja}が{prov_ja}に照会できる項目ではありません",
                         row.id)
        return Decision(True, f"根拠 {row.id}（「{known_affair.name_ja}」, {row.period_ja()}）により照会できます",
                        row.id, "allowed", row.secrecy_days)


def table_from_data(raw_rows: Any, directory: Directory, *, path: str = "legal_basis") -> LegalBasisTable:
    """Build and check the table from the ``entries`` of ``legal_basis.yaml``."""
    if not isinstance(raw_rows, list):
        raise DataFileError(f"{path}: entries は根拠の一覧です")
    rows: list[LegalBasisRow] = []
    seen: set[str] = set()
    affair_names: dict[str, str] = {}
    for raw in raw_rows:
        if not isinstance(raw, Mapping) or not raw.get("id"):
            raise DataFileError(f"{path}: id のない根拠があります: {raw!r}")
        rid = str(raw["id"])
        if not ROW_ID_RE.match(rid) or rid in seen:
            raise DataFileError(f"{path}: 根拠 id {rid!r} が不正か重複しています")
        seen.add(rid)
        for key in ("requester_kind", "affair", "provider_kind", "items", "effective_from"):
            if raw.get(key) in (None, "", []):
                raise DataFileError(f"{path}: 根拠 {rid} に {key} がありません")
        for key in ("requester_kind", "provider_kind"):
            if raw[key] not in directory.kinds:
                raise DataFileError(f"{path}: 根拠 {rid} の {key} {raw[key]!r} は団体の種別にありません")
        affair_raw = raw["affair"]
        if not isinstance(affair_raw, Mapping) or not affair_raw.get("code") or not affair_raw.get("name_ja"):
            raise DataFileError(f"{path}: 根拠 {rid} の affair には code と name_ja が必要です")
        affair = Affair(str(affair_raw["code"]), str(affair_raw["name_ja"]))
        if not AFFAIR_CODE_RE.match(affair.code):
            raise DataFileError(f"{path}: 根拠 {rid} の事務コード {affair.code!r} が不正です")
        if affair_names.setdefault(affair.code, affair.name_ja) != affair.name_ja:
            raise DataFileError(f"{path}: 事務 {affair.code} の名称が根拠 {rid} で異なります")
        items, unknown = directory.expand_items(str(i) for i in raw["items"])
        if unknown:
            raise DataFileError(f"{path}: 根拠 {rid} の項目 {unknown} は information_items にありません")
        provider = str(raw["provider_kind"])
        not_held = sorted(i for i in items if provider not in directory.groups[directory.items[i].group].held_by)
        if not_held:
            raise DataFileError(f"{path}: 根拠 {rid}: 提供者の種別 {provider} は {not_held} を保有しません")
        start = _as_date(raw["effective_from"], path, rid, "effective_from")
        end = None if raw.get("effective_to") is None else _as_date(raw["effective_to"], path, rid, "effective_to")
        if end is not None and end < start:
            raise DataFileError(f"{path}: 根拠 {rid} の effective_to が effective_from より前です")
        secrecy = raw.get("secrecy_days")
        if secrecy is not None and (not isinstance(secrecy, int) or isinstance(secrecy, bool) or secrecy <= 0):
            raise DataFileError(f"{path}: 根拠 {rid} の secrecy_days は正の整数です")
        rows.append(LegalBasisRow(rid, str(raw["requester_kind"]), affair, provider, items, start, end, secrecy))
    table = LegalBasisTable(rows, directory)
    for triple in {(r.requester_kind, r.affair.code, r.provider_kind) for r in rows}:
        versions = table.rows_for(*triple)
        for older, newer in itertools.pairwise(versions):
            if older.effective_to is None or older.effective_to >= newer.effective_from:
                raise DataFileError(f"{path}: 根拠 {older.id} と {newer.id} の期間が重なっています（{triple}）")
    return table


@functools.cache
def legal_basis_table() -> LegalBasisTable:
    """The shipped table (``data/legal_basis.yaml``), checked against the shipped directory."""
    data = datafiles.load(PACKAGE, "legal_basis")
    return table_from_data(data.entries, directory(), path=data.path)


def authorise(requester_kind: str, affair: str | None, provider_kind: str, items: Iterable[str],
              on: dt.date) -> Decision:
    """:meth:`LegalBasisTable.authorise` on the shipped table."""
    return legal_basis_table().authorise(requester_kind, affair, provider_kind, items, on)
