"""情報提供等記録: who obtained which information about a resident, and when.

For one person of a 団体 (by 宛名番号, inside the platform), the entries of the exchange log
whose subject is one of the 符号 issued for that person — i.e. provisions by any 団体 of the
platform, also after the person moved between them — newest first. Entries of a 事務 with a
secrecy period (``secrecy_days`` of its legal-basis row, recorded in the entry as
``disclose_after``) are left out until that day; nothing in the result reveals that they exist.

The records are read from the canonical JSON of each entry (what the chain and the checkpoints
protect), not from the index columns, and each carries its ``seq`` so that a portal can fetch an
inclusion proof for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from moyai.platform.tenancy.scope import tenant_scope

from .codestore import DbCodeStore
from .domain.legal_basis import LegalBasisTable, legal_basis_table
from .domain.log import LogEntry, LogFormatError, Outcome
from .domain.organisations import Directory, directory
from .models import GatewayLogEntry
from .registry import RegistryReadModel, ResidentsReadModel, gateway_actor

__all__ = ["DisclosureRecord", "disclosure_records"]

JST = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class DisclosureRecord:
    seq: int
    time: dt.datetime
    requester: str
    requester_name_ja: str
    provider: str
    provider_name_ja: str
    affair: str
    affair_name_ja: str
    items: tuple[str, ...]
    items_ja: str
    basis_id: str | None


def disclosure_records(tenant_code: str, atena_no: str, *, log_ids: tuple[str, ...] = ("dc-a",),
                       today: dt.date | None = None, registry: RegistryReadModel | None = None,
                       codes: DbCodeStore | None = None, directory_: Directory | None = None,
                       table: LegalBasisTable | None = None) -> list[DisclosureRecord]:
    """The provisions about one resident that may be shown to them today, newest first."""
    registry = registry or ResidentsReadModel()
    codes = codes or DbCodeStore()
    d = directory_ or directory()
    t = table or legal_basis_table()
    today = today or dt.datetime.now(JST).date()
    with tenant_scope(tenant_code):
        person_key = registry.person_key_for(atena_no, gateway_actor(tenant_code, "disclosure"))
    if person_key is None:
        return []
    subjects = {code for _, code in codes.codes_of_person(person_key)}
    if not subjects:
        return []
    out: list[DisclosureRecord] = []
    rows = (GatewayLogEntry.objects.filter(log_id__in=log_ids, subject__in=subjects, outcome=Outcome.PROVIDED)
            .order_by("-time", "-seq").values_list("canonical", flat=True))
    for text in rows:
        try:
            e = LogEntry.from_canonical(text.encode("utf-8"))
        except LogFormatError:
            continue  # verify-log reports it; the record shows only what can be read
        if e.subject not in subjects or e.outcome != Outcome.PROVIDED or e.affair is None:
            continue
        if e.disclose_after is not None and dt.date.fromisoformat(e.disclose_after) > today:
            continue
        req, prov = d.organisation(e.requester), d.organisation(e.provider)
        affair = t.affairs.get(e.affair)
        out.append(DisclosureRecord(
            seq=e.seq, time=e.timestamp, requester=e.requester, requester_name_ja=req.name_ja if req else e.requester,
            provider=e.provider, provider_name_ja=prov.name_ja if prov else e.provider, affair=e.affair,
            affair_name_ja=affair.name_ja if affair else e.affair, items=e.items, items_ja=d.item_names_ja(e.items),
            basis_id=e.basis_id))
    return out
