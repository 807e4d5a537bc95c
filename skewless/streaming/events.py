"""Sorting incoming events into accepted, late and invalid, without losing the good ones.

An event stream is not a file: one bad event must not hold back the batch it travels in. The
batch is validated as a whole (the usual case, one vectorized pass); only when that fails is
each event validated alone, so the reason of every bad one is known and every good one kept.
Beyond the offline store's checks (missing key, wrong type, unparseable time...), events are
refused when their timestamp is too far in the future or their payload too large. An event is
*late* when it is older than its arrival minus the reach of the longest window (plus hop) over
its source: its tiles are gone, so it is kept out of both worlds and logged as a dead letter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa

from skewless.aggregation.windows import MICROS
from skewless.definitions.source import BatchSource, StreamSource
from skewless.errors import DataValidationError, SkewlessError
from skewless.offline.validate import source_schema, validate_rows

MAX_FUTURE_SECONDS: Final = 300
MAX_EVENT_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class DeadLetter:
    """An event refused, with why: ``kind`` is ``invalid`` or ``late``."""

    source: str
    kind: str
    reason: str
    payload: str  # the event as JSON


@dataclass(frozen=True)
class SortedEvents:
    accepted: pa.Table  # validated rows in arrival order
    dead_letters: list[DeadLetter]


def sort_events(
    source: BatchSource | StreamSource,
    events: Sequence[Mapping[str, Any]],
    *,
    key_columns: Sequence[str],
    arrival_us: int,
    reach_seconds: int | None,
    max_future_seconds: int = MAX_FUTURE_SECONDS,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> SortedEvents:
    """Validate ``events`` (dicts of column -> value) arriving at ``arrival_us``.

    ``reach_seconds``: the longest window plus its hop over the source (None: no windowed view,
    nothing is late).
    """
    dead: list[DeadLetter] = []
    columns = source.columns  # a property building a dict: once per batch, not per event
    shape = _Shape(source, columns)
    sized: list[Mapping[str, Any]] = []
    for event in events:
        payload = None if _surely_small(event, max_event_bytes) else _json(event)
        if payload is not None and len(payload) > max_event_bytes:
            reason = f"payload of {len(payload):,} bytes is over the limit of {max_event_bytes:,}"
            dead.append(DeadLetter(source.name, "invalid", reason, payload[:1024]))
        else:
            sized.append(event)
    shaped: list[Mapping[str, Any]] = []
    for event in sized:
        problem = shape.problem(event) if isinstance(event, Mapping) else "not an object of field -> value"
        if problem:
            dead.append(DeadLetter(source.name, "invalid", problem, _json(event)))
        else:
            shaped.append(event)
    good = _validated(source, shaped, key_columns, dead)
    if good.num_rows == 0:
        return SortedEvents(good, dead)
    ts = np.asarray(good.column(source.timestamp_field).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()), dtype=np.int64)
    future = ts > arrival_us + max_future_seconds * MICROS
    late = ts < arrival_us - reach_seconds * MICROS if reach_seconds is not None else np.zeros(len(ts), dtype=bool)
    for row in np.flatnonzero(future | late).tolist():  # usually none: one vectorized check per batch
        t = int(ts[row])
        if future[row]:
            reason = f"{source.timestamp_field} is {(t - arrival_us) / MICROS:,.0f} s in the future (more than {max_future_seconds} s)"
            dead.append(DeadLetter(source.name, "invalid", reason, _json(good.slice(row, 1).to_pylist()[0])))
        else:
            reason = f"late: {(arrival_us - t) / MICROS:,.0f} s old on arrival, the windows reach back {reach_seconds:,} s"
            dead.append(DeadLetter(source.name, "late", reason, _json(good.slice(row, 1).to_pylist()[0])))
    ok = ~(future | late)
    accepted = good if ok.all() else good.filter(pa.array(ok))
    return SortedEvents(accepted, dead)


def _validated(
    source: BatchSource | StreamSource, events: Sequence[Mapping[str, Any]], key_columns: Sequence[str], dead: list[DeadLetter]
) -> pa.Table:
    try:
        return validate_rows(source, _frame(source, events), key_columns=key_columns)
    except SkewlessError:
        pass
    tables = []
    for event in events:
        try:
            tables.append(validate_rows(source, _frame(source, [event]), key_columns=key_columns))
        except DataValidationError as exc:
            dead.append(DeadLetter(source.name, "invalid", "; ".join(f"{c}: {r}" for _, c, r in exc.problems) or str(exc), _json(event)))
        except SkewlessError as exc:
            dead.append(DeadLetter(source.name, "invalid", str(exc), _json(event)))
    return pa.concat_tables(tables) if tables else source_schema(source).empty_table()


def _frame(source: BatchSource | StreamSource, events: Sequence[Mapping[str, Any]]) -> Any:
    """Events as a pandas frame with exactly the source's columns (mixed types stay objects for the validator)."""
    import pandas as pd

    return pd.DataFrame.from_records(list(events), columns=list(source.columns))


class _Shape:
    """A missing or unknown field: a frame would turn the first into a null and drop the second."""

    def __init__(self, source: BatchSource | StreamSource, columns: Mapping[str, Any]) -> None:
        self.columns = list(columns)
        self.optional = {source.created_timestamp_field}
        # The usual event has exactly the columns, or all but the optional one: one set comparison.
        self.fine = [set(self.columns), set(self.columns) - self.optional]

    def problem(self, event: Mapping[str, Any]) -> str | None:
        if event.keys() in self.fine:
            return None
        missing = [c for c in self.columns if c not in event and c not in self.optional]
        unknown = [k for k in event if k not in self.columns]
        if missing:
            return f"missing field(s) {', '.join(missing)}"
        if unknown:
            return f"unknown field(s) {', '.join(map(str, unknown))}; the source has {', '.join(self.columns)}"
        return None


def _surely_small(event: Any, limit: int) -> bool:
    """Whether ``event``'s JSON (:func:`_json`) is certainly within ``limit`` characters, without
    encoding it: JSON writes a character of ``str()`` as at most 12 (a surrogate pair ``\\uXXXX\\uXXXX``),
    and quotes, ``: `` and ``, `` add at most 8 per field. Rare large events are measured exactly."""
    if not isinstance(event, dict):
        return False
    try:
        text = sum(map(len, map(str, event))) + sum(map(len, map(str, event.values())))
    except Exception:  # an odd __str__: measure it the exact way
        return False
    return 12 * text + 8 * len(event) + 2 <= limit


def _json(event: Any) -> str:
    return json.dumps(event, default=str, sort_keys=True)
