"""Roles and permissions, read from ``identity/data/roles.yaml`` (rights are data, not code)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from moyai.platform.codes.datafiles import DataFileError, load


@dataclass(frozen=True)
class Role:
    code: str
    label: str
    permissions: frozenset[str]


@functools.cache
def permissions() -> dict[str, str]:
    data = load("moyai.platform.identity", "roles").entries
    return dict(data["permissions"])


@functools.cache
def roles() -> dict[str, Role]:
    data = load("moyai.platform.identity", "roles").entries
    known = set(permissions())
    out: dict[str, Role] = {}
    for r in data["roles"]:
        unknown = set(r["permissions"]) - known
        if unknown:
            raise DataFileError(f"roles.yaml: 役割 {r['code']} に未定義の権限 {sorted(unknown)} があります")
        out[r["code"]] = Role(code=r["code"], label=r["label"], permissions=frozenset(r["permissions"]))
    return out


def role_choices() -> list[tuple[str, str]]:
    return [(r.code, r.label) for r in roles().values()]


def permissions_of(role_codes: list[str] | set[str] | frozenset[str]) -> frozenset[str]:
    """Union of the permissions of the given roles; unknown roles give nothing (deny by default)."""
    table = roles()
    out: set[str] = set()
    for code in role_codes:
        role = table.get(code)
        if role is not None:
            out |= role.permissions
    return frozenset(out)
