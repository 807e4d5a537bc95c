"""What the windowed sweep computes for a view, and its features from the sweep's outputs (pure).

:class:`ViewPlan` turns a view's selected features into the index arrays of a
:class:`~skewless.offline.window_sweep.SweepSpec` (which totals, per window and column) and
:func:`view_columns` turns the sweep's outputs back into typed Arrow columns with each function's
empty value: count and sum 0, mean, min, max and last null, last_n an empty list; ratios null
when the denominator is 0 or null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.aggregation.windows import MICROS
from skewless.definitions.aggregation import AggregationOutput
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.selection import ViewSelection
from skewless.definitions.types import Bool, DType, Float32, Float64, Int64, Timestamp
from skewless.offline.window_sweep import I64, SweepSpec, SweepState

INTEGER_VALUED = (Int64, Bool, Timestamp)
FLOAT_VALUED = (Float32, Float64)


def needed_outputs(view_selection: ViewSelection) -> list[AggregationOutput]:
    """The aggregation outputs the selected features read (ratios read two each)."""
    view = view_selection.view
    outputs = {o.name: o for o in view.aggregation_outputs()}
    ratios = {r.name: r for r in view.ratios}
    wanted = list(view_selection.features)
    names = [f for f in wanted if f in outputs] + [p for f in wanted if f in ratios for p in (ratios[f].numerator, ratios[f].denominator)]
    return [outputs[name] for name in dict.fromkeys(names)]


def reach_us(view: FeatureView) -> int:
    """How far before an entity row's time its earliest window can start, in µs."""
    return max(o.window_seconds + o.hop_seconds for o in view.aggregation_outputs()) * MICROS


@dataclass(frozen=True)
class ViewPlan:
    """A view's sweep: its value columns (in ``SweepSpec`` order) and where each output lands."""

    selection: ViewSelection
    columns: tuple[tuple[str, DType], ...]
    spec: SweepSpec
    slots: dict[str, dict[str, int]]  # output name -> {"count": m, "sum": m, "extreme": m, "last": l, "window": j}

    @classmethod
    def of(cls, selection: ViewSelection, columns: Sequence[tuple[str, DType]]) -> ViewPlan:
        """The plan over value matrices of ``columns`` (this view's and others'), see :func:`_values`."""
        outputs = needed_outputs(selection)
        names = [c for c, _ in columns]
        ints = [c for c, t in columns if t in INTEGER_VALUED]
        floats = [c for c, t in columns if t in FLOAT_VALUED]
        windows = list(dict.fromkeys((o.window_seconds * MICROS, o.hop_seconds * MICROS) for o in outputs))
        kinds = ("counted", "count", "int", "float", "int_sum", "float_sum", "extreme", "int_ext", "float_ext")
        table: dict[str, list[tuple[int, ...]]] = {k: [] for k in kinds}
        lasts: dict[str, int] = {}
        slots: dict[str, dict[str, int]] = {}

        def slot(kind: str, entry: tuple[int, ...]) -> int:
            if entry not in table[kind]:
                table[kind].append(entry)
            return table[kind].index(entry)

        def window_of(o: AggregationOutput) -> int:
            return windows.index((o.window_seconds * MICROS, o.hop_seconds * MICROS)) + 1

        for o in sorted(outputs, key=window_of):  # slots in window order: the sweep reads them by window
            j = window_of(o)
            column, is_float = names.index(o.column), o.column in floats
            found = {"window": j}
            # An output's emptiness is its count (an integer sum's empty value needs none).
            if o.function in ("count", "mean", "min", "max") or (o.function == "sum" and is_float):
                found["count"] = slot("count", (j, slot("counted", (column,))))
            if o.function in ("sum", "mean", "min", "max"):
                values = slot("float", (column, floats.index(o.column))) if is_float else slot("int", (column, ints.index(o.column)))
            if o.function in ("sum", "mean"):
                found["float_sum" if is_float else "int_sum"] = slot("float_sum" if is_float else "int_sum", (j, values))
            elif o.function in ("min", "max"):
                accumulator = slot("float_ext" if is_float else "int_ext", (values, int(o.function == "max")))
                found["extreme"] = slot("extreme", (j, int(is_float), accumulator))
            elif o.function in ("last", "last_n"):
                lasts[o.column] = max(lasts.get(o.column, 1), o.n or 1)
            slots[o.name] = found
        for o in outputs:
            if o.column in lasts:
                slots[o.name]["last"] = list(lasts).index(o.column)
        spec = SweepSpec(
            windows=_matrix(windows, 2),
            int_columns=_matrix(table["int"], 2),
            float_columns=_matrix(table["float"], 2),
            count_columns=_matrix(table["counted"], 1).reshape(-1),
            count_slots=_matrix(table["count"], 2),
            int_sum_slots=_matrix(table["int_sum"], 2),
            float_sum_slots=_matrix(table["float_sum"], 2),
            int_extremes=_matrix(table["int_ext"], 2),
            float_extremes=_matrix(table["float_ext"], 2),
            extreme_slots=_matrix(table["extreme"], 3),
            last_columns=_matrix([(names.index(c), n) for c, n in lasts.items()], 2),
            matrix_rows=(len(columns), len(ints), len(floats)),
        )
        return cls(selection, tuple(columns), spec, slots)

    @property
    def last_columns(self) -> list[str]:
        return [self.columns[int(c)][0] for c, _ in self.spec.last_columns]


def _matrix(rows: Sequence[tuple[int, ...]], width: int) -> I64:
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


def view_columns(plan: ViewPlan, state: SweepState, kept: dict[str, list[pa.Array]], times: I64, inverse: I64) -> dict[str, pa.Array]:
    """The view's features (internal names) from the sweep's outputs, rows in time order, put back
    in the caller's order: row ``i`` is sorted row ``inverse[i]``; ``times``: the rows' times."""
    view_selection = plan.selection
    outputs = {o.name: o for o in view_selection.view.aggregation_outputs()}
    kept_columns = {c: pa.concat_arrays(chunks) if chunks else pa.array([], dict(plan.columns)[c].to_arrow()) for c, chunks in kept.items()}
    ratios = {r.name: r for r in view_selection.view.ratios}
    computed: dict[str, pa.Array] = {}

    def value(name: str) -> pa.Array:
        if name not in computed:
            computed[name] = _output(outputs[name], plan, state, inverse, kept_columns, times)
        return computed[name]

    result = {}
    for feature in view_selection.features:
        if feature in outputs:
            column = value(feature)
        else:
            num, den = value(ratios[feature].numerator), value(ratios[feature].denominator)
            den_f = pc.cast(den, pa.float64())
            column = pc.if_else(pc.equal(den_f, 0.0), pa.scalar(None, pa.float64()), pc.divide(pc.cast(num, pa.float64()), den_f))
        result[view_selection.column(feature)] = column
    return result


def _output(o: AggregationOutput, plan: ViewPlan, state: SweepState, inverse: I64, kept: dict[str, pa.Array], times: I64) -> pa.Array:
    """One output in the caller's row order: each function's empty value and type."""

    def rows(sorted_by_time: np.ndarray) -> np.ndarray:
        return sorted_by_time.take(inverse, axis=0)

    slots = plan.slots[o.name]
    count = rows(state.out_counts[slots["count"]]) if "count" in slots else np.empty(0, dtype=np.int64)
    empty = count == 0
    source_type = dict(plan.columns)[o.column]
    if o.function == "count":
        return pa.array(count)
    if o.function in ("sum", "mean"):
        if "int_sum" in slots:
            total: np.ndarray = rows(state.out_int_sums[slots["int_sum"]])
        else:
            total = np.where(empty, 0.0, rows(state.out_float_sums[slots["float_sum"]]))
        if o.function == "sum":
            return pa.array(total)
        with np.errstate(divide="ignore", invalid="ignore"):
            return pa.array(total / np.where(empty, 1, count), mask=empty)
    if o.function in ("min", "max"):
        m = slots["extreme"]
        if plan.spec.extreme_slots[m, 1]:
            return pc.cast(pa.array(rows(state.out_float_extremes[m]), mask=empty), source_type.to_arrow())
        return pa.array(rows(state.out_int_extremes[m]), mask=empty).cast(source_type.to_arrow() if source_type != Bool else pa.int64())
    # last / last_n: the latest non-null values before t, newest first, that are not before the start.
    r = slots["last"]
    window, hop = plan.spec.windows[slots["window"] - 1]
    starts = ((times - window) // hop) * hop
    refs, seen = rows(state.out_last_refs[r]), rows(state.out_last_times[r])  # (n, N) each
    limit = 1 if o.function == "last" else int(o.n or 1)
    inside = (refs[:, :limit] >= 0) & (seen[:, :limit] >= starts[:, None])
    values = kept[o.column].take(pa.array(refs[:, :limit][inside]))
    if o.function == "last":
        return _scatter(values, inside[:, 0], source_type.to_arrow())
    offsets = np.concatenate([[0], np.cumsum(inside.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _scatter(values: pa.Array, present: np.ndarray, dtype: pa.DataType) -> pa.Array:
    """``values`` at the rows where ``present``, null elsewhere."""
    positions = np.full(len(present), -1, dtype=np.int64)
    positions[present] = np.arange(int(present.sum()))
    index = pa.array(positions, mask=~present)
    return values.take(index) if len(values) else pa.nulls(len(present), dtype)
