"""Portal API: a resident, through an authenticated portal, lists provisions about them with inclusion proofs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from moyai.gateway.domain.merkle import InclusionProof, verify_inclusion_hash
from moyai.gateway.domain.signing import PublicKeyVerifier
from moyai.linkage.portal import issue_card_token, register_portal, revoke_card_token
from moyai.platform.audit.models import AccessLog
from moyai.platform.tenancy.scope import tenant_scope
from tests.fixtures import KUDAMATSU, SHUNAN, World
from tests.gateway.exchange_kit import Kit, make_kit

pytestmark = pytest.mark.django_db

URL = "/api/v1/portal/disclosures"


def _get(portal: str, card: str) -> Any:
    return Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {portal}", HTTP_X_MOYAI_CARD=card)


@pytest.fixture
def kit(world: World) -> Kit:
    """Exchanges made now: the portal judges deferred disclosure by today's date."""
    return make_kit(world, clock_start=dt.datetime.now(dt.UTC))


@pytest.fixture
def tokens(kit: Kit) -> tuple[str, str]:
    portal = register_portal("myna-portal", "マイナポータル（試験）")
    with tenant_scope(SHUNAN):
        card = issue_card_token(kit.atena_no)
    return portal, card


def test_the_resident_sees_provisions_with_proofs_against_signed_checkpoints(kit: Kit,
                                                                             tokens: tuple[str, str]) -> None:
    portal, card = tokens
    kit.send(kit.signed(kit.request(items=("resident_record.address",))))  # seq 0, provided
    kit.send(kit.signed(kit.request(requester="350001", affair="PA-02",
                                    items=("resident_record.name",))))  # seq 1, secret for 180 days
    for _ in range(3):  # seq 2-4: fill the batch of 4 so that seq 0 is anchored; seq 4 waits
        kit.send(kit.signed(kit.request(items=("resident_record.name",))))
    response = _get(portal, card)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["tenant"] == SHUNAN
    records = data["records"]
    assert [r["seq"] for r in records] == [4, 3, 2, 0]  # the secret provision (seq 1) is absent
    oldest = records[-1]
    assert (oldest["requester"], oldest["affair"], oldest["items"], oldest["anchored"]) == (
        "kenpo-midori", "HI-01", ["resident_record.address"], True)
    assert records[0]["anchored"] is False and records[0]["proof"] is None
    proof = oldest["proof"]
    cp = proof["checkpoint"]
    assert (cp["first_seq"], cp["size"], cp["alg"]) == (0, 4, "EdDSA")
    assert verify_inclusion_hash(bytes.fromhex(proof["leaf_hash"]),
                            InclusionProof(proof["index"], proof["tree_size"],
                                           tuple(bytes.fromhex(h) for h in proof["path"])),
                            bytes.fromhex(cp["root"]))
    from moyai.gateway.domain.log import Checkpoint

    public = {cp["key_id"]: kit.store.signer.public_key()}  # type: ignore[attr-defined]
    checkpoint = Checkpoint.from_json({**cp, "leaf_hashes": []})
    assert checkpoint.signature_ok(PublicKeyVerifier(public))
    with tenant_scope(SHUNAN):
        entry = AccessLog.objects.get(operation="disclosure.portal")
        assert (entry.actor, entry.subject_count) == ("portal:myna-portal", 1)


def test_the_secret_provision_appears_after_its_period(kit: Kit, tokens: tuple[str, str]) -> None:
    portal, card = tokens
    kit.send(kit.signed(kit.request(requester="350001", affair="PA-02", items=("resident_record.name",))))
    assert _get(portal, card).json()["records"] == []
    from moyai.gateway import portal_api

    later = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=181)
    assert [r.seq for r in portal_api.disclosure_records(SHUNAN, kit.atena_no, today=later)] == [0]


@pytest.mark.parametrize("who", ["no_portal", "bad_portal", "bad_card", "other_tenant", "revoked"])
def test_unauthenticated_calls_are_refused(kit: Kit, tokens: tuple[str, str], who: str) -> None:
    portal, card = tokens
    kit.send(kit.signed(kit.request()))
    if who == "no_portal":
        response = Client().get(URL, HTTP_X_MOYAI_CARD=card)
    elif who == "bad_portal":
        response = _get(portal[:-2] + "xx", card)
    elif who == "bad_card":
        response = _get(portal, card[:-2] + "xx")
    elif who == "other_tenant":
        response = _get(portal, card.replace(f"moyaicard_{SHUNAN}_", f"moyaicard_{KUDAMATSU}_"))
    else:
        with tenant_scope(SHUNAN):
            revoke_card_token(card.split("_")[2])
        response = _get(portal, card)
    assert response.status_code == 401
    assert "records" not in response.json()
