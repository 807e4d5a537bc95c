"""Statuses of values the store could not give: ``CACHED`` (served from the serving cache while the
store was unavailable) and ``STORE_UNAVAILABLE`` (nothing to serve).

Retrieval reads through :class:`~skewless.serving.cache.CachedRead`, which records the keys it
served from the cache or not at all; this rewrites the statuses of the rows of those keys. It
runs only when a read was degraded, so the normal path pays nothing. An on-demand feature is as
degraded as the worst of the rows it was computed from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skewless.online.keys import entity_keys
from skewless.online.read_plan import ReadPlan
from skewless.online.retrieval import CACHED, NOT_FOUND, NULL_VALUE, PRESENT, UNAVAILABLE, OnlineResponse
from skewless.online.tile_keys import state_key, summary_key, tile_tag

_GOOD = (PRESENT, NULL_VALUE)


def mark_degraded(
    plan: ReadPlan, rows: Mapping[str, list[Any]], response: OnlineResponse, cached: set[bytes], unavailable: set[bytes]
) -> None:
    count = len(next(iter(rows.values()))) if rows else 0
    output_of = {o.internal: o.name for o in plan.selection.outputs}
    marks_of: dict[str, list[str | None]] = {}  # internal column -> per row: None, CACHED or UNAVAILABLE
    tiled: set[str] = set()
    for view in plan.views:
        marks: list[str | None]
        keys = entity_keys(view.prefix, view.join_keys, rows)
        if view.tiled is not None:
            # A window is read from its entity's summary, or its state (a hash) when the summary
            # cannot answer: as degraded as the worse of those reads.
            tags = [tile_tag(key) for key in keys]
            marks = [_worst((_mark(summary_key(t), cached, unavailable), _mark(state_key(t), cached, unavailable))) for t in tags]
            tiled.update(view.selection.column(f) for f in view.selection.features)
        else:
            marks = [_mark(key, cached, unavailable) for key in keys]
        for feature in view.selection.features:
            marks_of[view.selection.column(feature)] = marks
    for internal, marks in marks_of.items():
        name = output_of.get(internal)
        if name is not None:
            _apply(response, name, marks, clear=internal in tiled)
    for odfv in plan.selection.on_demand:
        inputs = [marks_of[i.internal] for i in odfv.inputs if i.internal in marks_of]
        if not inputs:
            continue
        marks = [_worst(m[i] for m in inputs) for i in range(count)]
        for feature in odfv.features:
            name = output_of.get(odfv.column(feature))
            if name is not None:
                _apply(response, name, marks, clear=True)


def _mark(key: bytes, cached: set[bytes], unavailable: set[bytes]) -> str | None:
    return UNAVAILABLE if key in unavailable else CACHED if key in cached else None


def _worst(marks: Any) -> str | None:
    seen = set(marks)
    return UNAVAILABLE if UNAVAILABLE in seen else CACHED if CACHED in seen else None


def _apply(response: OnlineResponse, name: str, marks: list[str | None], *, clear: bool) -> None:
    """``clear``: an on-demand value computed from unavailable inputs is dropped, not served."""
    statuses, values, times = response.statuses[name], response.values[name], response.event_timestamps[name]
    for i, mark in enumerate(marks):
        if mark is None:
            continue
        if mark == UNAVAILABLE and (clear or statuses[i] == NOT_FOUND):
            statuses[i], values[i], times[i] = UNAVAILABLE, None, None
        elif mark == CACHED and statuses[i] in _GOOD:
            statuses[i] = CACHED
