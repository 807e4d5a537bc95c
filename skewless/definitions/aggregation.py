"""Windowed aggregations over an event source, e.g. clicks per article over the last 10 minutes.

Semantics (shared by the offline engine and the online tiles): at time ``t`` a window ``W`` with
hop ``h`` covers the events with ``floor_h(t - W) <= ts < t``, hops aligned to the Unix epoch in
UTC. A window therefore spans between ``W`` and ``W + h``, and an event at exactly ``t`` is not
seen, so a label's own event never leaks into its features.

Default hop (when ``hop`` is not given): the largest of 1s, 10s, 1m, 5m, 1h, 1d that is at most
1/60 of the window, so the window overshoots by at most ~1.7%: 10m -> 10s, 1h -> 1m, 1d -> 5m,
7d -> 1h, 30d -> 1h.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal, get_args

from skewless.definitions.base import check_identifier
from skewless.definitions.duration import DurationLike, format_seconds, parse_seconds
from skewless.definitions.types import Array, Bool, DType, Float64, Int64, Scalar, Timestamp
from skewless.errors import DefinitionError

AggregationFunction = Literal["count", "sum", "mean", "min", "max", "last", "last_n"]
FUNCTIONS: Final[tuple[str, ...]] = get_args(AggregationFunction)

MIN_WINDOW_SECONDS: Final = 60
MAX_WINDOW_SECONDS: Final = 90 * 86_400
MAX_LAST_N: Final = 1_000
_NICE_HOPS: Final = (86_400, 3_600, 300, 60, 10, 1)


def default_hop_seconds(window_seconds: int) -> int:
    """The documented default hop for a window (see the module docstring)."""
    return next(h for h in _NICE_HOPS if h * 60 <= window_seconds) if window_seconds >= 60 else 1


@dataclass(frozen=True)
class AggregationOutput:
    """One feature an aggregation produces: a (column, function, window) with its hop."""

    name: str
    column: str
    function: str
    window_seconds: int
    hop_seconds: int
    dtype: DType
    n: int | None = None


@dataclass(frozen=True)
class Aggregation:
    """``Aggregation("clicked", "sum", windows=["10m", "1h"])`` -> ``clicked_sum_10m``, ``clicked_sum_1h``.

    Args:
        column: the source column aggregated.
        function: count (non-null values), sum, mean, min, max, last, or last_n (needs ``n``).
        windows: durations from 1 minute to 90 days, e.g. ``["1h", "24h", "7d", "30d"]``.
        hop: granularity of the window's old end; see the module docstring for defaults.
        n: how many values ``last_n`` keeps, most recent first.
        name: output name; may contain ``{window}``, required when there are several windows.
    """

    column: str
    function: AggregationFunction
    windows: Sequence[DurationLike]
    hop: DurationLike | None = None
    n: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        what = f"aggregation {self.function!r} of {self.column!r}"
        check_identifier(self.column, what=f"{what}: column")
        if self.function not in FUNCTIONS:
            raise DefinitionError(f"{what}: unknown function", hint=f"use one of {', '.join(FUNCTIONS)}")
        windows = [self.windows] if isinstance(self.windows, (str, timedelta)) else list(self.windows)
        if not windows:
            raise DefinitionError(f"{what}: windows is empty", hint="e.g. windows=['1h', '24h']")
        labels = tuple(_window_label(w, where=what) for w in windows)
        if len(set(map(_seconds, labels))) != len(labels):
            raise DefinitionError(f"{what}: windows {list(labels)} repeat a duration")
        object.__setattr__(self, "windows", labels)
        if self.hop is not None:
            hop = parse_seconds(self.hop, where=f"{what}: hop")
            if hop > min(map(_seconds, labels)):
                raise DefinitionError(f"{what}: hop {self.hop!r} is longer than a window", hint="use a hop ≤ the shortest window")
            object.__setattr__(self, "hop", format_seconds(hop))
        if self.function == "last_n":
            if not isinstance(self.n, int) or isinstance(self.n, bool) or not 1 <= self.n <= MAX_LAST_N:
                raise DefinitionError(f"{what}: last_n needs n from 1 to {MAX_LAST_N}", hint="e.g. n=20")
        elif self.n is not None:
            raise DefinitionError(f"{what}: n only applies to last_n", hint="remove n=")
        if self.name is not None:
            if len(labels) > 1 and "{window}" not in self.name:
                raise DefinitionError(
                    f"{what}: name {self.name!r} would repeat across {len(labels)} windows",
                    hint="put {window} in the name, e.g. name='ctr_{window}'",
                )
            check_identifier(self.name.replace("{window}", "w"), what=f"{what}: name")

    @property
    def window_labels(self) -> tuple[str, ...]:
        """The windows as written (normalized to text on construction), e.g. ``("10m", "24h")``."""
        return tuple(str(w) for w in self.windows)

    def hop_seconds(self, window_seconds: int) -> int:
        return parse_seconds(self.hop, where="hop") if self.hop is not None else default_hop_seconds(window_seconds)

    def output_name(self, window_label: str) -> str:
        return (self.name or "{column}_{function}_{window}").format(column=self.column, function=self.function, window=window_label)

    def semantics(self) -> dict[str, tuple[Any, ...]]:
        """Output name -> (column, function, window seconds, hop seconds, n): what fixes its values."""
        result: dict[str, tuple[Any, ...]] = {}
        for label in self.window_labels:
            window = _seconds(label)
            result[self.output_name(label)] = (self.column, self.function, window, self.hop_seconds(window), self.n)
        return result

    def outputs(self, columns: Mapping[str, DType], *, owner: str) -> list[AggregationOutput]:
        """The features this aggregation produces over a source with ``columns``."""
        what = f"{owner}: aggregation {self.function!r} of {self.column!r}"
        if self.column not in columns:
            raise DefinitionError(
                f"{what}: the source has no column {self.column!r}",
                hint=f"aggregate one of its columns: {', '.join(sorted(columns))}",
            )
        dtype = output_dtype(self.function, columns[self.column], where=what)
        result = []
        for label in self.window_labels:
            seconds = _seconds(label)
            result.append(
                AggregationOutput(self.output_name(label), self.column, self.function, seconds, self.hop_seconds(seconds), dtype, self.n)
            )
        return result

    def to_spec(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "function": self.function,
            "windows": list(self.windows),
            "hop": self.hop,
            "n": self.n,
            "name": self.name,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Aggregation:
        return cls(spec["column"], spec["function"], spec["windows"], spec.get("hop"), spec.get("n"), spec.get("name"))


def output_dtype(function: str, dtype: DType, *, where: str) -> DType:
    """Type of an aggregate, or a DefinitionError naming the type mismatch."""
    if function == "count":
        return Int64
    if function == "last":
        return dtype
    if function == "last_n":
        if not isinstance(dtype, Scalar):
            raise DefinitionError(f"{where}: last_n keeps scalars, the column is {dtype}", hint="use 'last' for vectors")
        return Array(dtype)
    if function in ("min", "max"):
        if dtype.is_numeric or dtype == Timestamp:
            return dtype
    elif function in ("sum", "mean") and (dtype.is_numeric or dtype == Bool):
        if function == "mean":
            return Float64
        return Int64 if dtype in (Int64, Bool) else Float64
    raise DefinitionError(
        f"{where}: type mismatch, {function} needs a numeric column, the column is {dtype}",
        hint="aggregate a numeric column, or use count / last / last_n",
    )


def _window_label(window: DurationLike, *, where: str) -> str:
    seconds = parse_seconds(window, where=f"{where}: window")
    if not MIN_WINDOW_SECONDS <= seconds <= MAX_WINDOW_SECONDS:
        raise DefinitionError(
            f"{where}: window {window!r} is outside 1 minute to 90 days",
            hint="e.g. '10m', '1h', '24h', '7d', '30d'",
        )
    # Keep the user's spelling ('24h' stays '24h') so feature names read as written.
    return window.strip().lower() if isinstance(window, str) else format_seconds(seconds)


def _seconds(label: str) -> int:
    return parse_seconds(label, where="window")
