"""Seed one data centre's database for the gateway server tests and the benchmark (run as a script).

``python -m tests.gateway.dc_seed --tenant 352128 --name 柳井市 --pki DIR --requester kenpo-midori
[--residents N]`` (database from the MOYAI_* environment, migrated beforehand): the 団体, a clerk,
resident codes, N residents registered through the residents' services, and for each requester
the 符号 of every resident issued by the gateway's code service. Prints JSON:
``{"residents": [{"resident_code": …, "codes": {org: code}}, …]}``.

``--town-scale S`` (0 < S ≤ 1): instead, the synthetic town of the 団体 at that scale (周南市 at 1.0:
144,472 residents, 11,558 除票, 223,205 異動) written as 中間標準レイアウト files and imported as a
late joiner's would be, then the 符号 of N of its current residents (drawn with a fixed seed) for
each requester: the gateway benchmark against a whole city's tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--pki", required=True)
    parser.add_argument("--requester", action="append", default=[])
    parser.add_argument("--residents", type=int, default=1)
    parser.add_argument("--town-scale", type=float, default=0.0)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    import django

    django.setup()
    from moyai.gateway.codestore import DbCodeStore
    from moyai.gateway.domain.codes import CodeService
    from moyai.gateway.domain.keystore import FileKeyStore
    from moyai.gateway.server.pki import Pki
    from moyai.platform.identity.services import staff_principal
    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.residents import services
    from moyai.residents.models import Resident
    from moyai.residents.services import SubjectInput
    from tests.factories import MembershipFactory, TenantFactory, UserFactory

    tenant = TenantFactory(code=args.tenant, name=args.name)
    user = UserFactory(username=f"clerk-{args.tenant}")
    MembershipFactory(user=user, tenant=tenant, role="clerk")
    clerk = staff_principal(user, tenant.code)
    codes = CodeService(FileKeyStore(Pki(args.pki).keys_dir("codes")), DbCodeStore())
    out = []
    if args.town_scale:
        for resident_code in _import_town(args.tenant, args.town_scale, args.residents):
            out.append({"resident_code": resident_code,
                        "codes": {org: codes.code_for(org, resident_code) for org in args.requester}})
        print(json.dumps({"residents": out}))
        return
    with tenant_scope(tenant.code):
        services.load_resident_codes(f"{int(tenant.code) * 100000 + i:011d}" for i in range(args.residents + 10))
    for i in range(args.residents):
        with tenant_scope(tenant.code):
            req = services.record_now(clerk, "move_in", dt.date(2020, 4, 1), [SubjectInput(None, {
                "family_name": "山田", "given_name": f"太郎{i}", "family_kana": "ヤマダ", "given_kana": "タロウ",
                "birth_date": "昭和45年5月5日", "sex": "1", "relationship": "世帯主",
                "address": f"山口県{args.name}一丁目{i + 1}番地", "postal_code": "745-0045", "household_no": "new",
                "previous_address": "広島県広島市中区基町1番"})])
            assert req.status == "registered", req.findings
            atena_no = req.moves[0]["atena_no"]
            resident_code = Resident.objects.get(atena_no=atena_no).resident_code
        out.append({"resident_code": resident_code,
                    "codes": {org: codes.code_for(org, resident_code) for org in args.requester}})
    print(json.dumps({"residents": out}))


def _import_town(tenant_code: str, scale: float, sample: int) -> list[str]:
    """Import the 団体's synthetic town at ``scale``; the 住民票コード of ``sample`` current residents."""
    import random
    import sys
    import tempfile
    import time

    from moyai.platform.tenancy.scope import tenant_scope
    from moyai.portability.importer.pipeline import import_fileset
    from moyai.portability.synthetic import write_synthetic_tenant
    from moyai.residents.models import Resident

    with tempfile.TemporaryDirectory(prefix="moyai-town-") as tmp:
        t0 = time.perf_counter()
        made = write_synthetic_tenant(tmp, tenant_code, scale=scale, seed=1)
        t1 = time.perf_counter()
        result = import_fileset(tenant_code, tmp)
        if result.problems:
            raise SystemExit(f"import refused: {result.problems[:3]}")
        print(f"town {tenant_code} at scale {scale}: {made.generated_residents} residents, {made.generated_removed} "
              f"除票, {made.generated_events} 異動; files {t1 - t0:.1f} s, import {time.perf_counter() - t1:.1f} s",
              file=sys.stderr)
    with tenant_scope(tenant_code):
        current = sorted(Resident.objects.filter(removed_on__isnull=True).exclude(resident_code="")
                         .values_list("resident_code", flat=True))
    return random.Random(1).sample(current, min(sample, len(current)))


if __name__ == "__main__":
    main()
