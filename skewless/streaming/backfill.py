"""``skewless backfill``: tiles for the history already in the offline store.

Reads each windowed view's source from ``now - (longest window + hop + tile history)`` on, in
log order (``_write_seq``), and merges it into the tiles through the same writer the stream
uses. The tiles' event-id guards make the cut-over exact: an event the stream already applied
is skipped, one it has not reached yet is applied here and skipped when the stream gets to it;
either way it counts once, and no event of the log is missed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skewless.aggregation.windows import MICROS
from skewless.offline.tables import WRITE_SEQ
from skewless.offline.validate import source_schema
from skewless.online.tile_reads import TiledView
from skewless.streaming.push import EventSink
from skewless.streaming.tiling import apply_events

BATCH_ROWS = 20_000


@dataclass(frozen=True)
class BackfillResult:
    view: str
    version: int
    events: int
    applied: int
    seconds: float


def backfill(
    sink: EventSink, *, views: Sequence[str] | None = None, progress: Any = None, now_us: int | None = None
) -> list[BackfillResult]:
    """Merge the recent offline history of windowed views into their tiles."""
    now = now_us if now_us is not None else time.time_ns() // 1000
    results = []
    for tiled in _selected(sink, views):
        started = time.perf_counter()
        view = tiled.view
        source = view.source
        if sink.tables.version(source.name) is None:
            results.append(BackfillResult(view.name, view.version, 0, 0, 0.0))
            continue
        since = now - (tiled.layout.reach_seconds + tiled.layout.history_seconds) * MICROS
        events = sink.tables.read(source.name, start=datetime.fromtimestamp(since / MICROS, tz=UTC))
        events = events.sort_by([(WRITE_SEQ, "ascending")])  # first write first: it is the one that counts
        task = progress.add_task(f"backfill {view.name}", total=events.num_rows) if progress is not None else None
        applied = 0
        columns = [f.name for f in source_schema(source)]
        for offset in range(0, events.num_rows, BATCH_ROWS):
            chunk = events.slice(offset, BATCH_ROWS)
            seqs = chunk.column(WRITE_SEQ).to_pylist()
            # Rows without this view's key (another entity's events) are skipped by apply_events.
            applied += apply_events(sink.writer, sink.project, [tiled], chunk.select(columns), seqs)
            if task is not None:
                progress.advance(task, chunk.num_rows)
        results.append(BackfillResult(view.name, view.version, events.num_rows, applied, time.perf_counter() - started))
    return results


def _selected(sink: EventSink, views: Sequence[str] | None) -> list[TiledView]:
    tiled = [t for source in dict.fromkeys(v.source.name for v in sink.catalog.feature_views()) for t in sink.tiled_views(source)]
    if views is None:
        return tiled
    known = {t.view.name for t in tiled}
    missing = [v for v in views if v not in known]
    if missing:
        from skewless.errors import DefinitionError

        raise DefinitionError(f"no windowed view named {', '.join(missing)}", hint=f"windowed views: {', '.join(sorted(known)) or 'none'}")
    return [t for t in tiled if t.view.name in views]
