"""Windowed aggregations at each entity row's time, as SQL (pure; shared by the engines).

Two plans, chosen per output:

- *Running sums* for count, sum, mean and last. The entity rows become probe rows, at their
  time ``t`` and at each window start ``floor_h(t - W)``, sorted into the events of the same key
  (a probe sorts before events at its own time). One pass of running totals over that stream
  gives, at each probe, the total of every event strictly before it; a window is then
  ``total(t) - total(start)``, and ``last`` is the latest non-null event before ``t`` if it is not
  before the start. Cost: one sort of events + probes, O(1) per row per column, independent of
  the number of windows. Integer totals are exact; float totals lose at most ~1e-16 x the
  key's all-time total, far below 1e-9 of a window's value for non-negative data.
- *Sliding frames* for min, max and last_n, which running totals cannot give: each window is a
  frame whose start varies per row over the same sorted stream (a segment tree per frame).
"""

from __future__ import annotations

from collections.abc import Callable

from skewless.aggregation.windows import MICROS, window_start_sql
from skewless.definitions.aggregation import AggregationOutput
from skewless.definitions.selection import ViewSelection
from skewless.definitions.types import Float32, Float64, Int64
from skewless.offline.sql_text import q

RUNNING = ("count", "sum", "mean", "last")
# Given a CTE's suffix, its alias in the final SELECT; returns (column, SQL expression) pairs.
Projection = Callable[[Callable[[str], str]], list[tuple[str, str]]]


def aggregation_ctes(view_selection: ViewSelection, entity: str, relation: str) -> tuple[list[tuple[str, str]], Projection]:
    """CTEs (suffix, SQL) each returning ``__row`` and internal columns, and the final projection."""
    view = view_selection.view
    outputs = {o.name: o for o in view.aggregation_outputs()}
    ratios = {r.name: r for r in view.ratios}
    wanted = list(view_selection.features)
    needed = [
        outputs[f]
        for f in dict.fromkeys(
            [f for f in wanted if f in outputs] + [p for f in wanted if f in ratios for p in (ratios[f].numerator, ratios[f].denominator)]
        )
    ]
    keys = ", ".join(q(k) for k in view.join_keys)
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in view.join_keys)
    events = _events(view_selection, entity, relation, keys, not_null, needed)
    running = [o for o in needed if o.function in RUNNING]
    sliding = [o for o in needed if o.function not in RUNNING]
    ctes: list[tuple[str, str]] = []
    expressions: dict[str, tuple[str, str]] = {}  # output name -> (cte suffix, expression over that cte)
    if running:
        sql, exprs = _running(running, entity, events, keys, not_null)
        ctes.append(("r", sql))
        expressions.update({name: ("r", e) for name, e in exprs.items()})
    if sliding:
        sql, exprs = _sliding(sliding, entity, events, keys, not_null)
        ctes.append(("s", sql))
        expressions.update({name: ("s", e) for name, e in exprs.items()})

    def project(alias: Callable[[str], str]) -> list[tuple[str, str]]:
        def value(name: str) -> str:
            suffix, expression = expressions[name]
            return _finish(outputs[name], expression.replace("{t}", alias(suffix)))

        result = []
        for feature in wanted:
            if feature in outputs:
                result.append((view_selection.column(feature), value(feature)))
            else:
                num, den = value(ratios[feature].numerator), value(ratios[feature].denominator)
                result.append(
                    (view_selection.column(feature), f"CASE WHEN ({den}) = 0 THEN NULL ELSE CAST(({num}) AS DOUBLE) / ({den}) END")
                )
        return result

    return ctes, project


def _events(view_selection: ViewSelection, entity: str, relation: str, keys: str, not_null: str, needed: list[AggregationOutput]) -> str:
    """The view's events, each event id once (its first write), limited to the keys and time
    range the entity rows can see; values renamed ``__v_<column>`` (a key may be aggregated too)."""
    view = view_selection.view
    columns = list(dict.fromkeys(o.column for o in needed))
    reach = max(o.window_seconds + o.hop_seconds for o in view.aggregation_outputs()) * MICROS
    event_id = view.source.event_id_field
    source = (
        f"(SELECT * EXCLUDE (__first) FROM (SELECT *, row_number() OVER (PARTITION BY {q(event_id)} ORDER BY __seq) AS __first "
        f"FROM {relation} src) d WHERE __first = 1)"
        if event_id
        else relation
    )
    values = ", ".join(f"{q(c)} AS {_value(c)}" for c in columns)
    return (
        f"SELECT {keys}, __ts, __seq, {values} FROM {source} ev\n"
        f"  WHERE {not_null} AND __ts < (SELECT max(__ts) FROM {entity})\n"
        f"    AND __ts >= (SELECT min(__ts) FROM {entity}) - {reach}\n"
        f"    AND ({keys}) IN (SELECT ({keys}) FROM {entity})"
    )


def _running(outputs: list[AggregationOutput], entity: str, events: str, keys: str, not_null: str) -> tuple[str, dict[str, str]]:
    starts = sorted({(o.window_seconds, o.hop_seconds) for o in outputs})
    probes = [f"SELECT {keys}, __row, __ts AS __pts, 0 AS __w FROM {entity} WHERE {not_null}"] + [
        f"SELECT {keys}, __row, {window_start_sql('__ts', w, h)} AS __pts, {i} AS __w FROM {entity} WHERE {not_null}"
        for i, (w, h) in enumerate(starts, start=1)
    ]
    columns = list(dict.fromkeys(o.column for o in outputs))
    lasts = list(dict.fromkeys(o.column for o in outputs if o.function == "last"))
    nulls = ", ".join(f"NULL AS {_value(c)}" for c in columns)
    totals = [f"sum({_value(c)}) OVER run AS {q('__s_' + c)}, count({_value(c)}) OVER run AS {q('__n_' + c)}" for c in columns]
    totals += [
        f"last_value(CASE WHEN {_value(c)} IS NOT NULL THEN struct_pack(t := __ts, v := {_value(c)}) END IGNORE NULLS) "
        f"OVER run AS {q('__l_' + c)}"
        for c in lasts
    ]
    pivots = ["first(__pts) FILTER (WHERE __w = 0) AS __t"]
    for c in columns:
        for i in range(len(starts) + 1):
            pivots.append(f"first({q('__s_' + c)}) FILTER (WHERE __w = {i}) AS {q(f'__s{i}_{c}')}")
            pivots.append(f"first({q('__n_' + c)}) FILTER (WHERE __w = {i}) AS {q(f'__n{i}_{c}')}")
    pivots += [f"first({q('__l_' + c)}) FILTER (WHERE __w = 0) AS {q('__l_' + c)}" for c in lasts]
    sql = (
        f"SELECT __row, {', '.join(pivots)} FROM (\n"
        f"  SELECT __row, __w, __ts AS __pts, {', '.join(totals)}\n"
        f"  FROM (\n"
        f"    SELECT {keys}, __pts AS __ts, 0 AS __event, NULL::BIGINT AS __seq, __row, __w, {nulls}\n"
        f"    FROM ({' UNION ALL '.join(probes)}) p\n"
        f"    UNION ALL BY NAME\n"
        f"    SELECT *, 1 AS __event, NULL::BIGINT AS __row, NULL::INTEGER AS __w FROM ({events}) e\n"
        f"  ) stream\n"
        f"  WINDOW run AS (PARTITION BY {keys} ORDER BY __ts, __event, __seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)\n"
        f"  QUALIFY __event = 0\n"
        f") totals GROUP BY __row"
    )
    expressions = {}
    for o in outputs:
        i = starts.index((o.window_seconds, o.hop_seconds)) + 1
        c = o.column
        total = f"(COALESCE({{t}}.{q(f'__s0_{c}')}, 0) - COALESCE({{t}}.{q(f'__s{i}_{c}')}, 0))"
        count = f"(COALESCE({{t}}.{q(f'__n0_{c}')}, 0) - COALESCE({{t}}.{q(f'__n{i}_{c}')}, 0))"
        if o.function == "count":
            expressions[o.name] = count
        elif o.function == "sum":
            expressions[o.name] = f"CASE WHEN {count} = 0 THEN 0 ELSE {total} END"  # no float residue from an empty window
        elif o.function == "mean":
            expressions[o.name] = f"CASE WHEN {count} = 0 THEN NULL ELSE CAST({total} AS DOUBLE) / {count} END"
        else:  # last: the latest non-null value before t, if the window still covers it
            last = f"{{t}}.{q('__l_' + c)}"
            expressions[o.name] = f"CASE WHEN {last}.t >= {window_start_sql('{t}.__t', o.window_seconds, o.hop_seconds)} THEN {last}.v END"
    return sql, expressions


def _sliding(outputs: list[AggregationOutput], entity: str, events: str, keys: str, not_null: str) -> tuple[str, dict[str, str]]:
    columns = list(dict.fromkeys(o.column for o in outputs))
    nulls = ", ".join(f"NULL AS {_value(c)}" for c in columns)
    labels = f"SELECT {keys}, __ts, NULL::BIGINT AS __seq, {nulls}, __row FROM {entity} WHERE {not_null}"
    frames = sorted({(o.window_seconds, o.hop_seconds) for o in outputs})
    windows = ",\n  ".join(
        f"w_{w}_{h} AS (PARTITION BY {keys} ORDER BY __ts "
        f"RANGE BETWEEN (__ts - {window_start_sql('__ts', w, h)}) PRECEDING AND 1 PRECEDING)"
        for w, h in frames
    )
    aggregates = ", ".join(f"{_frame_aggregate(o)} AS {q('__a_' + o.name)}" for o in outputs)
    sql = (
        f"SELECT __row, {aggregates}\nFROM (\n  {labels}\n  UNION ALL BY NAME\n  SELECT *, NULL::BIGINT AS __row FROM ({events}) e\n) u\n"
        f"WINDOW {windows}\nQUALIFY __row IS NOT NULL"
    )
    return sql, {o.name: f"{{t}}.{q('__a_' + o.name)}" for o in outputs}


def _value(column: str) -> str:
    return q(f"__v_{column}")


def _frame_aggregate(output: AggregationOutput) -> str:
    column, frame = _value(output.column), f"w_{output.window_seconds}_{output.hop_seconds}"
    if output.function in ("min", "max"):
        return f"{output.function}({column}) OVER {frame}"
    if output.function == "last_n":
        return f"list({column} ORDER BY __ts DESC, __seq DESC) FILTER (WHERE {column} IS NOT NULL) OVER {frame}"
    raise ValueError(f"{output.function!r} is computed from running totals")


def _finish(output: AggregationOutput, expression: str) -> str:
    """Each function's empty value and declared type (rows absent from the join included)."""
    if output.function == "count":
        return f"COALESCE({expression}, 0)"
    if output.function == "sum":
        return f"CAST(COALESCE({expression}, 0) AS {'BIGINT' if output.dtype == Int64 else 'DOUBLE'})"
    if output.function == "last_n":
        return f"COALESCE(list_slice({expression}, 1, {output.n}), [])"
    if output.function in ("min", "max", "last") and output.dtype == Float32:
        return f"CAST({expression} AS FLOAT)"
    if output.dtype == Float64:
        return f"CAST({expression} AS DOUBLE)"
    return expression
