"""Windowed aggregations at each entity row's time, as SQL (pure; shared by the engines).

The plan, per view, cuts each key's timeline at its *probe points*: every entity row's time ``t``
and every window start ``floor_h(t - W)`` it needs. Then:

1. *Segments*: each event goes to the first probe point strictly after it (an ASOF join; a probe
   sorts before events at its own time), and one hash aggregate folds the events of each
   (key, probe point) into partials: sum and count per column, min, max, the latest non-null
   value, the latest ``n`` values. Events after a key's last probe point join nothing and drop.
2. *Totals per probe point*, one window pass over the probe points (a few per entity row, often a
   hundred times fewer rows than events): running totals of the partials, which at a probe point
   cover every event before it, and for min, max and last_n a ``RANGE`` frame from ``start + 1``
   to the current point: a window ``[start, t)`` is exactly the segments whose probe point lies
   in ``(start, t]``, because both ends are probe points.
3. *Back to entity rows*: one hash join on (keys, time) at ``t`` and one per window start; count,
   sum and mean are ``total(t) - total(start)``, last is the latest value before ``t`` if it is
   not before the start.

Integer totals are exact; float totals lose at most ~1e-16 x the key's all-time total, far
below 1e-9 of a window's value for non-negative data, and an empty window's float sum is zeroed
by its count. Which events the view sees is decided upstream: ``pit.event_stream_ctes``
de-duplicates each source once per query (each event id's first write) and bounds it in time.
"""

from __future__ import annotations

from collections.abc import Callable

from skewless.aggregation.windows import MICROS, window_start_sql
from skewless.definitions.aggregation import AggregationOutput
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.selection import ViewSelection
from skewless.definitions.types import Float32, Float64, Int64
from skewless.offline.sql_text import q

RUNNING = ("count", "sum", "mean", "last")
# Given the alias function of a view, its (column, SQL expression) pairs in the final SELECT.
Projection = Callable[[Callable[[str], str]], list[tuple[str, str]]]
# A view's CTEs as (name, body after AS), its LEFT JOINs as (alias, CTE, condition on ``{t}``
# (the alias) and ``e`` (the entity rows)), and its projection.
ViewPlan = tuple[list[tuple[str, str]], list[tuple[str, str, str]], Projection]


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


def aggregation_ctes(view_selection: ViewSelection, entity: str, events: str, name: Callable[[str], str]) -> ViewPlan:
    """The view's CTEs over the event stream ``events`` (a relation with the view's keys,
    ``__ts``, ``__seq`` and :func:`value_column` columns), its joins to the entity rows ``e``
    and the final projection. ``name(suffix)`` names a CTE or a join alias."""
    view = view_selection.view
    outputs = {o.name: o for o in view.aggregation_outputs()}
    ratios = {r.name: r for r in view.ratios}
    needed = needed_outputs(view_selection)
    key_names = list(view.join_keys)
    keys = ", ".join(q(k) for k in key_names)
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in key_names)
    starts = sorted({(o.window_seconds, o.hop_seconds) for o in needed})

    # Probe points: each entity time (where the windows are read) and each window start.
    points = [f"SELECT {keys}, __ts AS __pts FROM {entity} WHERE {not_null}"] + [
        f"SELECT {keys}, {window_start_sql('__ts', w, h)} AS __pts FROM {entity} WHERE {not_null}" for w, h in starts
    ]
    probes = f"SELECT DISTINCT {keys}, __pts FROM (\n  {' UNION ALL '.join(points)}\n) p"

    partials = _partials(needed)
    grouped = ", ".join([*(f"p.{q(k)}" for k in key_names), "p.__pts"])
    on_keys = " AND ".join(f"ev.{q(k)} = p.{q(k)}" for k in key_names)
    segments = (
        f"SELECT {grouped}, {', '.join(f'{sql} AS {column}' for column, sql in partials.items())}\n"
        f"  FROM {events} ev ASOF JOIN {name('p')} p ON {on_keys} AND ev.__ts < p.__pts\n"
        f"  GROUP BY {grouped}"
    )
    using = ", ".join([*(q(k) for k in key_names), "__pts"])
    windows = [f"run AS (PARTITION BY {keys} ORDER BY __pts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"]
    # The frame of a window [start, t): the probe points in (start, t], i.e. from start + 1 on.
    windows += [
        f"w_{w}_{h} AS (PARTITION BY {keys} ORDER BY __pts "
        f"RANGE BETWEEN (__pts - {window_start_sql('__pts', w, h)} - 1) PRECEDING AND CURRENT ROW)"
        for w, h in sorted({(o.window_seconds, o.hop_seconds) for o in needed if o.function not in RUNNING})
    ]
    columns = ", ".join(f"{sql} AS {column}" for column, sql in _window_columns(needed).items())
    specs = ",\n  ".join(windows)
    totals = f"SELECT {keys}, __pts, {columns}\nFROM {name('p')} p LEFT JOIN ({segments}) s USING ({using})\nWINDOW {specs}"
    ctes = [(name("p"), f"MATERIALIZED (\n{probes}\n)"), (name("c"), f"MATERIALIZED (\n{totals}\n)")]
    # The totals at t (alias name("")) and at each window start (name("1"), ...): the pivot back
    # to entity rows is one hash join per probe point, each on (keys, time).
    keys_on = [f"{{t}}.{q(k)} = e.{q(k)}" for k in key_names]
    joins = [(name(""), name("c"), " AND ".join([*keys_on, "{t}.__pts = e.__ts"]))]
    if any(o.function in RUNNING for o in needed):
        joins += [
            (name(str(i)), name("c"), " AND ".join([*keys_on, f"{{t}}.__pts = {window_start_sql('e.__ts', w, h)}"]))
            for i, (w, h) in enumerate(starts, start=1)
        ]

    def project(alias: Callable[[str], str]) -> list[tuple[str, str]]:
        def value(output: str) -> str:
            o = outputs[output]
            start = str(starts.index((o.window_seconds, o.hop_seconds)) + 1)
            return _finish(o, _expression(o, alias(""), alias(start)))

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

    return ctes, joins, project


def _needs_count(o: AggregationOutput) -> bool:
    # An integer sum of an empty window is exactly 0; a float one may leave a residue, zeroed by the count.
    return o.function in ("count", "mean") or (o.function == "sum" and o.dtype != Int64)


def _partials(outputs: list[AggregationOutput]) -> dict[str, str]:
    """Per (key, probe point): what the outputs need of each column's events in the segment."""
    partials: dict[str, str] = {}
    for o in outputs:
        v = value_column(o.column)
        if o.function in ("count", "sum", "mean"):
            if o.function != "count":
                partials[q("__s_" + o.column)] = f"sum({v})"
            if _needs_count(o):
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
    """Per probe point: running totals (everything before it) and the framed aggregates."""
    columns: dict[str, str] = {}
    for o in outputs:
        frame, c = f"w_{o.window_seconds}_{o.hop_seconds}", o.column
        if o.function in ("count", "sum", "mean"):
            if o.function != "count":
                columns[q("__s_" + c)] = f"sum({q('__s_' + c)}) OVER run"
            if _needs_count(o):
                # Counts fit BIGINT; sum() would widen them to HUGEINT, doubling what is kept per probe point.
                columns[q("__n_" + c)] = f"CAST(sum({q('__n_' + c)}) OVER run AS BIGINT)"
        elif o.function == "last":  # segments are in time order: the last one with a value has the latest
            columns[q("__l_" + c)] = f"last_value({q('__l_' + c)} IGNORE NULLS) OVER run"
        elif o.function in ("min", "max"):
            columns[q(f"__{o.function}_{frame}_{c}")] = f"{o.function}({q(f'__{o.function}_' + c)}) OVER {frame}"
        else:  # last_n: the segments' lists, newest segment first, joined
            lists = q("__ln_" + c)
            columns[q(f"__ln_{frame}_{c}")] = f"flatten(list({lists} ORDER BY __pts DESC) FILTER (WHERE {lists} IS NOT NULL) OVER {frame})"
    return columns


def _expression(o: AggregationOutput, at: str, before: str) -> str:
    """An output's value from the totals at the entity time (alias ``at``) and at its window
    start (``before``); NULL where no row joined."""
    frame, c = f"w_{o.window_seconds}_{o.hop_seconds}", o.column

    def window(prefix: str) -> str:
        return f"(COALESCE({at}.{q(prefix + c)}, 0) - COALESCE({before}.{q(prefix + c)}, 0))"

    if o.function == "count":
        return window("__n_")
    if o.function == "sum":
        return window("__s_") if o.dtype == Int64 else f"CASE WHEN {window('__n_')} = 0 THEN 0 ELSE {window('__s_')} END"
    if o.function == "mean":
        return f"CASE WHEN {window('__n_')} = 0 THEN NULL ELSE CAST({window('__s_')} AS DOUBLE) / {window('__n_')} END"
    if o.function == "last":  # the latest value before t, if the window still covers it
        last = f"{at}.{q('__l_' + c)}"
        return f"CASE WHEN {last}.t >= {window_start_sql('e.__ts', o.window_seconds, o.hop_seconds)} THEN {last}.v END"
    if o.function in ("min", "max"):
        return f"{at}.{q(f'__{o.function}_{frame}_{c}')}"
    return f"list_slice({at}.{q(f'__ln_{frame}_{c}')}, 1, {o.n})"


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
