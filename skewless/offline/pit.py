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
  once (its first write); see ``pit_aggregation`` for how. NULL values are ignored by every
  function; count and sum of an empty window are 0, last_n an empty list, the rest NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from skewless.aggregation.windows import MICROS
from skewless.definitions.selection import FeatureSelection, ViewSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.offline.pit_aggregation import Projection, aggregation_ctes
from skewless.offline.sql_text import q


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
        if view.is_aggregation:
            parts, project = aggregation_ctes(view_selection, entity, relation)
        else:
            parts, project = _snapshot_cte(view_selection, entity, relation)
        for suffix, sql in parts:
            name = f"v{index}{suffix}"
            ctes.append(f"{name} AS (\n{sql}\n)")
            joins.append(f"LEFT JOIN {name} ON {name}.__row = e.__row")
        projections.extend(f"{expression} AS {q(column)}" for column, expression in project(_aliases(index)))
    with_clause = "WITH " + ",\n".join(ctes) + "\n" if ctes else ""
    select = ", ".join(["e.__row", *projections])
    return f"{with_clause}SELECT {select}\nFROM {entity} e\n" + "\n".join(joins) + "\nORDER BY e.__row"


def _aliases(index: int) -> Callable[[str], str]:
    def alias(suffix: str) -> str:
        return f"v{index}{suffix}"

    return alias


def _keys(view_selection: ViewSelection) -> list[str]:
    return list(view_selection.view.join_keys)


def _snapshot_cte(view_selection: ViewSelection, entity: str, relation: str) -> tuple[list[tuple[str, str]], Projection]:
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

    def project(alias: Callable[[str], str]) -> list[tuple[str, str]]:
        return [(view_selection.column(f), f"{alias('')}.{q(view_selection.column(f))}") for f in features]

    return [("", sql)], project


def selected_sources(selection: FeatureSelection) -> Sequence[BatchSource | StreamSource]:
    """The sources a selection reads, each once."""
    return list({v.view.source.name: v.view.source for v in selection.views}.values())
