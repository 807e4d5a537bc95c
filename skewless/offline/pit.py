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
  once (its first write); computed by ``skewless.offline.windowed`` (a sweep over the events in
  time order), not here. NULL values are ignored by every function; count and sum of an empty
  window are 0, last_n an empty list, the rest NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from skewless.aggregation.windows import MICROS
from skewless.definitions.selection import FeatureSelection, ViewSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.offline.sql_text import q

# A view's CTEs as (name, body after AS), its LEFT JOINs as (alias, CTE, condition on ``{t}``
# (the alias) and ``e`` (the entity rows)), and its projection.
SnapshotPlan = tuple[list[tuple[str, str]], list[tuple[str, str, str]], Callable[[Callable[[str], str]], list[tuple[str, str]]]]


def source_relation_sql(source: BatchSource | StreamSource, scan: str, *, write_seq: str = "_write_seq") -> str:
    """Normalize a scan of a source's table to the columns the point-in-time SQL reads."""
    columns = ", ".join(q(f.name) for f in source.schema)
    created = f"epoch_us({q(source.created_timestamp_field)})" if source.created_timestamp_field else "NULL::BIGINT"
    return f"SELECT {columns}, epoch_us({q(source.timestamp_field)}) AS __ts, {created} AS __created, {q(write_seq)} AS __seq FROM {scan}"


def point_in_time_sql(selection: FeatureSelection, *, entity: str, sources: Mapping[str, str], ordered: bool = True) -> str:
    """One query returning ``__row`` and every feature column of the selection's snapshot views
    (aggregation views are computed by ``skewless.offline.windowed``, not in SQL).

    ``ordered``: rows in ``__row`` order; without, the caller orders them (a SQL sort moves
    every feature column of every row).
    """
    ctes: list[str] = []
    joins: list[str] = []
    projections: list[str] = []
    for index, view_selection in enumerate(selection.views):
        if view_selection.view.is_aggregation:
            continue
        alias = _aliases(index)
        parts, joined, project = _snapshot_cte(view_selection, entity, f"({sources[view_selection.view.source.name]})", alias)
        ctes.extend(f"{name} AS {body}" for name, body in parts)
        joins.extend(f"LEFT JOIN {cte} {name} ON {on.replace('{t}', name)}" for name, cte, on in joined)
        projections.extend(f"{expression} AS {q(column)}" for column, expression in project(alias))
    with_clause = "WITH " + ",\n".join(ctes) + "\n" if ctes else ""
    select = ", ".join(["e.__row", *projections])
    order = "\nORDER BY e.__row" if ordered else ""
    return f"{with_clause}SELECT {select}\nFROM {entity} e\n" + "\n".join(joins) + order


def duplicates_sql(relation: str, event_id: str) -> str:
    """The event ids written more than once in ``relation`` (``__id``) and their first write (``__first``)."""
    return f"SELECT {q(event_id)} AS __id, min(__seq) AS __first FROM {relation} src GROUP BY {q(event_id)} HAVING count(*) > 1"


def _aliases(index: int) -> Callable[[str], str]:
    def alias(suffix: str) -> str:
        return f"v{index}{suffix}"

    return alias


def _keys(view_selection: ViewSelection) -> list[str]:
    return list(view_selection.view.join_keys)


def _snapshot_cte(view_selection: ViewSelection, entity: str, relation: str, name: Callable[[str], str]) -> SnapshotPlan:
    view = view_selection.view
    keys = _keys(view_selection)
    features = list(view_selection.features)
    key_list = ", ".join(q(k) for k in keys)
    feature_list = ", ".join(q(f) for f in features)
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in keys)
    # Only rows an entity row can match: its keys, not after the latest entity time. Without this
    # the tie-break window and the ASOF join sort the whole source whatever the entity rows.
    visible = f"{not_null} AND ({key_list}) IN (SELECT ({key_list}) FROM {entity}) AND __ts <= (SELECT max(__ts) FROM {entity})"
    latest_per_time = (
        f"SELECT {key_list}, __ts, {feature_list} FROM (\n"
        f"  SELECT {key_list}, __ts, {feature_list}, row_number() OVER (\n"
        f"    PARTITION BY {key_list}, __ts ORDER BY __created DESC NULLS LAST, __seq DESC) AS __rank\n"
        f"  FROM {relation} src WHERE {visible}\n"
        f") ranked WHERE __rank = 1"
    )
    on = " AND ".join(f"e.{q(k)} = s.{q(k)}" for k in keys)
    fresh = "TRUE" if view.ttl_seconds is None else f"s.__ts >= e.__ts - {view.ttl_seconds * MICROS}"
    columns = ", ".join(f"CASE WHEN {fresh} THEN s.{q(f)} END AS {q(view_selection.column(f))}" for f in features)
    sql = f"SELECT e.__row, {columns}\nFROM {entity} e ASOF LEFT JOIN ({latest_per_time}) s\n  ON {on} AND e.__ts >= s.__ts"

    def project(alias: Callable[[str], str]) -> list[tuple[str, str]]:
        return [(view_selection.column(f), f"{alias('')}.{q(view_selection.column(f))}") for f in features]

    return [(name(""), f"(\n{sql}\n)")], [(name(""), name(""), "{t}.__row = e.__row")], project


def selected_sources(selection: FeatureSelection) -> Sequence[BatchSource | StreamSource]:
    """The sources a selection reads, each once."""
    return list({v.view.source.name: v.view.source for v in selection.views}.values())
