"""One windowed view's part of an online read: its features for every row, assembled from tiles.

A read at ``t`` needs the same tile positions for every entity of the view, so the keys are
computed once per view (:func:`window_keys`) and fetched in the request's single ``get_many``
with the stored rows of the other views; :func:`window_columns` then turns the values into the
same :class:`~skewless.online.columns.RawColumn` the snapshot views give. A windowed feature's
event time is ``t``, the end of its window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skewless.online.columns import NULL_VALUE, PRESENT, UNAVAILABLE, RawColumn
from skewless.online.read_plan import ViewReadPlan
from skewless.online.tile_columns import read_windows_fast, window_read_keys
from skewless.online.tile_keys import tile_tag


def window_keys(view: ViewReadPlan, row_keys: Sequence[bytes], t_us: int) -> list[bytes]:
    """Every tile and raw key the rows' distinct entities need for a read at ``t_us``."""
    assert view.tiled is not None
    return window_read_keys(view.tiled, [tile_tag(k) for k in dict.fromkeys(row_keys)], t_us)


class _Fetched:
    """The values the request's ``get_many`` already returned, served again to :func:`read_windows`."""

    def __init__(self, stored: Mapping[bytes, bytes | None]) -> None:
        self.stored = stored

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return list(map(self.stored.get, keys))  # C-level loop: ~1,300 tile keys a slate


def window_columns(
    view: ViewReadPlan, row_keys: Sequence[bytes], stored: Mapping[bytes, bytes | None], *, available: bool, t_us: int
) -> dict[str, RawColumn]:
    """The selected features of a windowed view for rows keyed ``row_keys``, by internal column name."""
    assert view.tiled is not None
    count = len(row_keys)
    if not available:
        return {name: RawColumn([None] * count, [UNAVAILABLE] * count, [None] * count, dtype) for name, _, dtype in view.columns}
    distinct = list(dict.fromkeys(row_keys))
    per_entity = dict(zip(distinct, read_windows_fast(_Fetched(stored), view.tiled, [tile_tag(k) for k in distinct], t_us), strict=True))
    out: dict[str, RawColumn] = {}
    for feature, (name, _, dtype) in zip(view.selection.features, view.columns, strict=True):
        values: list[Any] = [per_entity[k][feature] for k in row_keys]
        statuses = [PRESENT if v is not None else NULL_VALUE for v in values]
        out[name] = RawColumn(values, statuses, [t_us] * count, dtype, repeated=len(distinct) == 1 and count > 1)
    return out
