"""A batch aggregated at once (numpy, per entity and tile) equals the merge rules applied event by event.

The stream pre-aggregates each batch (:func:`skewless.streaming.tiling.tile_updates`); the merge
rules are documented in :mod:`skewless.aggregation.tiles`. Here every tile partial and raw record
of random batches is compared with ``TileLayout.merge_all`` over the events' own partials.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import Aggregation, Bool, Entity, FeatureView, Field, Float32, Int64, StreamSource, String
from skewless.aggregation.tiles import floor_to
from skewless.aggregation.windows import MICROS
from skewless.online.keys import entity_key, key_prefix
from skewless.online.tile_keys import raw_field, tile_field, tile_tag
from skewless.online.tile_reads import TiledView
from skewless.streaming.tiling import tile_updates

SOURCE = StreamSource(
    name="events",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="region", dtype=String),
        Field(name="n", dtype=Int64),
        Field(name="x", dtype=Float32),
        Field(name="flag", dtype=Bool),
        Field(name="topic", dtype=String),
        Field(name="event_id", dtype=String),
    ],
    event_id_field="event_id",
)
VIEW = FeatureView(
    name="mixed",
    entities=[Entity(name="user", join_keys=["user_id"], dtype=Int64), Entity(name="region", join_keys=["region"], dtype=String)],
    source=SOURCE,
    aggregations=[
        Aggregation("n", "count", windows=["1m", "10m"]),
        Aggregation("n", "sum", windows=["1m", "10m"]),
        Aggregation("n", "min", windows=["10m"]),
        Aggregation("n", "max", windows=["10m"]),
        Aggregation("x", "mean", windows=["10m"]),
        Aggregation("x", "min", windows=["1h"]),
        Aggregation("x", "max", windows=["1h"]),
        Aggregation("flag", "sum", windows=["10m"]),
        Aggregation("topic", "last", windows=["10m"]),
        Aggregation("topic", "last_n", windows=["1h"], n=3),
    ],
)
TILED = TiledView.of(VIEW, history_seconds=600)
T0 = 1_750_000_000 * MICROS

event = st.fixed_dictionaries(
    {
        "user_id": st.integers(1, 3),
        "region": st.sampled_from(["eu", "us"]),
        "n": st.one_of(st.none(), st.integers(-5, 5)),
        "x": st.one_of(st.none(), st.sampled_from([0.5, -1.25, 3.0, float("nan")])),
        "flag": st.one_of(st.none(), st.booleans()),
        "topic": st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
        "event_id": st.sampled_from([f"e{i}" for i in range(12)]),
        "ts": st.integers(0, 900).map(lambda s: T0 + s * MICROS // 3),
    }
)


def _table(events: list[dict[str, Any]]) -> pa.Table:
    schema = {"user_id": pa.int64(), "region": pa.string(), "n": pa.int64(), "x": pa.float32(), "flag": pa.bool_(), "topic": pa.string()}
    columns = {name: pa.array([e[name] for e in events], dtype) for name, dtype in schema.items()}
    columns["event_id"] = pa.array([e["event_id"] for e in events], pa.string())
    columns["event_timestamp"] = pa.array([e["ts"] for e in events], pa.timestamp("us", tz="UTC"))
    return pa.table(columns)


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want, strict=True))
    if got == want == 0:  # a float sum of no values: 0.0 at once, the empty partial's int 0 event by event
        return True
    return bool(got == want) and type(got) is type(want)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(event, min_size=1, max_size=40))
def test_batch_partials_equal_merging_event_by_event(events: list[dict[str, Any]]) -> None:
    layout = TILED.layout
    seqs = [100 + 7 * i for i in range(len(events))]
    updates, rows = tile_updates("p", TILED, _table(events), seqs)

    counted: dict[tuple[int, str], list[tuple[int, dict[str, Any]]]] = {}
    firsts: set[tuple[int, str, str]] = set()
    for seq, e in zip(seqs, events, strict=True):
        if (e["user_id"], e["region"], e["event_id"]) not in firsts:  # the first delivery per entity counts
            firsts.add((e["user_id"], e["region"], e["event_id"]))
            counted.setdefault((e["user_id"], e["region"]), []).append((seq, e))
    prefix = key_prefix("p", VIEW.name, VIEW.version)
    assert len(updates) == len(counted)
    for update, entity_rows in zip(updates, rows, strict=True):
        key = next(k for k in counted if tile_tag(entity_key(prefix, list(k))) == update.tag)
        mine = counted[key]
        assert sorted(update.ids) == sorted(e["event_id"].encode() for _, e in mine)
        assert sorted(entity_rows.tolist()) == sorted(seqs.index(seq) for seq, _ in mine)
        expected: dict[bytes, Any] = {}
        for level in layout.levels:
            for start in sorted({floor_to(e["ts"], level) for _, e in mine}):
                inside = [(seq, e) for seq, e in mine if floor_to(e["ts"], level) == start]
                expected[tile_field(level, start)] = layout.merge_all(layout.event_partial(e, e["ts"], seq) for seq, e in inside)
        got = {key: msgpack.unpackb(payload) for key, payload in update.tiles}
        assert got.keys() == expected.keys()
        for k, want in expected.items():
            assert _same(got[k], want), (k, got[k], want)
        for key, payload in update.raws:
            records = msgpack.unpackb(payload)
            start = int(key.rsplit(b":", 1)[1])
            assert key == raw_field(start)
            inside = {(e["ts"], seq): e for seq, e in mine if floor_to(e["ts"], layout.base) == start}
            assert sorted((r[0], r[1]) for r in records) == sorted(inside)
            for record in records:
                e = inside[(record[0], record[1])]
                assert _same(layout.record_partial(record), layout.event_partial(e, record[0], record[1]))
