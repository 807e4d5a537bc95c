"""The response encoders give the bytes of the plain structure packed (or dumped) in one call.

The oracle: ``msgpack.packb`` / ``orjson`` of the response written out naively, value by value,
as the format's docstring describes it; the encoders' shortcuts (lists and vectors shared by
rows, status and time lists shared by columns) must not change a byte.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import numpy as np
import orjson

from skewless.definitions.types import Embedding, Float64, Int64, String, Timestamp
from skewless.online.retrieval import OnlineResponse
from skewless.serving.feast_format import encode_json, encode_msgpack

T = 1_790_000_000_123_000  # µs
DTYPES: dict[str, Any] = {
    "age": Int64,
    "country": String,
    "score": Float64,
    "user_vec": Embedding(4),
    "doc_vec": Embedding(4),
    "seen": Timestamp,
}


def response(rows: int) -> OnlineResponse:
    user_vec = np.array([0.5, -1.0, 2.25, 0.0], dtype=np.float32)
    topics = ["tech", "sport"]
    present = ["PRESENT"] * rows
    times = [T] * rows
    out = OnlineResponse({"user_id": [7] * rows, "article_id": list(range(100, 100 + rows))}, [*DTYPES, "topics"])
    columns: dict[str, tuple[list[Any], list[str], list[Any]]] = {
        "age": ([31] * rows, present, times),  # a slate's user: one object on every row
        "country": (["FR"] * rows, list(present), list(times)),  # equal, not identical, lists
        "score": (
            [None if i % 3 == 0 else i / 7 for i in range(rows)],
            ["NULL_VALUE" if i % 3 == 0 else "PRESENT" for i in range(rows)],
            times,
        ),
        "user_vec": ([user_vec] * rows, present, [T + 1] * rows),
        "doc_vec": ([None if i == 1 else np.arange(4, dtype=np.float64) + i for i in range(rows)], present, [None] * rows),
        "seen": ([datetime(2026, 3, 1, tzinfo=UTC) + timedelta(microseconds=i) for i in range(rows)], present, times),
        "topics": ([topics] * rows, present, times),
    }
    for name, (values, statuses, event_times) in columns.items():
        out.values[name], out.statuses[name], out.event_timestamps[name] = values, statuses, event_times
    return out


def naive(r: OnlineResponse, *, times: Any, value: Any) -> dict[str, Any]:
    keys = list(r.entities)
    results = [
        {"values": r.entities[k], "statuses": ["PRESENT"] * len(r.entities[k]), "event_timestamps": [times(None)] * len(r.entities[k])}
        for k in keys
    ]
    for name in r.feature_names:
        results.append(
            {
                "values": [value(name, v) for v in r.values[name]],
                "statuses": r.statuses[name],
                "event_timestamps": [times(t) for t in r.event_timestamps[name]],
            }
        )
    return {"metadata": {"feature_names": keys + r.feature_names}, "results": results}


def msgpack_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(DTYPES.get(name), Embedding):
        return np.asarray(value, dtype="<f4").tobytes()
    if isinstance(value, datetime):
        return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return value


def test_msgpack_is_the_plain_structure_packed() -> None:
    for rows in (0, 1, 2, 5, 50):
        r = response(rows)
        expected = msgpack.packb(naive(r, times=lambda t: t, value=msgpack_value), use_bin_type=True)
        assert encode_msgpack(r, ["user_id", "article_id"], DTYPES) == expected, rows


def test_json_is_the_plain_structure_dumped() -> None:
    def iso(t: int | None) -> str:
        if t is None:
            return "1970-01-01T00:00:00Z"
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"  # this test's times: whole ms

    def value(name: str, v: Any) -> Any:
        return v.tolist() if isinstance(v, np.ndarray) else v.isoformat() if isinstance(v, datetime) else v

    for rows in (0, 1, 2, 5, 50):
        r = response(rows)
        # T + 1 is not whole milliseconds: 6 digits
        expected = naive(r, times=lambda t: iso(t) if t != T + 1 else iso(T)[:-1] + "001Z", value=value)
        assert orjson.loads(encode_json(r, ["user_id", "article_id"])) == orjson.loads(orjson.dumps(expected)), rows
