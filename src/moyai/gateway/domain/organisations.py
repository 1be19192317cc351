"""Organisation kinds, organisations and information items, read from the gateway's data files.

``data/organisations.yaml`` lists the organisation kinds (市町村, 都道府県, 公的年金の実施機関 …)
and the organisations that exchange through the gateway, each attached to data centre ``a`` or
``b``. ``data/information_items.yaml`` lists the groups of information (住民票関係情報 …) with
their items, the business module that answers for each group and the kinds that hold it.

Both are read with :func:`moyai.platform.codes.datafiles.load`, checked on load (unknown kinds,
duplicate ids, bad 団体コード raise :class:`~moyai.platform.codes.datafiles.DataFileError`), and
cached.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from moyai.platform.codes import datafiles
from moyai.platform.codes.checkdigits import check_local_government_code
from moyai.platform.codes.datafiles import DataFileError

__all__ = [
    "DATA_CENTRES",
    "PACKAGE",
    "Directory",
    "InformationGroup",
    "InformationItem",
    "Organisation",
    "OrganisationKind",
    "directory",
    "directory_from_data",
]

PACKAGE: Final = "moyai.gateway"
DATA_CENTRES: Final = ("a", "b")
ORG_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
SLUG_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

DataCentre = Literal["a", "b"]


@dataclass(frozen=True)
class OrganisationKind:
    id: str
    name_ja: str


@dataclass(frozen=True)
class Organisation:
    id: str
    name_ja: str
    kind: str
    data_centre: DataCentre
    #: 全国地方公共団体コード of a municipality hosted on this platform (a tenant), else None.
    tenant_code: str | None = None


@dataclass(frozen=True)
class InformationItem:
    #: fully qualified: ``group.item`` (``resident_record.address``)
    id: str
    group: str
    name_ja: str


@dataclass(frozen=True)
class InformationGroup:
    id: str
    name_ja: str
    module: str
    held_by: frozenset[str]
    items: tuple[InformationItem, ...]


@dataclass(frozen=True)
class Directory:
    """Kinds, organisations and information items, indexed by id."""

    kinds: Mapping[str, OrganisationKind]
    organisations: Mapping[str, Organisation]
    groups: Mapping[str, InformationGroup]
    items: Mapping[str, InformationItem]

    def organisation(self, org_id: str) -> Organisation | None:
        return self.organisations.get(org_id)

    def kind_name(self, kind: str) -> str:
        k = self.kinds.get(kind)
        return k.name_ja if k else kind

    def expand_items(self, names: Iterable[str]) -> tuple[frozenset[str], list[str]]:
        """Item ids named by ``names`` (a group id stands for all its items), and unknown names."""
        found: set[str] = set()
        unknown: list[str] = []
        for name in names:
            if name in self.items:
                found.add(name)
            elif name in self.groups:
                found.update(i.id for i in self.groups[name].items)
            else:
                unknown.append(name)
        return frozenset(found), unknown

    def item_names_ja(self, item_ids: Iterable[str]) -> str:
        """「住民票関係情報（住所）」 style list of items, in a stable order, for messages."""
        parts = []
        for item_id in sorted(item_ids):
            item = self.items.get(item_id)
            if item is None:
                parts.append(item_id)
            else:
                parts.append(f"{self.groups[item.group].name_ja}（{item.name_ja}）")
        return "、".join(parts)


def _require(entry: Mapping[str, Any], key: str, path: str, what: str) -> Any:
    if not isinstance(entry, Mapping) or key not in entry or entry[key] in (None, ""):
        raise DataFileError(f"{path}: {what} に {key} がありません: {entry!r}")
    return entry[key]


def directory_from_data(orgs_raw: Any, items_raw: Any, *, orgs_path: str = "organisations",
                        items_path: str = "information_items") -> Directory:
    """Build and check a :class:`Directory` from the ``entries`` of the two data files."""
    if not isinstance(orgs_raw, Mapping):
        raise DataFileError(f"{orgs_path}: entries は kinds と organisations を持つマッピングです")
    kinds: dict[str, OrganisationKind] = {}
    for raw in orgs_raw.get("kinds") or []:
        kid = str(_require(raw, "id", orgs_path, "種別"))
        if not SLUG_RE.match(kid) or kid in kinds:
            raise DataFileError(f"{orgs_path}: 種別 id {kid!r} が不正か重複しています")
        kinds[kid] = OrganisationKind(kid, str(_require(raw, "name_ja", orgs_path, "種別")))
    organisations: dict[str, Organisation] = {}
    for raw in orgs_raw.get("organisations") or []:
        oid = str(_require(raw, "id", orgs_path, "団体"))
        if not ORG_ID_RE.match(oid) or oid in organisations:
            raise DataFileError(f"{orgs_path}: 団体 id {oid!r} が不正か重複しています")
        kind = str(_require(raw, "kind", orgs_path, "団体"))
        if kind not in kinds:
            raise DataFileError(f"{orgs_path}: 団体 {oid} の種別 {kind!r} は kinds にありません")
        dc = str(_require(raw, "data_centre", orgs_path, "団体"))
        if dc not in DATA_CENTRES:
            raise DataFileError(f"{orgs_path}: 団体 {oid} の data_centre {dc!r} は a か b です")
        tenant = raw.get("tenant_code")
        if tenant is not None:
            tenant = str(tenant)
            reason = check_local_government_code(tenant)
            if reason:
                raise DataFileError(f"{orgs_path}: 団体 {oid} の tenant_code {tenant}: {reason}")
        organisations[oid] = Organisation(oid, str(_require(raw, "name_ja", orgs_path, "団体")), kind,
                                          "a" if dc == "a" else "b", tenant)

    if not isinstance(items_raw, list):
        raise DataFileError(f"{items_path}: entries は情報グループの一覧です")
    groups: dict[str, InformationGroup] = {}
    items: dict[str, InformationItem] = {}
    for raw in items_raw:
        gid = str(_require(raw, "id", items_path, "情報グループ"))
        if not SLUG_RE.match(gid) or gid in groups:
            raise DataFileError(f"{items_path}: 情報グループ id {gid!r} が不正か重複しています")
        held_by = frozenset(str(k) for k in _require(raw, "held_by", items_path, "情報グループ"))
        unknown = sorted(held_by - kinds.keys())
        if unknown:
            raise DataFileError(f"{items_path}: 情報グループ {gid} の held_by {unknown} は団体の種別にありません")
        members = []
        for raw_item in _require(raw, "items", items_path, "情報グループ"):
            iid = str(_require(raw_item, "id", items_path, f"情報グループ {gid} の項目"))
            full = f"{gid}.{iid}"
            if not SLUG_RE.match(iid) or full in items:
                raise DataFileError(f"{items_path}: 項目 id {full!r} が不正か重複しています")
            item = InformationItem(full, gid, str(_require(raw_item, "name_ja", items_path, f"項目 {full}")))
            items[full] = item
            members.append(item)
        groups[gid] = InformationGroup(gid, str(_require(raw, "name_ja", items_path, "情報グループ")),
                                       str(_require(raw, "module", items_path, "情報グループ")), held_by,
                                       tuple(members))
    return Directory(MappingProxyType(kinds), MappingProxyType(organisations), MappingProxyType(groups),
                     MappingProxyType(items))


@functools.cache
def directory() -> Directory:
    """The shipped directory (``organisations.yaml`` and ``information_items.yaml``)."""
    orgs = datafiles.load(PACKAGE, "organisations")
    items = datafiles.load(PACKAGE, "information_items")
    return directory_from_data(orgs.entries, items.entries, orgs_path=orgs.path, items_path=items.path)
