"""How to read one selection online, compiled once per (registry revision, features).

Resolving names, building codecs and key prefixes costs far more than the read itself at this
latency budget (Feast spends > 5 ms resolving views per call, its issue #3440), so a plan is
built once and reused until the registry changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from skewless.aggregation.summaries import SummaryLayout
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.selection import FeatureSelection, ViewSelection
from skewless.definitions.types import DType
from skewless.online.codec import RowCodec
from skewless.online.keys import key_prefix
from skewless.online.tile_columns import NumericSpec, numeric_spec
from skewless.online.tile_reads import TiledView


@dataclass(frozen=True)
class ViewReadPlan:
    selection: ViewSelection
    prefix: bytes
    codec: RowCodec
    join_keys: tuple[str, ...]
    positions: tuple[int, ...]  # where each selected feature sits in the stored row
    ttl_us: int | None
    columns: tuple[tuple[str, int, DType], ...] = ()  # per selected feature: internal column, stored position, type
    tiled: TiledView | None = None  # a windowed view: read from tiles, not a stored row
    summary: SummaryLayout | None = None  # its window summaries, if it has them (read before its tiles)

    @property
    def view(self) -> FeatureView:
        return self.selection.view

    @cached_property
    def never_null(self) -> frozenset[str]:
        """The windowed features that always have a value (counts, sums and ``last_n`` lists; an
        empty window's mean, min, max or ``last`` is null): their rows need no null check."""
        assert self.tiled is not None
        return frozenset(o.name for o in self.tiled.layout.outputs if o.function in ("count", "sum", "last_n"))

    @cached_property
    def summary_specs(self) -> tuple[NumericSpec | None, ...]:
        """Per output of a view with summaries, where its value sits in a summary read (None: a
        ``last`` / ``last_n``, read from the summary's tail)."""
        assert self.tiled is not None and self.summary is not None
        return tuple(
            None if at is not None else numeric_spec(output, self.summary.column_of)
            for output, at in zip(self.tiled.layout.outputs, self.summary.ordered_of_output, strict=True)
        )


@dataclass(frozen=True)
class ReadPlan:
    selection: FeatureSelection
    views: tuple[ViewReadPlan, ...]


def stored_features(view: FeatureView) -> tuple[str, ...]:
    """The features the online store keeps for a view: all of them, in definition order."""
    return view.feature_names


def codec_for(project: str, view: FeatureView) -> tuple[bytes, RowCodec]:
    return key_prefix(project, view.name, view.version), RowCodec(view.name, view.version, view.features)


def compile_read_plan(project: str, selection: FeatureSelection, *, tile_history_seconds: int = 3_600) -> ReadPlan:
    views = []
    for view_selection in selection.views:
        view = view_selection.view
        prefix, codec = codec_for(project, view)
        order = stored_features(view)
        ttl = view.ttl_seconds
        positions = tuple(order.index(f) for f in view_selection.features)
        columns = tuple(
            (view_selection.column(f), p, codec.features[p].dtype) for f, p in zip(view_selection.features, positions, strict=True)
        )
        tiled = TiledView.of(view, history_seconds=tile_history_seconds) if view.is_aggregation else None
        summary = SummaryLayout.of(tiled.layout) if tiled is not None else None
        ttl_us = None if ttl is None else ttl * 1_000_000
        views.append(ViewReadPlan(view_selection, prefix, codec, view.join_keys, positions, ttl_us, columns, tiled, summary))
    return ReadPlan(selection, tuple(views))
