"""One windowed view's part of an online read: its features for every row, assembled from tiles.

A read at ``t`` asks the same fields of every entity's state hash (:func:`window_read`), in
the request's single store ``read`` with the stored rows of the other views;
:func:`window_columns` then turns the values into the same
:class:`~skewless.online.columns.RawColumn` the snapshot views give. A windowed feature's event
time is ``t``, the end of its window.
"""

from __future__ import annotations

from collections.abc import Sequence

from skewless.online.columns import NULL_VALUE, PRESENT, UNAVAILABLE, RawColumn
from skewless.online.protocol import FieldRead, Values
from skewless.online.read_plan import ViewReadPlan
from skewless.online.tile_columns import read_windows_fast, window_field_read
from skewless.online.tile_keys import tile_tag


def window_read(view: ViewReadPlan, row_keys: Sequence[bytes], t_us: int) -> FieldRead:
    """The fields the rows' distinct entities need for a read at ``t_us``."""
    assert view.tiled is not None
    return window_field_read(view.tiled, [tile_tag(k) for k in dict.fromkeys(row_keys)], t_us)


def window_columns(view: ViewReadPlan, row_keys: Sequence[bytes], values: Values | None, *, t_us: int) -> dict[str, RawColumn]:
    """The selected features of a windowed view for rows keyed ``row_keys``, by internal column
    name, from the values of :func:`window_read` (None: the store was unavailable)."""
    assert view.tiled is not None
    count = len(row_keys)
    if values is None:
        return {name: RawColumn([None] * count, [UNAVAILABLE] * count, [None] * count, dtype) for name, _, dtype in view.columns}
    distinct = list(dict.fromkeys(row_keys))
    per_entity = read_windows_fast(values, view.tiled, len(distinct), t_us)
    repeated = len(distinct) == 1 and count > 1
    # Rows back from distinct entities: positions in ``distinct``, taken per column by a C-level map.
    at = None if len(distinct) == count else list(map({k: i for i, k in enumerate(distinct)}.__getitem__, row_keys))
    out: dict[str, RawColumn] = {}
    for feature, (name, _, dtype) in zip(view.selection.features, view.columns, strict=True):
        column = per_entity[feature] if at is None else list(map(per_entity[feature].__getitem__, at))
        statuses = [PRESENT] * count if None not in column else [PRESENT if v is not None else NULL_VALUE for v in column]
        out[name] = RawColumn(column, statuses, [t_us] * count, dtype, repeated=repeated)
    return out
