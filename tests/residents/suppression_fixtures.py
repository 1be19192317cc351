"""Shared set-up of the 抑止・支援措置 tests: one household of three and a neighbour in 周南市.

Principals are built with explicit permissions, so the rules are tested apart from roles.yaml
(the role matrix tests the roles).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from moyai.platform.identity.services import Principal
from moyai.platform.tenancy.scope import tenant_scope
from moyai.residents import services
from moyai.residents.services import SubjectInput
from tests.fixtures import SHUNAN, World

ADDR = "山口県周南市岐山通一丁目1番地"
NEIGHBOUR_ADDR = "山口県周南市糀町二丁目5番地"

COUNTER = frozenset({"resident.search", "resident.view", "move.register"})
OFFICER_RIGHTS = COUNTER | {"suppression.manage", "suppression.release", "support_measure.view",
                            "support_measure.manage"}


def principal(name: str, permissions: frozenset[str] | set[str]) -> Principal:
    return Principal("staff", name, SHUNAN, frozenset({"test"}), frozenset(permissions))


CLERK = principal("clerk1", COUNTER)  # 窓口: no right to see protected persons
OFFICER = principal("officer1", OFFICER_RIGHTS)  # 支援措置責任者
MONITOR = principal("admin1", {"suppression.monitor"})


@dataclass
class Family:
    father: str
    mother: str  # the applicant of the 支援措置 in most tests
    child: str  # 併せて支援を求める者
    neighbour: str
    household: str
    neighbour_household: str


def register_family(w: World) -> Family:
    with tenant_scope(SHUNAN):
        req = services.record_now(
            w.clerk, "move_in", dt.date(2024, 4, 1),
            [
                SubjectInput(None, {"family_name": "周南", "given_name": "一郎", "family_kana": "シュウナン",
                                    "given_kana": "イチロウ", "birth_date": "昭和60年1月1日", "sex": "1",
                                    "relationship": "世帯主", "address": ADDR, "household_no": "new"}),
                SubjectInput(None, {"family_name": "周南", "given_name": "花子", "family_kana": "シュウナン",
                                    "given_kana": "ハナコ", "birth_date": "昭和62年2月2日", "sex": "2",
                                    "relationship": "妻", "address": ADDR, "household_no": "new"}),
                SubjectInput(None, {"family_name": "周南", "given_name": "桜", "family_kana": "シュウナン",
                                    "given_kana": "サクラ", "birth_date": "平成30年3月3日", "sex": "2",
                                    "relationship": "子", "address": ADDR, "household_no": "new"}),
            ],
            notified_date=dt.date(2024, 4, 1),
        )
        assert req.status == "registered", req.findings
        father, mother, child = (m["atena_no"] for m in req.moves)
        household = req.moves[0]["changes"]["household_no"]
        n = services.record_now(
            w.clerk, "move_in", dt.date(2024, 4, 1),
            [SubjectInput(None, {"family_name": "周南", "given_name": "次郎", "family_kana": "シュウナン",
                                 "given_kana": "ジロウ", "birth_date": "昭和50年5月5日", "sex": "1",
                                 "relationship": "世帯主", "address": NEIGHBOUR_ADDR, "household_no": "new"})],
            notified_date=dt.date(2024, 4, 1),
        )
        assert n.status == "registered", n.findings
    return Family(father, mother, child, n.moves[0]["atena_no"], household, n.moves[0]["changes"]["household_no"])
