"""Import of a 中間標準レイアウト file set into an empty 団体 (all or nothing) and its report.

Entry point: :func:`import_fileset` (see :mod:`.pipeline`); the 外字対応表 format is in
:mod:`.gaiji`, the HTML/CSV report in :mod:`.report`.
"""

from .gaiji import GaijiMap, GaijiMapError, format_gaiji_map, load_gaiji_map, parse_gaiji_map
from .pipeline import (
    ImportCounts,
    ImportProblemKind,
    ImportResult,
    Prepared,
    ProgressCallback,
    SystemActor,
    check_tenant,
    import_fileset,
    prepare_fileset,
    write_prepared,
)
from .report import write_report

__all__ = [
    "GaijiMap",
    "GaijiMapError",
    "ImportCounts",
    "ImportProblemKind",
    "ImportResult",
    "Prepared",
    "ProgressCallback",
    "SystemActor",
    "check_tenant",
    "format_gaiji_map",
    "import_fileset",
    "load_gaiji_map",
    "parse_gaiji_map",
    "prepare_fileset",
    "write_prepared",
    "write_report",
]
