"""Where a window starts, in one place for Python and for SQL.

At time ``t`` (µs since the Unix epoch, UTC) a window of ``W`` seconds with hop ``h`` seconds
covers ``floor_h(t - W) <= ts < t``. The floor is a true floor (towards -inf), so times before
1970 behave like any other, and hops align to the epoch.
"""

from __future__ import annotations

MICROS = 1_000_000


def window_start_us(t_us: int, window_seconds: int, hop_seconds: int) -> int:
    """The first microsecond a window ending (exclusively) at ``t_us`` covers."""
    hop = hop_seconds * MICROS
    return ((t_us - window_seconds * MICROS) // hop) * hop


def window_start_sql(t_expr: str, window_seconds: int, hop_seconds: int) -> str:
    """The same as :func:`window_start_us`, as a SQL expression over a BIGINT µs expression.

    Written with ``%`` only (C semantics in DuckDB and Spark alike) so that one expression
    serves every engine: ``x - ((x % h) + h) % h`` floors ``x`` to a multiple of ``h``.
    """
    hop = hop_seconds * MICROS
    x = f"(({t_expr}) - {window_seconds * MICROS})"
    return f"({x} - ((({x} % {hop}) + {hop}) % {hop}))"
