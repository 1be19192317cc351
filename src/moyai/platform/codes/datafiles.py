"""The one loader for versioned data files (layouts, code tables, rules, variant tables).

Every data file is YAML with a header::

    kind: code_table            # what the file is (code_table, rules, variants, layout…)
    name: relationship          # file's own name, equal to the file stem
    version: "2024.1"           # version of the content
    effective_from: 2024-04-01  # when this version applies
    source: "…"                 # where the content comes from (or UNCONFIRMED: why)
    entries: [...]              # the content

A file lives in a ``data/`` folder of the package that owns it and is read with
``load("moyai.residents", "kanji_variants")``.  Results are cached: files are read-only at run time.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

REQUIRED_KEYS = ("kind", "name", "version", "effective_from", "source", "entries")


class DataFileError(ValueError):
    """A data file is missing or malformed (the message names the file and the key)."""


@dataclass(frozen=True)
class DataFile:
    package: str
    kind: str
    name: str
    version: str
    effective_from: dt.date
    source: str
    entries: Any
    path: str


@functools.cache
def load(package: str, name: str) -> DataFile:
    """Read ``<package>/data/<name>.yaml`` and check its header."""
    try:
        ref = resources.files(package).joinpath("data", f"{name}.yaml")
        text = ref.read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise DataFileError(f"データファイル {package}/data/{name}.yaml が見つかりません") from exc
    path = f"{package}/data/{name}.yaml"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path}: YAML として読めません: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataFileError(f"{path}: 先頭がマッピングではありません")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise DataFileError(f"{path}: 必須キー {', '.join(missing)} がありません")
    if raw["name"] != name:
        raise DataFileError(f"{path}: name が {raw['name']!r} でファイル名と一致しません")
    eff = raw["effective_from"]
    if isinstance(eff, str):
        try:
            eff = dt.date.fromisoformat(eff)
        except ValueError as exc:
            raise DataFileError(f"{path}: effective_from {eff!r} は日付ではありません") from exc
    if not isinstance(eff, dt.date):
        raise DataFileError(f"{path}: effective_from が日付ではありません")
    return DataFile(
        package=package,
        kind=str(raw["kind"]),
        name=name,
        version=str(raw["version"]),
        effective_from=eff,
        source=str(raw["source"]),
        entries=raw["entries"],
        path=path,
    )


def all_data_files(package: str) -> list[str]:
    """Names (stems) of every data file a package ships, for the per-file tests."""
    folder = resources.files(package).joinpath("data")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
