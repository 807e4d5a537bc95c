"""get_historical_features semantics against a brute-force oracle in plain Python.

The oracle below imports nothing from skewless' aggregation or SQL code: it restates the
documented semantics row by row, so a bug in the engine cannot hide in a shared helper.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skewless import Aggregation, BatchSource, Entity, FeatureView, Field, Float64, Int64, Ratio, StreamSource, String
from skewless.definitions.catalog import Catalog
from skewless.definitions.selection import select_features
from skewless.offline.duckdb_engine import DuckDBEngine, SourceData

US = 1_000_000
BASE = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp()) * US

user = Entity(name="user", join_keys=["user_id"], dtype=Int64)
events_source = StreamSource(
    name="events",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="clicks", dtype=Int64),
        Field(name="dwell", dtype=Float64),
        Field(name="event_id", dtype=String),
    ],
    event_id_field="event_id",
)
profile_source = BatchSource(
    name="profiles",
    schema=[Field(name="user_id", dtype=Int64), Field(name="score", dtype=Float64), Field(name="segment", dtype=String)],
    created_timestamp_field="created",
)
AGGREGATIONS = [
    Aggregation("clicks", "count", windows=["10m", "1h"]),
    Aggregation("clicks", "sum", windows=["10m", "1h"]),
    Aggregation("dwell", "mean", windows=["1h"], hop="5m"),
    Aggregation("dwell", "min", windows=["20m"], hop="7m"),
    Aggregation("dwell", "max", windows=["20m"]),
    Aggregation("dwell", "last", windows=["1h"]),
    Aggregation("clicks", "last_n", windows=["1h"], n=3),
]
engagement = FeatureView(
    name="engagement",
    entities=[user],
    source=events_source,
    aggregations=AGGREGATIONS,
    ratios=[Ratio("ctr_1h", "clicks_sum_1h", "clicks_count_1h")],
)
profile = FeatureView(name="profile", entities=[user], source=profile_source, ttl="40m")
profile_forever = FeatureView(name="profile_forever", entities=[user], source=profile_source)
CATALOG = Catalog.build([engagement, profile, profile_forever])


def _with_string_keys(view: FeatureView) -> FeatureView:
    """The same view keyed by a String ``user_id``: events then find their key by a join in DuckDB."""
    source = view.source
    schema = [Field(name=f.name, dtype=String if f.name == "user_id" else f.dtype) for f in source.schema]
    return replace(view, entities=[replace(user, dtype=String)], source=replace(source, schema=schema))


STRING_CATALOG = Catalog.build([_with_string_keys(v) for v in (engagement, profile, profile_forever)])
FEATURES = [f"engagement:{f}" for f in engagement.feature_names] + ["profile:score", "profile:segment", "profile_forever:score"]
SEMANTICS = {  # name -> (column, function, window seconds, hop seconds, n): restated, not imported
    "clicks_count_10m": ("clicks", "count", 600, 10, None),
    "clicks_count_1h": ("clicks", "count", 3600, 60, None),
    "clicks_sum_10m": ("clicks", "sum", 600, 10, None),
    "clicks_sum_1h": ("clicks", "sum", 3600, 60, None),
    "dwell_mean_1h": ("dwell", "mean", 3600, 300, None),
    "dwell_min_20m": ("dwell", "min", 1200, 420, None),
    "dwell_max_20m": ("dwell", "max", 1200, 10, None),
    "dwell_last_1h": ("dwell", "last", 3600, 60, None),
    "clicks_last_n_1h": ("clicks", "last_n", 3600, 60, 3),
}

# Times on coarse grids (ties, hop and window boundaries) plus some arbitrary microseconds.
times = st.one_of(
    st.integers(0, 36).map(lambda i: BASE + i * 300 * US),
    st.integers(0, 400).map(lambda i: BASE + i * 30 * US),
    st.integers(0, 3 * 3600 * US).map(lambda u: BASE + u),
)
keys = st.integers(1, 4)
events = st.lists(
    st.tuples(
        keys,
        times,
        st.one_of(st.none(), st.integers(0, 5)),
        st.one_of(st.none(), st.floats(0, 1e4, allow_nan=False)),
        st.integers(0, 40).map(lambda i: f"e{i}"),
    ),
    max_size=60,
)
profiles = st.lists(
    st.tuples(
        st.integers(1, 2),
        st.one_of(times, st.integers(0, 12).map(lambda i: BASE + i * 900 * US)),
        st.one_of(st.none(), times),
        st.one_of(st.none(), st.floats(-1e3, 1e3, allow_nan=False)),
        st.sampled_from(["a", "b", None]),
    ),
    max_size=25,
)
label_keys = st.one_of(keys, st.just(9), st.none())


@st.composite
def labels_for(draw: st.DrawFn, events: list[tuple[Any, ...]], profiles: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Label rows, many at (or a microsecond around) the times of the rows they join to."""
    near = [(k, t + shift) for k, t, *_ in events for shift in (0, 600 * US, 3600 * US)]
    near += [(k, t + shift) for k, t, *_ in profiles for shift in (0, 2400 * US)]  # row times and ttl edges
    nearby = st.sampled_from(near).flatmap(
        lambda kt: st.tuples(st.one_of(st.just(kt[0]), label_keys), st.sampled_from([kt[1] - 1, kt[1], kt[1] + 1]))
    )
    anywhere = st.tuples(label_keys, times)
    return draw(st.lists(st.one_of(nearby, anywhere) if near else anywhere, min_size=1, max_size=30))


def oracle_window(rows: list[dict[str, Any]], key: Any, t: int, spec: tuple[Any, ...]) -> Any:
    column, function, window, hop, n = spec
    start = ((t - window * US) // (hop * US)) * (hop * US)
    seen: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["seq"]):  # each event id once: its first write
        seen.setdefault(row["event_id"], row)
    inside = [r for r in seen.values() if key is not None and r["user_id"] == key and start <= r["ts"] < t and r[column] is not None]
    values = [r[column] for r in inside]
    if function == "count":
        return len(values)
    if function == "sum":
        return sum(values)
    if function == "last_n":
        return [r[column] for r in sorted(inside, key=lambda r: (r["ts"], r["seq"]), reverse=True)[:n]]
    if not values:
        return None
    if function == "mean":
        return sum(values) / len(values)
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    return max(inside, key=lambda r: (r["ts"], r["seq"]))[column]  # last


def oracle_snapshot(rows: list[dict[str, Any]], key: Any, t: int, feature: str, ttl: int | None) -> Any:
    candidates = [r for r in rows if key is not None and r["user_id"] == key and r["ts"] <= t]
    if not candidates:
        return None
    best = max(candidates, key=lambda r: (r["ts"], r["created"] is not None, r["created"] or 0, r["seq"]))
    if ttl is not None and best["ts"] < t - ttl * US:
        return None
    return best[feature]


def to_ts(values: list[int | None]) -> pa.Array:
    return pa.array(values, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events, profiles=profiles, data=st.data())
def test_matches_the_oracle(events: list[tuple[Any, ...]], profiles: list[tuple[Any, ...]], data: st.DataObject) -> None:
    check(events, profiles, data.draw(labels_for(events, profiles)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events, profiles=profiles, data=st.data())
def test_string_keys_match_the_oracle(events: list[tuple[Any, ...]], profiles: list[tuple[Any, ...]], data: st.DataObject) -> None:
    check(events, profiles, data.draw(labels_for(events, profiles)), string_keys=True)


M = 60 * US
EDGE_CASES: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {
    "event exactly at the label time is not seen": ([(1, BASE + 10 * M, 1, 1.0, "e1")], [], [(1, BASE + 10 * M), (1, BASE + 10 * M + 1)]),
    "window start is floored to the hop": (
        [(1, BASE + 9 * M + 59 * US, 1, 2.0, "a"), (1, BASE + 10 * M, 1, 3.0, "b")],
        [],
        [(1, BASE + 70 * M), (1, BASE + 70 * M + 30 * US), (1, BASE + 69 * M + 59 * US)],
    ),
    "duplicate event ids count once, first write wins": (
        [(1, BASE, 1, 5.0, "same"), (1, BASE + M, 0, 7.0, "same")],
        [],
        [(1, BASE + 2 * M)],
    ),
    "a null created time loses a tie": ([], [(1, BASE, None, 1.0, "a"), (1, BASE, BASE - 5, 2.0, "b")], [(1, BASE + 100)]),
    "equal created times: the later write wins": ([], [(1, BASE, BASE, 1.0, "a"), (1, BASE, BASE, 2.0, "b")], [(1, BASE)]),
    "ttl edge is inclusive": ([], [(1, BASE, None, 1.0, "a")], [(1, BASE + 40 * M), (1, BASE + 40 * M + 1)]),
    "null and absent keys": ([(1, BASE, 1, 1.0, "e")], [(1, BASE, None, 1.0, "a")], [(None, BASE + M), (9, BASE + M)]),
    "nulls are ignored by every function": ([(1, BASE, None, None, "a"), (1, BASE + M, 2, None, "b")], [], [(1, BASE + 2 * M)]),
}


@pytest.mark.parametrize("case", EDGE_CASES)
def test_edge_cases(case: str) -> None:
    check(*EDGE_CASES[case])


def check(
    events: list[tuple[Any, ...]], profiles: list[tuple[Any, ...]], labels: list[tuple[Any, ...]], *, string_keys: bool = False
) -> None:
    if string_keys:  # the same data with keys "u1", "u2", ...
        events = [(None if k is None else f"u{k}", *rest) for k, *rest in events]
        profiles = [(None if k is None else f"u{k}", *rest) for k, *rest in profiles]
        labels = [(None if k is None else f"u{k}", t) for k, t in labels]
    key_type = pa.string() if string_keys else pa.int64()
    event_rows = [dict(user_id=k, ts=t, clicks=c, dwell=d, event_id=e, seq=i) for i, (k, t, c, d, e) in enumerate(events)]
    profile_rows = [dict(user_id=k, ts=t, created=c, score=s, segment=g, seq=i) for i, (k, t, c, s, g) in enumerate(profiles)]
    event_table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in event_rows], key_type),
            "clicks": pa.array([r["clicks"] for r in event_rows], pa.int64()),
            "dwell": pa.array([r["dwell"] for r in event_rows], pa.float64()),
            "event_id": pa.array([r["event_id"] for r in event_rows], pa.string()),
            "event_timestamp": to_ts([r["ts"] for r in event_rows]),
            "_write_seq": pa.array([r["seq"] for r in event_rows], pa.int64()),
        }
    )
    profile_table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in profile_rows], key_type),
            "score": pa.array([r["score"] for r in profile_rows], pa.float64()),
            "segment": pa.array([r["segment"] for r in profile_rows], pa.string()),
            "event_timestamp": to_ts([r["ts"] for r in profile_rows]),
            "created": to_ts([r["created"] for r in profile_rows]),
            "_write_seq": pa.array([r["seq"] for r in profile_rows], pa.int64()),
        }
    )
    entity = pa.table(
        {
            "user_id": pa.array([k for k, _ in labels], key_type),
            "event_timestamp": to_ts([t for _, t in labels]),
            "label": pa.array(range(len(labels)), pa.int64()),
        }
    )
    selection = select_features(STRING_CATALOG if string_keys else CATALOG, FEATURES, full_feature_names=True)
    result = DuckDBEngine(threads=1).historical_features(
        entity, selection, {"events": SourceData(table=event_table), "profiles": SourceData(table=profile_table)}
    )
    assert result.column("label").to_pylist() == list(range(len(labels)))  # rows, order and duplicates kept
    mismatches = []
    for output in selection.outputs:
        got = result.column(output.internal).to_pylist()
        for i, (key, t) in enumerate(labels):
            feature = output.ref.feature
            if output.ref.view == "engagement" and feature in SEMANTICS:
                expected = oracle_window(event_rows, key, t, SEMANTICS[feature])
            elif feature == "ctr_1h":
                den = oracle_window(event_rows, key, t, SEMANTICS["clicks_count_1h"])
                expected = None if den == 0 else oracle_window(event_rows, key, t, SEMANTICS["clicks_sum_1h"]) / den
            else:
                ttl = 2400 if output.ref.view == "profile" else None
                expected = oracle_snapshot(profile_rows, key, t, feature, ttl)
            if not same(got[i], expected):
                mismatches.append((str(output.ref), i, key, t, got[i], expected))
    assert not mismatches, mismatches[:5]


def test_every_feature_has_restated_semantics() -> None:
    # If a feature is added to the view, the oracle must learn it too.
    names = set(engagement.feature_names) - {"ctr_1h"}
    assert names == set(SEMANTICS)
    for output in engagement.aggregation_outputs():
        column, function, window, hop, n = SEMANTICS[output.name]
        assert (output.column, output.function, output.window_seconds, output.hop_seconds, output.n) == (column, function, window, hop, n)


@pytest.mark.parametrize("rows", [0, 1])
def test_empty_sources_give_empty_window_values(rows: int) -> None:
    entity = pa.table({"user_id": pa.array([1] * rows, pa.int64()), "event_timestamp": to_ts([BASE] * rows)})
    selection = select_features(CATALOG, ["engagement:clicks_count_1h", "engagement:clicks_last_n_1h", "profile:score"])
    result = DuckDBEngine().historical_features(entity, selection, {})
    assert result.num_rows == rows
    if rows:
        assert result.column("engagement_v1__clicks_count_1h").to_pylist() == [0]
        assert result.column("engagement_v1__clicks_last_n_1h").to_pylist() == [[]]
        assert result.column("profile_v1__score").to_pylist() == [None]


def test_a_join_key_can_be_aggregated() -> None:
    article = Entity(name="article", join_keys=["article_id"], dtype=Int64)
    source = StreamSource(name="views", schema=[Field(name="article_id", dtype=Int64), Field(name="user_id", dtype=Int64)])
    view = FeatureView(
        name="article_views",
        entities=[article],
        source=source,
        aggregations=[Aggregation("article_id", "count", windows=["1h"]), Aggregation("user_id", "last", windows=["1h"])],
    )
    events = pa.table(
        {
            "article_id": pa.array([7, 7, 8], pa.int64()),
            "user_id": pa.array([1, 2, 3], pa.int64()),
            "event_timestamp": to_ts([BASE, BASE + US, BASE]),
            "_write_seq": pa.array([0, 1, 2], pa.int64()),
        }
    )
    entity = pa.table({"article_id": pa.array([7, 9], pa.int64()), "event_timestamp": to_ts([BASE + 60 * US] * 2)})
    result = DuckDBEngine().historical_features(
        entity,
        select_features(Catalog.build([view]), ["article_views:article_id_count_1h", "article_views:user_id_last_1h"]),
        {"views": SourceData(table=events)},
    )
    assert result.column("article_views_v1__article_id_count_1h").to_pylist() == [2, 0]  # label rows never count themselves
    assert result.column("article_views_v1__user_id_last_1h").to_pylist() == [2, None]
