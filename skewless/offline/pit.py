"""Point-in-time-correct feature SQL, built without I/O.

Inputs are two kinds of relation, named by the caller:

- the *entity* relation: the caller's rows plus ``__row`` (their position) and ``__ts`` (their
  time, BIGINT µs since the epoch, UTC);
- one *source* relation per source (see :func:`source_relation_sql`): its columns plus ``__ts``
  (event time, µs), ``__created`` (created time, µs, or NULL) and ``__seq`` (write order).

Semantics (docs/offline.md spells them out; tests/offline compare them to a brute-force oracle):

- Snapshot view: the latest source row with the same keys and ``__ts <= t``; ties on ``__ts``
  go to the later created time (NULL first), then to the later write; older than ``ttl`` is NULL.
  An ASOF join over the source de-duplicated per (keys, time): never every row against every row.
- Aggregation view: events with the same keys and ``floor_h(t - W) <= ts < t``, each event id
  once (its first write). One sort of labels and events together per view; each window is a
  frame whose start varies per row (``windows.window_start_sql``). NULL values are ignored by
  every function; count and sum of an empty window are 0, last_n an empty list, the rest NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from skewless.aggregation.windows import MICROS, window_start_sql
from skewless.definitions.aggregation import AggregationOutput
from skewless.definitions.selection import FeatureSelection, ViewSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.definitions.types import Float32, Float64, Int64

# Given the alias of a view's CTE, the (column, SQL expression) pairs the final SELECT reads.
Projection = Callable[[str], list[tuple[str, str]]]


def q(identifier: str) -> str:
    """Quote an identifier (names are validated identifiers; quoting keeps keywords safe)."""
    return '"' + identifier.replace('"', '""') + '"'


def source_relation_sql(source: BatchSource | StreamSource, scan: str, *, write_seq: str = "_write_seq") -> str:
    """Normalize a scan of a source's table to the columns the point-in-time SQL reads."""
    columns = ", ".join(q(f.name) for f in source.schema)
    created = f"epoch_us({q(source.created_timestamp_field)})" if source.created_timestamp_field else "NULL::BIGINT"
    return f"SELECT {columns}, epoch_us({q(source.timestamp_field)}) AS __ts, {created} AS __created, {q(write_seq)} AS __seq FROM {scan}"


def point_in_time_sql(selection: FeatureSelection, *, entity: str, sources: Mapping[str, str]) -> str:
    """One query returning ``__row`` and every view feature column of ``selection``."""
    ctes: list[str] = []
    joins: list[str] = []
    projections: list[str] = []
    for index, view_selection in enumerate(selection.views):
        view = view_selection.view
        relation = f"({sources[view.source.name]})"
        name = f"v{index}"
        if view.is_aggregation:
            sql, columns = _aggregation_cte(view_selection, entity, relation)
        else:
            sql, columns = _snapshot_cte(view_selection, entity, relation)
        ctes.append(f"{name} AS (\n{sql}\n)")
        joins.append(f"LEFT JOIN {name} ON {name}.__row = e.__row")
        projections.extend(f"{expression} AS {q(column)}" for column, expression in columns(name))
    with_clause = "WITH " + ",\n".join(ctes) + "\n" if ctes else ""
    select = ", ".join(["e.__row", *projections])
    return f"{with_clause}SELECT {select}\nFROM {entity} e\n" + "\n".join(joins) + "\nORDER BY e.__row"


def _keys(view_selection: ViewSelection) -> list[str]:
    return list(view_selection.view.join_keys)


def _snapshot_cte(view_selection: ViewSelection, entity: str, relation: str) -> tuple[str, Projection]:
    view = view_selection.view
    keys = _keys(view_selection)
    features = list(view_selection.features)
    key_list = ", ".join(q(k) for k in keys)
    feature_list = ", ".join(q(f) for f in features)
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in keys)
    latest_per_time = (
        f"SELECT {key_list}, __ts, {feature_list} FROM (\n"
        f"  SELECT {key_list}, __ts, {feature_list}, row_number() OVER (\n"
        f"    PARTITION BY {key_list}, __ts ORDER BY __created DESC NULLS LAST, __seq DESC) AS __rank\n"
        f"  FROM {relation} src WHERE {not_null}\n"
        f") ranked WHERE __rank = 1"
    )
    on = " AND ".join(f"e.{q(k)} = s.{q(k)}" for k in keys)
    fresh = "TRUE" if view.ttl_seconds is None else f"s.__ts >= e.__ts - {view.ttl_seconds * MICROS}"
    columns = ", ".join(f"CASE WHEN {fresh} THEN s.{q(f)} END AS {q(view_selection.column(f))}" for f in features)
    sql = f"SELECT e.__row, {columns}\nFROM {entity} e ASOF LEFT JOIN ({latest_per_time}) s\n  ON {on} AND e.__ts >= s.__ts"

    def project(name: str) -> list[tuple[str, str]]:
        return [(view_selection.column(f), f"{name}.{q(view_selection.column(f))}") for f in features]

    return sql, project


def _aggregation_cte(view_selection: ViewSelection, entity: str, relation: str) -> tuple[str, Projection]:
    view = view_selection.view
    keys = _keys(view_selection)
    outputs = {o.name: o for o in view.aggregation_outputs()}
    ratios = {r.name: r for r in view.ratios}
    wanted = list(view_selection.features)
    computed = list(
        dict.fromkeys(
            [f for f in wanted if f in outputs]
            + [part for f in wanted if f in ratios for part in (ratios[f].numerator, ratios[f].denominator)]
        )
    )
    columns = list(dict.fromkeys(outputs[f].column for f in computed))
    key_list = ", ".join(q(k) for k in keys)
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in keys)
    max_reach = max(o.window_seconds + o.hop_seconds for o in outputs.values()) * MICROS
    event_id = view.source.event_id_field
    dedup = (
        f"SELECT * EXCLUDE (__first) FROM (SELECT *, row_number() OVER (PARTITION BY {q(event_id)} ORDER BY __seq) AS __first "
        f"FROM {relation} src) d WHERE __first = 1"
        if event_id
        else f"SELECT * FROM {relation} src"
    )
    events = (
        f"SELECT {key_list}, __ts, __seq, {', '.join(f'{q(c)} AS {_value(c)}' for c in columns)}, NULL::BIGINT AS __row\n"
        f"  FROM ({dedup}) ev\n"
        f"  WHERE {not_null}\n"
        f"    AND __ts < (SELECT max(__ts) FROM {entity})\n"
        f"    AND __ts >= (SELECT min(__ts) FROM {entity}) - {max_reach}\n"
        f"    AND ({key_list}) IN (SELECT ({key_list}) FROM {entity})"
    )
    labels = (
        f"SELECT {key_list}, __ts, NULL::BIGINT AS __seq, "
        + ", ".join(f"NULL AS {_value(c)}" for c in columns)
        + f", __row FROM {entity} WHERE {not_null} AND __ts IS NOT NULL"
    )
    frames = {(o.window_seconds, o.hop_seconds) for o in (outputs[f] for f in computed)}
    window_defs = ",\n  ".join(
        f"w_{w}_{h} AS (PARTITION BY {key_list} ORDER BY __ts "
        f"RANGE BETWEEN (__ts - {window_start_sql('__ts', w, h)}) PRECEDING AND 1 PRECEDING)"
        for w, h in sorted(frames)
    )
    aggregates = ", ".join(f"{_window_aggregate(outputs[f])} AS {q(view_selection.column(f))}" for f in computed)
    sql = (
        f"SELECT __row, {aggregates}\nFROM (\n  {labels}\n  UNION ALL BY NAME\n  {events}\n) u\n"
        f"WINDOW {window_defs}\nQUALIFY __row IS NOT NULL"
    )

    def project(name: str) -> list[tuple[str, str]]:
        result = []
        for feature in wanted:
            if feature in outputs:
                result.append((view_selection.column(feature), _finish(outputs[feature], f"{name}.{q(view_selection.column(feature))}")))
            else:
                ratio = ratios[feature]
                num = _finish(outputs[ratio.numerator], f"{name}.{q(view_selection.column(ratio.numerator))}")
                den = _finish(outputs[ratio.denominator], f"{name}.{q(view_selection.column(ratio.denominator))}")
                result.append(
                    (view_selection.column(feature), f"CASE WHEN ({den}) = 0 THEN NULL ELSE CAST(({num}) AS DOUBLE) / ({den}) END")
                )
        return result

    return sql, project


def _value(column: str) -> str:
    """Aggregated values travel under their own name: a join key may be aggregated too."""
    return q(f"__v_{column}")


def _window_aggregate(output: AggregationOutput) -> str:
    column, frame = _value(output.column), f"w_{output.window_seconds}_{output.hop_seconds}"
    if output.function == "count":
        return f"count({column}) OVER {frame}"
    if output.function == "sum":
        return f"sum({column}) OVER {frame}"
    if output.function == "mean":
        return f"avg({column}) OVER {frame}"
    if output.function in ("min", "max"):
        return f"{output.function}({column}) OVER {frame}"
    if output.function == "last":
        return f"arg_max({column}, struct_pack(t := __ts, s := __seq)) FILTER (WHERE {column} IS NOT NULL) OVER {frame}"
    if output.function == "last_n":
        return f"list({column} ORDER BY __ts DESC, __seq DESC) FILTER (WHERE {column} IS NOT NULL) OVER {frame}"
    raise ValueError(f"unknown aggregation function {output.function!r}")


def _finish(output: AggregationOutput, expression: str) -> str:
    """Empty windows (and rows absent from the join) get each function's empty value and type."""
    if output.function == "count":
        return f"COALESCE({expression}, 0)"
    if output.function == "sum":
        sql_type = "BIGINT" if output.dtype == Int64 else "DOUBLE"
        return f"CAST(COALESCE({expression}, 0) AS {sql_type})"
    if output.function == "last_n":
        return f"COALESCE(list_slice({expression}, 1, {output.n}), [])"
    if output.function in ("min", "max", "last") and output.dtype == Float32:
        return f"CAST({expression} AS FLOAT)"
    if output.dtype == Float64:
        return f"CAST({expression} AS DOUBLE)"
    return expression


def selected_sources(selection: FeatureSelection) -> Sequence[BatchSource | StreamSource]:
    """The sources a selection reads, each once."""
    return list({v.view.source.name: v.view.source for v in selection.views}.values())
