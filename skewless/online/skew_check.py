"""``skewless skew-check``: are the online values what training would compute?

Samples entity keys seen in each windowed view's source and times within the tile history,
reads the windows online as of those times, recomputes the same rows with
``get_historical_features`` and counts mismatches per feature (floats within 1e-9 relative,
null equal to null). Zero is the only acceptable answer: both paths implement one definition.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from skewless.aggregation.windows import MICROS
from skewless.online.keys import entity_key, key_prefix
from skewless.online.tile_keys import tile_tag
from skewless.online.tile_reads import TiledView, read_windows

if TYPE_CHECKING:
    from skewless.store import FeatureStore


@dataclass
class FeatureSkew:
    feature: str
    checked: int = 0
    mismatches: int = 0
    examples: list[tuple[Any, ...]] = field(default_factory=list)  # (key, time, online, offline)


def skew_check(store: FeatureStore, *, samples: int = 200, seed: int = 0, views: Sequence[str] | None = None) -> list[FeatureSkew]:
    rng = random.Random(seed)
    catalog = store.registry.snapshot().catalog
    history = store.config.streaming.tile_history_seconds
    now = time.time_ns() // 1000
    report = []
    for view in catalog.feature_views():
        if not view.is_aggregation or (views is not None and view.name not in views):
            continue
        if store.offline_tables.version(view.source.name) is None:
            continue
        keys = _recent_keys(store, view.source.name, view.join_keys, since_us=now - history * MICROS)
        if not keys:
            continue
        rows = [rng.choice(keys) for _ in range(samples)]
        # Stay a minute clear of the history's edge: the check itself takes time.
        times = [now - rng.randint(0, max(0, history - 60) * MICROS) for _ in range(samples)]
        tiled = TiledView.of(view, history_seconds=history)
        prefix = key_prefix(store.project, view.name, view.version)
        online = [
            read_windows(store.online.store, tiled, [tile_tag(entity_key(prefix, list(k)))], t)[0] for k, t in zip(rows, times, strict=True)
        ]
        columns: dict[str, Any] = {name: [k[i] for k in rows] for i, name in enumerate(view.join_keys)}
        columns["event_timestamp"] = [datetime.fromtimestamp(t / MICROS, tz=UTC) for t in times]
        entity_df = pa.table(columns)
        features = [f"{view.name}@v{view.version}:{f}" for f in view.feature_names]
        offline = store.get_historical_features(entity_df, features, output="arrow").to_pylist()
        for name in view.feature_names:
            skew = FeatureSkew(f"{view.name}:{name}")
            for key, t, got, expected in zip(rows, times, online, offline, strict=True):
                skew.checked += 1
                if not same(got[name], expected[name]):
                    skew.mismatches += 1
                    if len(skew.examples) < 5:
                        skew.examples.append((key, datetime.fromtimestamp(t / MICROS, tz=UTC), got[name], expected[name]))
            report.append(skew)
    return report


def same(online: Any, offline: Any) -> bool:
    if online is None or offline is None:
        return _null(online) and _null(offline)
    if isinstance(online, float) or isinstance(offline, float):
        return math.isclose(float(online), float(offline), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(online, list | tuple):
        return list(online) == list(offline)
    return bool(online == offline)


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _recent_keys(store: FeatureStore, source: str, join_keys: Sequence[str], *, since_us: int) -> list[tuple[Any, ...]]:
    table = store.offline_tables.read(source, columns=list(join_keys), start=datetime.fromtimestamp(since_us / MICROS, tz=UTC))
    if table.num_rows == 0:
        return []
    valid = table.filter(pc.is_valid(table.column(join_keys[0])))
    return sorted(set(zip(*(valid.column(k).to_pylist() for k in join_keys), strict=True)), key=str)
