"""Several windowed views over one event source: one de-duplication serves them all.

The query de-duplicates a source once and every view of it reads the result, so copies of an
event id with *different* keys (the first write wins for every view) and views keyed by
different columns, or by two, are checked here against a plain-Python restatement.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skewless import Aggregation, Entity, FeatureView, Field, Float64, Int64, StreamSource, String
from skewless.definitions.catalog import Catalog
from skewless.definitions.selection import select_features
from skewless.offline.duckdb_engine import DuckDBEngine, SourceData

US = 1_000_000
BASE = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp()) * US
user = Entity(name="user", join_keys=["user_id"], dtype=Int64)
article = Entity(name="article", join_keys=["article_id"], dtype=Int64)
source = StreamSource(
    name="events",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="article_id", dtype=Int64),
        Field(name="dwell", dtype=Float64),
        Field(name="event_id", dtype=String),
    ],
    event_id_field="event_id",
)
WINDOWS = {"10m": (600, 10), "1h": (3600, 60)}  # window and its default hop, in seconds: restated
VIEWS = {"by_user": ["user_id"], "by_article": ["article_id"], "by_pair": ["user_id", "article_id"]}
ENTITIES = {"by_user": [user], "by_article": [article], "by_pair": [user, article]}
CATALOG = Catalog.build(
    [
        FeatureView(
            name=name,
            entities=ENTITIES[name],
            source=source,
            aggregations=[
                Aggregation("dwell", "count", windows=list(WINDOWS)),
                Aggregation("dwell", "sum", windows=list(WINDOWS)),
                Aggregation("dwell", "max", windows=["1h"]),
                Aggregation("user_id", "last_n", windows=["1h"], n=2),
            ],
        )
        for name in VIEWS
    ]
)
FEATURES = [f"{name}:{f}" for name in VIEWS for f in CATALOG.view(name, None).feature_names]

times = st.one_of(st.integers(0, 24).map(lambda i: BASE + i * 300 * US), st.integers(0, 2 * 3600 * US).map(lambda u: BASE + u))
events = st.lists(
    st.tuples(st.integers(1, 3), st.integers(1, 3), times, st.one_of(st.none(), st.floats(0, 100, allow_nan=False)), st.integers(0, 15)),
    max_size=50,
)
labels = st.lists(st.tuples(st.one_of(st.integers(1, 3), st.none()), st.integers(1, 3), times), min_size=1, max_size=20)


def expected(rows: list[dict[str, Any]], keys: list[str], label: dict[str, Any], feature: str) -> Any:
    first: dict[str, dict[str, Any]] = {}
    for row in rows:  # in write order: each event id's first write, whatever its keys
        first.setdefault(row["event_id"], row)
    window, hop = (seconds * US for seconds in WINDOWS["1h" if feature.endswith("1h") else "10m"])
    start = (label["ts"] - window) // hop * hop
    inside = [r for r in first.values() if all(label[k] is not None and r[k] == label[k] for k in keys) and start <= r["ts"] < label["ts"]]
    if feature.startswith("user_id_last_n"):
        return [r["user_id"] for r in sorted(inside, key=lambda r: (r["ts"], r["seq"]), reverse=True)[:2]]
    values = [r["dwell"] for r in inside if r["dwell"] is not None]
    if feature.startswith("dwell_count"):
        return len(values)
    if feature.startswith("dwell_sum"):
        return sum(values)
    return max(values) if values else None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events, labels=labels)
def test_views_sharing_a_source_see_each_event_once(events: list[tuple[Any, ...]], labels: list[tuple[Any, ...]]) -> None:
    rows = [dict(user_id=u, article_id=a, ts=t, dwell=d, event_id=f"e{i}", seq=n) for n, (u, a, t, d, i) in enumerate(events)]
    table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "article_id": pa.array([r["article_id"] for r in rows], pa.int64()),
            "dwell": pa.array([r["dwell"] for r in rows], pa.float64()),
            "event_id": pa.array([r["event_id"] for r in rows], pa.string()),
            "event_timestamp": pa.array([r["ts"] for r in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "_write_seq": pa.array([r["seq"] for r in rows], pa.int64()),
        }
    )
    wanted = [dict(user_id=u, article_id=a, ts=t) for u, a, t in labels]
    entity = pa.table(
        {
            "user_id": pa.array([w["user_id"] for w in wanted], pa.int64()),
            "article_id": pa.array([w["article_id"] for w in wanted], pa.int64()),
            "event_timestamp": pa.array([w["ts"] for w in wanted], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        }
    )
    selection = select_features(CATALOG, FEATURES, full_feature_names=True)
    result = DuckDBEngine(threads=1).historical_features(entity, selection, {"events": SourceData(table=table)})
    mismatches = []
    for output in selection.outputs:
        got = result.column(output.internal).to_pylist()
        for i, label in enumerate(wanted):
            want = expected(rows, VIEWS[output.ref.view], label, output.ref.feature)
            same = abs(got[i] - want) <= 1e-9 * max(1.0, abs(want)) if isinstance(want, float) and got[i] is not None else got[i] == want
            if not same:
                mismatches.append((str(output.ref), label, got[i], want))
    assert not mismatches, mismatches[:5]
