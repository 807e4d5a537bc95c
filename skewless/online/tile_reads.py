"""Reading windowed features from tiles: each window is its whole tiles plus the raw events before ``t``.

For a read at ``t`` every entity of a view needs the same tile positions (they depend only on
``t`` and the windows), so the positions are computed once per read and the same fields asked
of every entity's state hash in one ``read`` (one round trip per Redis node).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack

from skewless.aggregation.tiles import Partial, TileLayout, floor_to, window_tiles
from skewless.aggregation.windows import MICROS
from skewless.definitions.feature_view import FeatureView
from skewless.errors import InvalidRequestError
from skewless.online.protocol import FieldRead, FieldSet, Values
from skewless.online.tile_keys import raw_field, state_key, tile_field


class FieldReader(Protocol):
    """What a tile read needs of a store (an :class:`~skewless.online.protocol.OnlineStore`)."""

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]: ...


@dataclass(frozen=True)
class TiledView:
    """A windowed view with its tile layout."""

    view: FeatureView
    layout: TileLayout

    @classmethod
    def of(cls, view: FeatureView, *, history_seconds: int) -> TiledView:
        return cls(view, TileLayout.for_outputs(view.aggregation_outputs(), history_seconds=history_seconds))


def check_readable(tiled: TiledView, t_us: int) -> None:
    """Refuse a read further in the past than the tiles keep: their finest tiles are gone."""
    history = tiled.layout.history_seconds
    oldest = time.time_ns() // 1000 - history * MICROS
    if t_us < oldest:
        raise InvalidRequestError(
            f"{tiled.view.name}: windowed features can be read as of the last {history:,} s only, "
            f"not {(oldest - t_us) / MICROS + history:,.0f} s ago",
            hint="read older values with get_historical_features, or raise streaming.tile_history_seconds in skewless.yaml",
        )


def read_windows(store: FieldReader, tiled: TiledView, tags: Sequence[bytes], t_us: int) -> list[dict[str, Any]]:
    """Every feature of the view (aggregates and ratios) for each entity tag, as of ``t_us``.

    Raises:
        InvalidRequestError: ``t_us`` is further in the past than the tiles keep (the layout's
            ``history_seconds``): their finest tiles are gone, so the values would be wrong.
    """
    layout = tiled.layout
    check_readable(tiled, t_us)
    plans = [(o, *window_tiles(t_us, o.window_seconds, o.hop_seconds, layout.levels)) for o in layout.outputs]
    positions = list(dict.fromkeys(tile for _, tiles, _ in plans for tile in tiles))
    raw_start = floor_to(t_us, layout.base)
    width = len(positions) + 1
    fields = FieldSet([*(tile_field(level, start) for level, start in positions), raw_field(raw_start)])
    values = store.read([], [([state_key(tag) for tag in tags], fields)])[1][0]
    index = {position: i for i, position in enumerate(positions)}
    results = []
    for e in range(len(tags)):
        row = values[e * width : (e + 1) * width]
        tiles = [msgpack.unpackb(v) if v is not None else None for v in row[:-1]]
        before_t = _raw_before(layout, row[-1], t_us)
        features: dict[str, Any] = {}
        for output, window, _ in plans:
            parts: list[Partial] = [p for p in (tiles[index[tile]] for tile in window) if p is not None]
            features[output.name] = layout.finalize(layout.merge_all([*parts, *before_t]), output)
        for ratio in tiled.view.ratios:
            num, den = features[ratio.numerator], features[ratio.denominator]
            features[ratio.name] = None if not den or num is None else float(num) / den
        results.append(features)
    return results


def _raw_before(layout: TileLayout, raw: bytes | None, t_us: int) -> list[Partial]:
    """The partials of the raw events before ``t``: ``raw`` is msgpack arrays of records
    ``[ts, seq, *values]`` (see :mod:`skewless.aggregation.tiles`), one array per write, concatenated."""
    if raw is None:
        return []
    unpacker = msgpack.Unpacker()
    unpacker.feed(raw)
    return [layout.record_partial(record) for records in unpacker for record in records if record[0] < t_us]
