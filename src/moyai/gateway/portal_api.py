"""Portal API for 情報提供等記録: a resident, through a portal, lists who obtained what about them.

``GET /api/v1/portal/disclosures`` with
``Authorization: Bearer moyaiportal_…`` (the portal) and ``X-Moyai-Card: moyaicard_…`` (the
resident, a token standing in for the 個人番号カード; see :mod:`moyai.linkage.portal`).

Answer: the records of :func:`moyai.gateway.disclosure.disclosure_records` (deferred disclosure
respected: secret provisions are absent until their day), newest first, each with an RFC 6962
inclusion proof of its log entry in the signed Merkle checkpoint of its batch — or ``proof:
null`` while the entry waits for its checkpoint (``anchored: false``). The entry's own canonical
JSON is not returned (it names the provider's 符号); the proof shows that an entry with this leaf
hash is in the signed log, and the checkpoint's Ed25519 signature can be checked with the log's
published key. Every call is written to the 団体's access log.
"""
# No "from __future__ import annotations": ninja needs real annotations.
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema

from moyai.linkage.portal import PortalError, authenticate_portal, resident_of
from moyai.platform.audit import services as audit
from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.scope import tenant_scope

from .disclosure import disclosure_records
from .domain.log import Checkpoint, LogEntry, LogFormatError
from .models import GatewayCheckpoint, GatewayLogEntry

router = Router(tags=["情報提供等記録（ポータル）"])


class CheckpointOut(Schema):
    log: str
    batch: int
    first_seq: int
    size: int
    root: str
    head: str
    time: str
    key_id: str
    alg: str
    signature: str


class ProofOut(Schema):
    leaf_hash: str
    index: int
    tree_size: int
    path: list[str]
    checkpoint: CheckpointOut


class RecordOut(Schema):
    seq: int
    time: str
    requester: str
    requester_name_ja: str
    provider: str
    provider_name_ja: str
    affair: str
    affair_name_ja: str
    items: list[str]
    items_ja: str
    basis_id: str | None
    anchored: bool
    proof: ProofOut | None


class DisclosuresOut(Schema):
    tenant: str
    records: list[RecordOut]


def _log_ids() -> tuple[str, ...]:
    return tuple(getattr(settings, "MOYAI_GATEWAY_LOG_IDS", ("dc-a",)))


def _proof(log_id: str, seq: int) -> ProofOut | None:
    doc = (GatewayCheckpoint.objects.filter(log_id=log_id, first_seq__lte=seq).order_by("-first_seq")
           .values_list("document", flat=True).first())
    if doc is None:
        return None
    try:
        cp = Checkpoint.from_json(json.loads(doc))
    except (ValueError, LogFormatError):
        return None
    if not cp.first_seq <= seq <= cp.last_seq:
        return None
    entry_text = GatewayLogEntry.objects.filter(log_id=log_id, seq=seq).values_list("canonical", flat=True).first()
    if entry_text is None:
        return None
    leaf = LogEntry.from_canonical(entry_text.encode("utf-8")).leaf_hash().hex()
    if leaf != cp.leaf_hashes[seq - cp.first_seq]:
        return None  # verify-log reports it; no proof is offered for an entry that does not match
    p = cp.proof(seq)
    signed = {k: v for k, v in cp.to_json().items() if k != "leaf_hashes"}
    return ProofOut(leaf_hash=leaf, index=p.index, tree_size=p.tree_size, path=[h.hex() for h in p.path],
                    checkpoint=CheckpointOut(**signed))


@router.get("/disclosures", response={200: DisclosuresOut}, summary="情報提供等記録（本人がポータルから照会）",
            auth=None)
def disclosures(request: HttpRequest) -> Any:
    portal = authenticate_portal(request.headers.get("Authorization", ""))
    resident = resident_of(request.headers.get("X-Moyai-Card", ""))
    log_ids = _log_ids()
    records = disclosure_records(resident.tenant_code, resident.atena_no, log_ids=log_ids)
    out = []
    for r in records:
        proof = next((p for log_id in log_ids if (p := _proof(log_id, r.seq)) is not None), None)
        out.append(RecordOut(seq=r.seq, time=r.time.isoformat(), requester=r.requester,
                             requester_name_ja=r.requester_name_ja, provider=r.provider,
                             provider_name_ja=r.provider_name_ja, affair=r.affair, affair_name_ja=r.affair_name_ja,
                             items=list(r.items), items_ja=r.items_ja, basis_id=r.basis_id,
                             anchored=proof is not None, proof=proof))
    with tenant_scope(resident.tenant_code):
        audit.record(Principal("portal", portal.id, resident.tenant_code, frozenset(), frozenset()),
                     "disclosure.portal", [resident.atena_no], purpose="情報提供等記録の本人開示（ポータル経由）",
                     detail={"records": len(out)})
    return DisclosuresOut(tenant=resident.tenant_code, records=out)


__all__ = ["PortalError", "router"]
