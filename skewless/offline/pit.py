"""The SQL the point-in-time engines share, built without I/O: a source's rows normalized, and
its event ids written more than once.

Every source relation (see :func:`source_relation_sql`) has the source's columns plus ``__ts``
(event time, BIGINT µs since the epoch, UTC), ``__created`` (created time, µs, or NULL) and
``__seq`` (write order). The features themselves come from sweeps over these rows in time order:
snapshot views in ``skewless.offline.snapshots``, aggregation views in ``skewless.offline.windowed``.

Semantics (docs/offline.md spells them out; tests/offline compare them to a brute-force oracle):

- Snapshot view: the latest source row with the same keys and ``__ts <= t``; ties on ``__ts``
  go to the later created time (NULL first), then to the later write; older than ``ttl`` is NULL.
- Aggregation view: events with the same keys and ``floor_h(t - W) <= ts < t``, each event id
  once (its first write). NULL values are ignored by every function; count and sum of an empty
  window are 0, last_n an empty list, the rest NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

from skewless.definitions.selection import FeatureSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.offline.sql_text import q


def source_relation_sql(source: BatchSource | StreamSource, scan: str, *, write_seq: str = "_write_seq") -> str:
    """Normalize a scan of a source's table to the columns the point-in-time SQL reads."""
    columns = ", ".join(q(f.name) for f in source.schema)
    created = f"epoch_us({q(source.created_timestamp_field)})" if source.created_timestamp_field else "NULL::BIGINT"
    return f"SELECT {columns}, epoch_us({q(source.timestamp_field)}) AS __ts, {created} AS __created, {q(write_seq)} AS __seq FROM {scan}"


def duplicates_sql(relation: str, event_id: str) -> str:
    """The event ids written more than once in ``relation`` (``__id``) and their first write (``__first``)."""
    return f"SELECT {q(event_id)} AS __id, min(__seq) AS __first FROM {relation} src GROUP BY {q(event_id)} HAVING count(*) > 1"


def selected_sources(selection: FeatureSelection) -> Sequence[BatchSource | StreamSource]:
    """The sources a selection reads, each once."""
    return list({v.view.source.name: v.view.source for v in selection.views}.values())
