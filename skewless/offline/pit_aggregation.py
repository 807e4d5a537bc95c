"""Windowed aggregations at each entity row's time, as SQL (pure; shared by the engines).

The plan, per view, cuts each key's timeline at its *probe points*: every entity row's time ``t``
and every window start ``floor_h(t - W)`` it needs. Then:

1. *Segments*: each event goes to the first probe point strictly after it (an ASOF join; a probe
   sorts before events at its own time), and one hash aggregate folds the events of each
   (key, probe point) into partials: sum and count per column, min, max, the latest non-null
   value, the latest ``n`` values. Events after a key's last probe point join nothing and drop.
2. *Windows*: a window ``[start, t)`` is exactly the segments whose probe point lies in
   ``(start, t]``, because both ends are probe points. So each output is a framed aggregate over
   the segments of its key: a ``RANGE`` frame from ``start + 1`` to the current row, evaluated at
   the rows that are entity times.

The window operator then sorts probe points (a few per entity row) instead of events (often a
hundred times more), and combining partials is exact for counts and integer sums; float sums
are re-associated, well inside 1e-9 relative. Which events the view sees is decided upstream:
``pit.event_stream_ctes`` de-duplicates each source once per query (each event id's first
write) and bounds it in time; this module only reads that stream.
"""

from __future__ import annotations

from collections.abc import Callable

from skewless.aggregation.windows import MICROS, window_start_sql
from skewless.definitions.aggregation import AggregationOutput
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.selection import ViewSelection
from skewless.definitions.types import Float32, Float64, Int64
from skewless.offline.sql_text import q

# Given a CTE's suffix, its alias in the final SELECT; returns (column, SQL expression) pairs.
Projection = Callable[[Callable[[str], str]], list[tuple[str, str]]]
# (suffix, SQL, join condition of the CTE's alias ``{t}`` with the entity rows ``e``)
Cte = tuple[str, str, str]


def needed_outputs(view_selection: ViewSelection) -> list[AggregationOutput]:
    """The aggregation outputs the selected features read (ratios read two each)."""
    view = view_selection.view
    outputs = {o.name: o for o in view.aggregation_outputs()}
    ratios = {r.name: r for r in view.ratios}
    wanted = list(view_selection.features)
    names = [f for f in wanted if f in outputs] + [p for f in wanted if f in ratios for p in (ratios[f].numerator, ratios[f].denominator)]
    return [outputs[name] for name in dict.fromkeys(names)]


def reach_us(view: FeatureView) -> int:
    """How far before an entity row's time its earliest window can start, in µs."""
    return max(o.window_seconds + o.hop_seconds for o in view.aggregation_outputs()) * MICROS


def value_column(column: str) -> str:
    """A source column's name in the event stream (a join key may be aggregated too)."""
    return q(f"__v_{column}")


def aggregation_ctes(view_selection: ViewSelection, entity: str, events: str, name: Callable[[str], str]) -> tuple[list[Cte], Projection]:
    """CTEs over the event stream ``events`` (a relation with the view's keys, ``__ts``, ``__seq``
    and :func:`value_column` columns) and the final projection. ``name(suffix)`` is the name a
    CTE gets; the one with a join condition is joined to the entity rows."""
    view = view_selection.view
    outputs = {o.name: o for o in view.aggregation_outputs()}
    ratios = {r.name: r for r in view.ratios}
    needed = needed_outputs(view_selection)
    key_names = list(view.join_keys)
    keys = ", ".join(q(k) for k in key_names)
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in key_names)
    frames = sorted({(o.window_seconds, o.hop_seconds) for o in needed})

    # Probe points: each entity time (a row the windows are read at) and each window start.
    points = [f"SELECT {keys}, __ts AS __pts, TRUE AS __label FROM {entity} WHERE {not_null}"] + [
        f"SELECT {keys}, {window_start_sql('__ts', w, h)} AS __pts, FALSE AS __label FROM {entity} WHERE {not_null}" for w, h in frames
    ]
    probes = f"SELECT {keys}, __pts, bool_or(__label) AS __label FROM (\n  {' UNION ALL '.join(points)}\n) p GROUP BY {keys}, __pts"

    partials = _partials(needed)
    on_keys = " AND ".join(f"ev.{q(k)} = p.{q(k)}" for k in key_names)
    segments = (
        f"SELECT {', '.join(f'p.{q(k)}' for k in key_names)}, p.__pts, {', '.join(f'{sql} AS {name}' for name, sql in partials.items())}\n"
        f"  FROM {events} ev ASOF JOIN (SELECT {keys}, __pts FROM {name('p')}) p ON {on_keys} AND ev.__ts < p.__pts\n"
        f"  GROUP BY {', '.join(f'p.{q(k)}' for k in key_names)}, p.__pts"
    )
    using = ", ".join([*(q(k) for k in key_names), "__pts"])
    grid = f"SELECT * FROM {name('p')} p LEFT JOIN ({segments}) s USING ({using})"
    # The frame of a window [start, t): probe points in (start, t], i.e. from start + 1 on.
    windows = ",\n  ".join(
        f"w_{w}_{h} AS (PARTITION BY {keys} ORDER BY __pts "
        f"RANGE BETWEEN (__pts - {window_start_sql('__pts', w, h)} - 1) PRECEDING AND CURRENT ROW)"
        for w, h in frames
    )
    columns = _window_columns(needed)
    selected = ", ".join(f"{e} AS {n}" for n, e in columns.items())
    sql = f"SELECT {keys}, __pts, {selected}\nFROM {name('g')} g\nWINDOW {windows}\nQUALIFY __label"
    on = " AND ".join([*(f"{{t}}.{q(k)} = e.{q(k)}" for k in key_names), "{t}.__pts = e.__ts"])
    ctes: list[Cte] = [("p", probes, ""), ("g", grid, ""), ("", sql, on)]

    def project(alias: Callable[[str], str]) -> list[tuple[str, str]]:
        def value(output: str) -> str:
            return _finish(outputs[output], _expression(outputs[output]).replace("{t}", alias("")))

        result = []
        for feature in view_selection.features:
            if feature in outputs:
                result.append((view_selection.column(feature), value(feature)))
            else:
                num, den = value(ratios[feature].numerator), value(ratios[feature].denominator)
                result.append(
                    (view_selection.column(feature), f"CASE WHEN ({den}) = 0 THEN NULL ELSE CAST(({num}) AS DOUBLE) / ({den}) END")
                )
        return result

    return ctes, project


def _partials(outputs: list[AggregationOutput]) -> dict[str, str]:
    """Per (key, probe point): what the outputs need of each column's events in the segment."""
    partials: dict[str, str] = {}
    for o in outputs:
        v = value_column(o.column)
        if o.function in ("count", "sum", "mean"):
            partials[q("__s_" + o.column)] = f"sum({v})"
            partials[q("__n_" + o.column)] = f"count({v})"
        elif o.function in ("min", "max"):
            partials[q(f"__{o.function}_" + o.column)] = f"{o.function}({v})"
        elif o.function == "last":  # the segment's latest non-null value: latest time, then latest write
            partials[q("__l_" + o.column)] = f"max(struct_pack(t := __ts, s := __seq, v := {v})) FILTER (WHERE {v} IS NOT NULL)"
        elif o.function == "last_n":
            n = max(x.n or 0 for x in outputs if x.function == "last_n" and x.column == o.column)
            partials[q("__ln_" + o.column)] = f"list_slice(list({v} ORDER BY __ts DESC, __seq DESC) FILTER (WHERE {v} IS NOT NULL), 1, {n})"
        else:
            raise ValueError(f"unknown aggregation function {o.function!r}")
    return partials


def _window_columns(outputs: list[AggregationOutput]) -> dict[str, str]:
    """Each output's framed aggregate over the segments of its window (internal column names)."""
    columns: dict[str, str] = {}
    for o in outputs:
        frame, c = f"w_{o.window_seconds}_{o.hop_seconds}", o.column
        if o.function in ("count", "sum", "mean"):
            columns[q(f"__n_{frame}_{c}")] = f"sum({q('__n_' + c)}) OVER {frame}"
            columns[q(f"__s_{frame}_{c}")] = f"sum({q('__s_' + c)}) OVER {frame}"
        elif o.function in ("min", "max"):
            columns[q(f"__{o.function}_{frame}_{c}")] = f"{o.function}({q(f'__{o.function}_' + c)}) OVER {frame}"
        elif o.function == "last":  # segments are in time order: the last one with a value has the latest
            columns[q(f"__l_{frame}_{c}")] = f"last_value({q('__l_' + c)} IGNORE NULLS) OVER {frame}"
        else:  # last_n: the segments' lists, newest segment first, joined
            columns[q(f"__ln_{frame}_{c}")] = (
                f"flatten(list({q('__ln_' + c)} ORDER BY __pts DESC) FILTER (WHERE {q('__ln_' + c)} IS NOT NULL) OVER {frame})"
            )
    return columns


def _expression(o: AggregationOutput) -> str:
    """An output's value from the framed columns of the CTE aliased ``{t}`` (NULL: no row joined)."""
    frame, c = f"w_{o.window_seconds}_{o.hop_seconds}", o.column
    count, total = f"{{t}}.{q(f'__n_{frame}_{c}')}", f"{{t}}.{q(f'__s_{frame}_{c}')}"
    if o.function == "count":
        return f"CAST({count} AS BIGINT)"
    if o.function == "sum":
        return f"CASE WHEN {count} > 0 THEN {total} END"
    if o.function == "mean":
        return f"CASE WHEN {count} > 0 THEN CAST({total} AS DOUBLE) / {count} END"
    if o.function in ("min", "max"):
        return f"{{t}}.{q(f'__{o.function}_{frame}_{c}')}"
    if o.function == "last":
        return f"{{t}}.{q(f'__l_{frame}_{c}')}.v"
    return f"list_slice({{t}}.{q(f'__ln_{frame}_{c}')}, 1, {o.n})"


def _finish(output: AggregationOutput, expression: str) -> str:
    """Each function's empty value and declared type (rows absent from the join included)."""
    if output.function == "count":
        return f"COALESCE({expression}, 0)"
    if output.function == "sum":
        return f"CAST(COALESCE({expression}, 0) AS {'BIGINT' if output.dtype == Int64 else 'DOUBLE'})"
    if output.function == "last_n":
        return f"COALESCE({expression}, [])"
    if output.function in ("min", "max", "last") and output.dtype == Float32:
        return f"CAST({expression} AS FLOAT)"
    if output.function == "mean" or output.dtype == Float64:
        return f"CAST({expression} AS DOUBLE)"
    return expression
