"""Tiles on every backend (embedded, Redis, Redis Cluster) against a brute-force oracle.

Random events (out of order, equal timestamps, duplicate event ids, nulls) go through the tile
writer in random batches, some replayed as after a crash; then windowed values read at random
times must equal a direct computation over the events. The oracle below does not import the
project's aggregation code.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from skewless import Aggregation, Entity, FeatureView, Field, Float32, Int64, Ratio, StreamSource, String
from skewless.aggregation.summaries import SummaryLayout
from skewless.definitions.selection import ViewSelection
from skewless.errors import InvalidRequestError
from skewless.online.embedded import EmbeddedOnlineStore
from skewless.online.keys import entity_key, key_prefix
from skewless.online.protocol import OnlineStore
from skewless.online.read_plan import ViewReadPlan, codec_for
from skewless.online.redis_store import RedisClusterOnlineStore, RedisOnlineStore
from skewless.online.tile_columns import read_windows_fast, window_field_read
from skewless.online.tile_reads import TiledView, read_windows
from skewless.online.tile_writes import TileWriter, tile_writer_for
from skewless.online.window_columns import SummaryAnswer, summary_keys, window_columns
from skewless.streaming.tiling import apply_events

S = 1_000_000
SOURCE = StreamSource(
    name="events",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="clicked", dtype=Int64),
        Field(name="dwell", dtype=Float32),
        Field(name="topic", dtype=String),
        Field(name="event_id", dtype=String),
    ],
    event_id_field="event_id",
)
VIEW = FeatureView(
    name="activity",
    entities=[Entity(name="user", join_keys=["user_id"], dtype=Int64)],
    source=SOURCE,
    aggregations=[
        Aggregation("clicked", "count", windows=["1m", "10m", "1h"]),
        Aggregation("clicked", "sum", windows=["1m", "10m", "1h"]),
        Aggregation("dwell", "mean", windows=["10m", "1h"]),
        Aggregation("dwell", "min", windows=["10m"]),
        Aggregation("dwell", "max", windows=["1h"]),
        Aggregation("topic", "last", windows=["10m"]),
        Aggregation("topic", "last_n", windows=["1h"], n=3),
    ],
    ratios=[Ratio("ctr_10m", "clicked_sum_10m", "clicked_count_10m")],
)
# Only numbers (counts, sums, min, max): reads take the raw events of the current base tile as arrays.
NUMERIC_VIEW = FeatureView(
    name="activity_numbers",
    entities=VIEW.entities,
    source=SOURCE,
    aggregations=[
        *(a for a in VIEW.aggregations if a.function not in ("last", "last_n")),
        Aggregation("clicked", "min", windows=["1h"]),  # of integers: ints back, None for an empty window
        Aggregation("clicked", "max", windows=["10m"]),
    ],
    ratios=VIEW.ratios,
)
WINDOWS = {"1m": (60, 1), "10m": (600, 10), "1h": (3_600, 60)}


@pytest.fixture(params=["embedded", "redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[OnlineStore, TileWriter]]:
    if request.param == "embedded":
        embedded = EmbeddedOnlineStore(tmp_path / "online")
        yield embedded, tile_writer_for(embedded)
        embedded.close()
        return
    if request.param == "redis":
        store = RedisOnlineStore(request.getfixturevalue("redis_server").url, timeout_seconds=5)
    else:
        cluster = request.getfixturevalue("redis_cluster")
        store = RedisClusterOnlineStore([f"{h}:{p}" for h, p in cluster.startup_nodes], timeout_seconds=5)
    yield store, tile_writer_for(store)
    store.close()


def _events(rng: random.Random, now: int, n: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(n):
        if events and rng.random() < 0.1:  # a re-delivery: same id, maybe other values (the first counts)
            dup = dict(rng.choice(events))
            dup["clicked"] = rng.randint(0, 1)
            events.append(dup)
            continue
        ts = now - rng.randint(0, 70 * 60 * S) if rng.random() < 0.9 else rng.choice(events or [{"ts": now}])["ts"]
        events.append(
            {
                "user_id": rng.randint(1, 4),
                "clicked": rng.choice([0, 1, 1, None]),
                "dwell": rng.choice([None, float(rng.randint(0, 64)) / 4]),
                "topic": rng.choice([None, "sports", "politics", "tech"]),
                "event_id": f"e{i}",
                "ts": ts,
            }
        )
    return events


def _table(events: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([e["user_id"] for e in events], pa.int64()),
            "clicked": pa.array([e["clicked"] for e in events], pa.int64()),
            "dwell": pa.array([e["dwell"] for e in events], pa.float32()),
            "topic": pa.array([e["topic"] for e in events], pa.string()),
            "event_id": pa.array([e["event_id"] for e in events], pa.string()),
            "event_timestamp": pa.array([e["ts"] for e in events], pa.timestamp("us", tz="UTC")),
        }
    )


def oracle(events: list[dict[str, Any]], user: int, t: int) -> dict[str, Any]:
    """Each feature by brute force: first delivery of each id wins; window floor_h(t - W) <= ts < t."""
    seen: set[str] = set()
    log = []
    for seq, e in enumerate(events):
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            log.append((seq, e))
    result: dict[str, Any] = {}
    for label, (window, hop) in WINDOWS.items():
        start = (t - window * S) // (hop * S) * (hop * S)
        inside = [(seq, e) for seq, e in log if e["user_id"] == user and start <= e["ts"] < t]
        clicks = [e["clicked"] for _, e in inside if e["clicked"] is not None]
        dwell = [e["dwell"] for _, e in inside if e["dwell"] is not None]
        topics = sorted(((e["ts"], seq, e["topic"]) for seq, e in inside if e["topic"] is not None), reverse=True)
        result[f"clicked_count_{label}"] = len(clicks)
        result[f"clicked_sum_{label}"] = sum(clicks)
        result[f"dwell_mean_{label}"] = sum(dwell) / len(dwell) if dwell else None
        result[f"dwell_min_{label}"] = min(dwell) if dwell else None
        result[f"dwell_max_{label}"] = max(dwell) if dwell else None
        result[f"clicked_min_{label}"] = min(clicks) if clicks else None
        result[f"clicked_max_{label}"] = max(clicks) if clicks else None
        result[f"topic_last_{label}"] = topics[0][2] if topics else None
        result[f"topic_last_n_{label}"] = [x[2] for x in topics[:3]]
    result["ctr_10m"] = result["clicked_sum_10m"] / result["clicked_count_10m"] if result["clicked_count_10m"] else None
    return result


@pytest.mark.parametrize("view", [VIEW, NUMERIC_VIEW], ids=["all", "numbers"])
@pytest.mark.parametrize("seed", [1, 2])
def test_windows_from_tiles_equal_brute_force(backend: tuple[OnlineStore, TileWriter], seed: int, view: FeatureView) -> None:
    store, writer = backend
    rng = random.Random(seed)
    now = time.time_ns() // 1000
    events = _events(rng, now, 400)
    tiled = TiledView.of(view, history_seconds=3_600)
    project = f"p{uuid.uuid4().hex[:8]}"  # servers are shared by the session
    cursor, applied = 0, 0
    while cursor < len(events):
        size = rng.randint(1, 60)
        batch, seqs = _table(events[cursor : cursor + size]), list(range(cursor, min(cursor + size, len(events))))
        applied += apply_events(writer, project, [tiled], batch, seqs)
        if rng.random() < 0.3:  # replayed, as after a crash before the acknowledgement: a no-op
            assert apply_events(writer, project, [tiled], batch, seqs) == 0
        cursor += size
    assert applied == len({e["event_id"] for e in events})

    from skewless.online.tile_keys import tile_tag

    prefix = key_prefix(project, view.name, view.version)
    users = [1, 2, 3, 4, 99]
    tags = [tile_tag(entity_key(prefix, [u])) for u in users]
    recent = [e["ts"] for e in events if e["ts"] > now - 3_000 * S]
    later = [now + S, now + 7 * 60 * S, now + 50 * 60 * S, now + 3 * 3_600 * S]  # after every event: summaries answer
    times = [*later, now - rng.randint(0, 3_000) * S] + [ts + d for ts in rng.sample(recent, 5) for d in (0, 1, -1)]
    plan = _view_plan(project, view, tiled)
    row_keys = [entity_key(prefix, [u]) for u in users]
    for t in times:
        summarized = _via_summaries(store, plan, row_keys, t)
        if t in later:
            assert summarized.pop("from tiles") == 0, t
        else:
            summarized.pop("from tiles")
        one_user = _via_summaries(store, plan, [row_keys[0]] * 3, t)  # a slate's user: one entity on every row
        one_user.pop("from tiles")
        for name, (values, statuses) in summarized.items():
            assert one_user[name] == ([values[0]] * 3, [statuses[0]] * 3), (name, t)
            for user, value, status in zip(users, values, statuses, strict=True):
                want = oracle(events, user, t)[name]
                approximate = isinstance(want, float) and value is not None
                assert value == pytest.approx(want, rel=1e-9) if approximate else value == want, (name, user, t)
                assert status == ("NULL_VALUE" if want is None else "PRESENT"), (name, user, t)
                assert type(value) is type(want), (name, user, t)  # a count is 3, not 3.0
        if t > now:
            continue  # the tiles keep reads up to now; a later read is the summaries' alone
        got = read_windows(store, tiled, tags, t)
        columns = read_windows_fast(store.read([], [window_field_read(tiled, tags, t)])[1][0], tiled, len(tags), t)
        fast = [{name: values[e] for name, values in columns.items()} for e in range(len(tags))]
        assert [set(f) for f in fast] == [set(g) for g in got]
        for user, features in zip(users, got, strict=True):
            expected = oracle(events, user, t)
            for name, value in [*features.items(), *((f"{n} (vectorized)", v) for n, v in fast[users.index(user)].items())]:
                want = expected[name.removesuffix(" (vectorized)")]
                if isinstance(want, float) and value is not None:
                    assert value == pytest.approx(want, rel=1e-9), (name, user, t)
                else:
                    assert value == want, (name, user, t)


def _view_plan(project: str, view: FeatureView, tiled: TiledView) -> ViewReadPlan:
    prefix, codec = codec_for(project, view)
    selection = ViewSelection(view, view.feature_names)
    columns = tuple((selection.column(f.name), i, f.dtype) for i, f in enumerate(view.features))
    return ViewReadPlan(selection, prefix, codec, view.join_keys, (), None, columns, tiled, SummaryLayout.of(tiled.layout))


def _via_summaries(store: OnlineStore, plan: ViewReadPlan, row_keys: list[bytes], t: int) -> dict[str, Any]:
    """The view's features (values, statuses) as an online read gets them: summaries, then tiles
    for the entities they cannot answer."""
    assert plan.summary is not None
    answer = SummaryAnswer.of(plan, row_keys, store.get_many(summary_keys(row_keys)), t)
    tiles = store.read([], [answer.tiles])[1][0] if answer.tiles is not None else None
    columns = window_columns(plan, row_keys, tiles, t_us=t, answer=answer)
    out: dict[str, Any] = {}
    for feature in plan.selection.features:
        column = columns[plan.selection.column(feature)]
        out[feature] = (column.values(), column.statuses)
    out["from tiles"] = len(answer.from_tiles)
    return out


def test_reads_older_than_the_tile_history_are_refused(backend: tuple[OnlineStore, TileWriter]) -> None:
    store, _ = backend
    tiled = TiledView.of(VIEW, history_seconds=60)
    with pytest.raises(InvalidRequestError, match="last 60 s only"):
        read_windows(store, tiled, [b"{x}"], time.time_ns() // 1000 - 120 * S)
    plan = _view_plan("p", VIEW, tiled)
    with pytest.raises(InvalidRequestError, match="last 60 s only"):  # the same through summaries, absent or not
        _via_summaries(store, plan, [entity_key(plan.prefix, [1])], time.time_ns() // 1000 - 120 * S)


def test_a_window_starting_at_the_summary_cutoff(backend: tuple[OnlineStore, TileWriter], monkeypatch: pytest.MonkeyPatch) -> None:
    """A write drops summary rows no window can reach any more; the oldest it keeps starts exactly
    where a window of that series may still start, and that window must see it."""
    store, writer = backend
    while time.time() % 1 > 0.5:  # the write's own clock must fall in the same second as ours
        time.sleep(0.05)
    now = time.time_ns() // 1000
    kept = now // S * S - 61 * S  # the 1m window's series keeps 61 s of 1 s buckets
    events = [
        {"user_id": 7, "clicked": 1, "dwell": None, "topic": None, "event_id": "old", "ts": kept - 5 * S},
        {"user_id": 7, "clicked": 1, "dwell": None, "topic": None, "event_id": "kept", "ts": kept},
    ]
    tiled = TiledView.of(VIEW, history_seconds=3_600)
    project = f"p{uuid.uuid4().hex[:8]}"
    with monkeypatch.context() as patched:  # the first event written as if 50 s ago: its row is kept then
        patched.setattr(time, "time_ns", lambda: (kept + 10 * S) * 1_000)
        assert apply_events(writer, project, [tiled], _table(events[:1]), [0]) == 1
    assert apply_events(writer, project, [tiled], _table(events[1:]), [1]) == 1  # now: it is dropped
    plan = _view_plan(project, VIEW, tiled)
    got = _via_summaries(store, plan, [entity_key(plan.prefix, [7])], kept + 60 * S)
    assert (got["from tiles"], got["clicked_count_1m"][0], got["clicked_count_10m"][0]) == (0, [1], [2])
    (stored,) = store.get_many(summary_keys([entity_key(plan.prefix, [7])]))
    assert stored is not None
    words = np.frombuffer(stored, "<f8")
    assert words[3:5].tolist() == [kept, 1]  # the 1 s series: cutoff, and one row (the older event's was dropped)
