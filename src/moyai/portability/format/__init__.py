"""The format layer of the 中間標準レイアウト (pure Python, no Django import).

- :mod:`.layout` — the layout files as data (``data/jyuki_layout.yaml``) and their validation;
- :mod:`.codecs` — one codec per item type: text of a CSV field ⇄ Python value;
- :mod:`.csvio` — strict CSV reading (encoding detection, RFC 4180) and deterministic writing;
- :mod:`.persons` — PersonState ⇄ the values of the 住民 file, households, code lists;
- :mod:`.mapping` — history rows ⇄ 異動 (MoveEvent);
- :mod:`.problems` — :class:`Problem`, the one report record every step produces.

Typical import::

    problems: list[Problem] = []
    layout = load_layout()
    rows = read_values(path, layout.file("resident"), problems)
    histories = rows_to_histories(rows, tenant_code="352071", problems=problems)

and export::

    write_values(path, layout.file("resident"), histories_to_rows(events, tenant_code="352071"))
"""

from .codecs import FieldError, decode, decode_row, encode, encode_row, text_length
from .csvio import CsvWriteError, EncodingError, LayoutReader, detect_encoding, read_values, write_rows, write_values
from .layout import CodeListSpec, FileSpec, ItemSpec, Layout, load_layout, parse_layout
from .mapping import HistoryError, histories_to_rows, history_row_values, rows_to_histories
from .persons import (
    check_households,
    code_list_rows,
    households_to_rows,
    join_jp_date,
    kind_for_reason,
    person_to_values,
    split_jp_date,
    values_to_person,
)
from .problems import Problem, ProblemKind, unique_problems

__all__ = [
    "CodeListSpec",
    "CsvWriteError",
    "EncodingError",
    "FieldError",
    "FileSpec",
    "HistoryError",
    "ItemSpec",
    "Layout",
    "LayoutReader",
    "Problem",
    "ProblemKind",
    "check_households",
    "code_list_rows",
    "decode",
    "decode_row",
    "detect_encoding",
    "encode",
    "encode_row",
    "histories_to_rows",
    "history_row_values",
    "households_to_rows",
    "join_jp_date",
    "kind_for_reason",
    "load_layout",
    "parse_layout",
    "person_to_values",
    "read_values",
    "rows_to_histories",
    "split_jp_date",
    "text_length",
    "unique_problems",
    "values_to_person",
    "write_rows",
    "write_values",
]
