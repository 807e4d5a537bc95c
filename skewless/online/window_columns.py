"""One windowed view's part of an online read: its features for every row, from summaries or tiles.

A view with window summaries (:mod:`skewless.aggregation.summaries`) is read as one value per
distinct entity, fetched with the stored rows of the other views in the request's single store
``read``. An entity the summaries cannot answer at ``t`` (an event at or after ``t``, or a read
further back than a summary keeps) is read from its tiles in a second read
(:meth:`~skewless.online.retrieval.PendingRead.tile_reads`).
A view without summaries asks the same tile fields of every entity's state hash in the first
read (:func:`window_read`). Either way :func:`window_columns` gives the same
:class:`~skewless.online.columns.RawColumn` the snapshot views give; a windowed feature's event
time is ``t``, the end of its window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skewless.aggregation import summary_reads
from skewless.aggregation.summary_reads import SummaryRead
from skewless.aggregation.windows import window_start_us
from skewless.online.columns import NULL_VALUE, PRESENT, UNAVAILABLE, RawColumn
from skewless.online.protocol import FieldRead, Values
from skewless.online.read_plan import ViewReadPlan
from skewless.online.tile_columns import add_ratios, numeric_output, read_windows_fast, window_field_read
from skewless.online.tile_keys import entity_summary_keys, tile_tag
from skewless.online.tile_reads import check_readable


def summary_keys(row_keys: Sequence[bytes]) -> list[bytes]:
    """The summary keys of the rows' distinct entities."""
    return entity_summary_keys(dict.fromkeys(row_keys))


def window_read(view: ViewReadPlan, row_keys: Sequence[bytes], t_us: int) -> FieldRead:
    """The tile fields the rows' distinct entities need for a read at ``t_us``."""
    assert view.tiled is not None
    return window_field_read(view.tiled, [tile_tag(k) for k in dict.fromkeys(row_keys)], t_us)


@dataclass
class SummaryAnswer:
    """What the summaries of a view's distinct entities gave, and which entities need their tiles."""

    read: SummaryRead
    from_tiles: list[int]  # positions of the entities the summaries could not answer
    tiles: FieldRead | None  # the read of those entities' tiles (None: none needed)

    @classmethod
    def of(cls, view: ViewReadPlan, row_keys: Sequence[bytes], values: Values, t_us: int) -> SummaryAnswer:
        """Raises:
        InvalidRequestError: ``t_us`` is further back than the tiles keep, as a read from tiles would."""
        assert view.tiled is not None and view.summary is not None
        check_readable(view.tiled, t_us)  # an entity without a summary would otherwise read as empty there
        read = summary_reads.read(view.summary, values, t_us)
        from_tiles = (~read.usable).nonzero()[0].tolist()
        if not from_tiles:
            return cls(read, [], None)
        distinct = list(dict.fromkeys(row_keys))
        return cls(read, from_tiles, window_field_read(view.tiled, [tile_tag(distinct[i]) for i in from_tiles], t_us))


def window_columns(view: ViewReadPlan, row_keys: Sequence[bytes], values: Values | None, *, t_us: int,
                   answer: SummaryAnswer | None = None) -> dict[str, RawColumn]:  # fmt: skip
    """The selected features of a windowed view for rows keyed ``row_keys``, by internal column
    name: from ``answer`` (the view's summaries) and ``values``, the tile fields it asked for, or
    from ``values`` alone, the fields of :func:`window_read` (None: the store was unavailable)."""
    assert view.tiled is not None
    count = len(row_keys)
    if values is None and answer is None:
        return {name: RawColumn([None] * count, [UNAVAILABLE] * count, [None] * count, dtype) for name, _, dtype in view.columns}
    distinct = list(dict.fromkeys(row_keys))
    if answer is None:
        assert values is not None
        per_entity = read_windows_fast(values, view.tiled, len(distinct), t_us)
    else:
        per_entity = _summary_columns(view, answer.read, t_us)
        if answer.from_tiles and values is not None:
            tiled = read_windows_fast(values, view.tiled, len(answer.from_tiles), t_us)
            for name, column in per_entity.items():
                for i, e in enumerate(answer.from_tiles):
                    column[e] = tiled[name][i]
    repeated = len(distinct) == 1 and count > 1
    # Rows back from distinct entities: positions in ``distinct``, taken per column by a C-level map.
    at = None if len(distinct) == count else list(map({k: i for i, k in enumerate(distinct)}.__getitem__, row_keys))
    unavailable = set(answer.from_tiles) if answer is not None and values is None else set()
    out: dict[str, RawColumn] = {}
    never_null = view.never_null
    for feature, (name, _, dtype) in zip(view.selection.features, view.columns, strict=True):
        entity_values = per_entity[feature]
        if at is None:
            column = entity_values
        elif repeated:
            column = entity_values * count
        else:
            column = list(map(entity_values.__getitem__, at))
        # Null checks per entity, not per row, and none where a feature is never null: a 50-row scan
        # for None per feature cost ~20 µs a slate.
        if feature in never_null or None not in entity_values:
            statuses = [PRESENT] * count
        else:
            statuses = [PRESENT if v is not None else NULL_VALUE for v in column]
        times: list[int | None] = [t_us] * count
        if unavailable:  # the tiles these entities needed could not be read
            for row, e in enumerate(at if at is not None else range(count)):
                if e in unavailable:
                    column[row], statuses[row], times[row] = None, UNAVAILABLE, None
        out[name] = RawColumn(column, statuses, times, dtype, repeated=repeated)
    return out


def _summary_columns(view: ViewReadPlan, read: SummaryRead, t_us: int) -> dict[str, list[Any]]:
    """Every feature of the view for each distinct entity, from its summary."""
    assert view.tiled is not None and view.summary is not None
    summary = view.summary
    slots = read.merged.transpose(0, 2, 1).tolist()  # per window, per slot: one list over entities
    columns: dict[str, list[Any]] = {}
    outputs = zip(view.tiled.layout.outputs, view.summary_specs, summary.window_of_output, summary.ordered_of_output, strict=True)
    for output, spec, w, at in outputs:
        if spec is not None:
            columns[output.name] = numeric_output(spec, slots[w])
        else:  # last / last_n: the entity's latest values, from the window's start on
            assert at is not None
            _, window, hop = summary.windows[w]
            code, start = summary.ordered_codes[at], window_start_us(t_us, window, hop)
            columns[output.name] = [summary_reads.ordered_value(code, [] if tail is None else tail[at], start) for tail in read.ordered]
    add_ratios(view.tiled.view, columns)
    return columns
