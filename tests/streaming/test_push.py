"""push(): events reach the offline log and the online tiles; what is refused is a dead letter.

The parity check reads windowed features online as of random times and recomputes them with
get_historical_features over the offline log the same pushes wrote: 0 mismatches.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgpack
import pandas as pd
import pytest
from stream_events import SOURCE, USER, VIEW, assert_online_equals_offline, online_values, random_events

from skewless import FeatureStore
from skewless.config import RepoConfig

S = 1_000_000


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = FeatureStore(tmp_path, config=RepoConfig(project="pushtest"))
    store.apply([USER, SOURCE, VIEW])
    yield store
    store.close()


def test_pushed_events_are_seen_online_exactly_as_offline(store: FeatureStore) -> None:
    rng = random.Random(3)
    now = time.time_ns() // 1000
    for call in range(6):
        result = store.push("events", random_events(rng, now, 150, first_id=call * 1000))
        # Events older than the longest window plus its hop (1h + 1m) are late: out of both worlds.
        assert result.accepted + len(result.dead_letters) == 150
        assert all(letter.kind == "late" for letter in result.dead_letters)
    assert_online_equals_offline(store, rng, now)


def test_a_push_is_visible_to_the_next_read(store: FeatureStore) -> None:
    now = time.time_ns() // 1000
    event = {
        "user_id": 9,
        "clicked": 1,
        "dwell": 2.0,
        "topic": "tech",
        "event_id": "x1",
        "event_timestamp": datetime.fromtimestamp((now - S) / S, tz=UTC),
    }
    store.push("events", [event])
    got = online_values(store, [9], time.time_ns() // 1000)[0]
    assert (got["clicked_count_1m"], got["clicked_sum_1h"], got["topic_last_10m"]) == (1, 1, "tech")
    store.push("events", [event])  # the same id again: counted once
    assert online_values(store, [9], time.time_ns() // 1000)[0]["clicked_count_1m"] == 1


def test_bad_events_are_dead_letters_and_the_good_ones_around_them_are_kept(store: FeatureStore) -> None:
    now = time.time_ns() // 1000
    at = datetime.fromtimestamp((now - 10 * S) / S, tz=UTC)

    def event(i: int, **changes: Any) -> dict[str, Any]:
        return {"user_id": 7, "clicked": 1, "dwell": 1.5, "topic": "tech", "event_id": f"g{i}", "event_timestamp": at, **changes}

    missing = event(2)
    del missing["clicked"]
    bad = [
        missing,
        event(3, clicked="many"),  # wrong type
        event(4, dwell=float("nan"), clicked=None, user_id=None),  # no key
        event(5, event_timestamp=datetime.fromtimestamp((now + 3_600 * S) / S, tz=UTC)),  # far future
        event(6, topic="x" * 100_000),  # oversized
        event(7, event_timestamp=datetime.fromtimestamp((now - 3 * 3_600 * S) / S, tz=UTC)),  # late: older than 1h + hop
        event(8, colour="red"),  # unknown field
    ]
    good = [event(1), event(9), event(10)]
    result = store.push("events", [good[0], *bad, *good[1:]])
    assert result.accepted == 3
    reasons = {letter.payload.count("g") and letter.kind: letter.reason for letter in result.dead_letters}
    assert len(result.dead_letters) == 7, reasons
    kinds = sorted(letter.kind for letter in result.dead_letters)
    assert kinds == ["invalid"] * 6 + ["late"]
    text = " | ".join(letter.reason for letter in result.dead_letters)
    for needle in ("missing field(s) clicked", "clicked", "user_id", "in the future", "over the limit", "late:", "unknown field(s) colour"):
        assert needle in text
    assert online_values(store, [7], time.time_ns() // 1000)[0]["clicked_count_1m"] == 3
    offline = store.offline_tables.read("events").to_pylist()
    assert sorted(r["event_id"] for r in offline) == ["g1", "g10", "g9"]
    stored = store.event_sink().dead_letters.read("events")
    assert stored.num_rows == 7 and sorted(stored.column("kind").to_pylist()) == kinds


def test_skew_check_finds_no_skew_and_catches_a_corrupted_tile(store: FeatureStore) -> None:
    rng = random.Random(8)
    now = time.time_ns() // 1000
    store.push("events", random_events(rng, now, 600))
    report = store.skew_check(samples=60)
    assert {s.feature for s in report} == {f"activity:{f.name}" for f in VIEW.features}
    assert all(s.checked == 60 for s in report) and sum(s.mismatches for s in report) == 0

    online = store.online.store
    with online.env.begin(write=True) as txn:  # type: ignore[attr-defined]  # one more click in every 5-minute tile
        for key, value in list(txn.cursor(db=online.trees.hashes)):  # type: ignore[attr-defined]
            if key.endswith(b":w"):  # an entity's state: field -> tile
                state = msgpack.unpackb(value[8:])
                for field in [f for f in state if f.startswith(b"t:300:")]:
                    partial = msgpack.unpackb(state[field])
                    partial[1] += 1  # the slot after clicked's count: clicked's sum
                    state[field] = msgpack.packb(partial)
                txn.put(key, value[:8] + msgpack.packb(state), db=online.trees.hashes)  # type: ignore[attr-defined]
    skewed = {s.feature: s.mismatches for s in store.skew_check(samples=60)}
    assert skewed["activity:clicked_sum_1h"] > 0 and skewed["activity:clicked_count_1h"] == 0


def test_a_hot_key_with_half_of_all_events_is_ingested_and_read_exactly(store: FeatureStore) -> None:
    """Breaking news: one key receives half of the events, in bursts of a few seconds."""
    rng = random.Random(12)
    now = time.time_ns() // 1000
    events = random_events(rng, now, 4_000, max_age_s=50 * 60)
    for i, event in enumerate(events):
        if i % 2 == 0:
            event["user_id"] = 1
            event["event_timestamp"] = datetime.fromtimestamp((now - rng.randint(0, 120) * S - rng.randint(0, S)) / S, tz=UTC)
    for i in range(0, len(events), 1_000):
        result = store.push("events", events[i : i + 1_000])
        assert result.dead_letters == []
    first = {}
    for event in events:  # the first delivery of each id counts
        first.setdefault(event["event_id"], event)
    t = time.time_ns() // 1000
    start_10m = (t - 600 * S) // (10 * S) * (10 * S)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    expected = sum(
        1
        for e in first.values()
        if e["user_id"] == 1 and e["clicked"] is not None and start_10m <= (e["event_timestamp"] - epoch) // timedelta(microseconds=1) < t
    )
    got = online_values(store, [1], t)[0]
    assert expected > 1_000 and got["clicked_count_10m"] == expected
    assert_online_equals_offline(store, rng, now, samples=20)


def test_a_copy_of_an_event_with_other_keys_counts_for_nobody_else(store: FeatureStore) -> None:
    """Offline, an event id counts once across the source (its first write); online must agree even
    when a re-delivery names another user, in the same push or a later one."""
    now = time.time_ns() // 1000
    at = datetime.fromtimestamp((now - 30 * S) / S, tz=UTC)
    first = {"user_id": 1, "clicked": 1, "dwell": 1.0, "topic": "tech", "event_id": "same", "event_timestamp": at}
    store.push("events", [first, {**first, "user_id": 2}])
    store.push("events", [{**first, "user_id": 3}])
    got = online_values(store, [1, 2, 3], time.time_ns() // 1000)
    assert [g["clicked_count_1m"] for g in got] == [1, 0, 0]
    entity_df = pd.DataFrame({"user_id": [1, 2, 3], "event_timestamp": [datetime.now(UTC)] * 3})
    offline = store.get_historical_features(entity_df, ["activity:clicked_count_1m"])
    assert offline["clicked_count_1m"].tolist() == [1, 0, 0]
