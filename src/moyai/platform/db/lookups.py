"""Byte-order comparisons that PostgreSQL row-level security lets an index use.

Under RLS the planner may not push a non-leakproof operator such as ``LIKE`` (``textlike``) into
an index scan, so ``key LIKE 'ヤマ%'`` reads every row of the 団体 and filters. The pattern
comparison operators ``~>=~`` and ``~<~`` are leakproof, compare bytes (independent of the
database collation) and are served by a ``varchar_pattern_ops`` index. A prefix search becomes
``key ~>=~ prefix AND key ~<~ prefix || U+10FFFF``. On SQLite the default BINARY collation
compares bytes too, so plain ``>=`` and ``<`` do the same.
"""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Lookup


class _PatternCompare(Lookup):  # type: ignore[type-arg]
    pg_operator = ""
    sql_operator = ""

    def _sql(self, compiler: Any, connection: Any, op: str) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} {op} {rhs}", (*lhs_params, *rhs_params)

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return self._sql(compiler, connection, self.sql_operator)

    def as_postgresql(self, compiler: Any, connection: Any) -> Any:
        return self._sql(compiler, connection, self.pg_operator)


@CharField.register_lookup
class BytesGte(_PatternCompare):
    lookup_name = "bytes_gte"
    pg_operator = "~>=~"
    sql_operator = ">="


@CharField.register_lookup
class BytesLt(_PatternCompare):
    lookup_name = "bytes_lt"
    pg_operator = "~<~"
    sql_operator = "<"


PREFIX_END = "\U0010ffff"  # sorts after every character in UTF-8 byte order
