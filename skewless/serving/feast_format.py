"""Feast's ``/get-online-features`` body in, Feast's response shape out (JSON), or compact msgpack.

Request, as Feast's feature server takes it (its HTTP clients and remote online store send this)::

    {"features": ["user_profile:age", ...] | "feature_service": "ranker",
     "entities": {"user_id": [1, 1], "article_id": [7, 8], "local_hour": [9, 9]},
     "full_feature_names": false,
     "request_context": {"local_hour": 9}}          # Skewless: request values for the whole slate

Request values may also be sent per row inside ``entities``, as Feast does for request sources.

Response, one result per output column, the join keys first (as Feast)::

    {"metadata": {"feature_names": ["user_id", "article_id", "age", ...]},
     "results": [{"values": [...], "statuses": ["PRESENT", ...],
                  "event_timestamps": ["2026-03-01T12:00:00Z", ...]}, ...]}

Join key columns are ``PRESENT`` at the epoch, as in Feast, and so is any value without an event
time. The msgpack form has the same shape, but event times are integers (µs since the epoch, nil
when unknown) and embeddings are raw little-endian float32 bytes (``np.frombuffer(b, "<f4")``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgpack
import numpy as np
import orjson

from skewless.definitions.types import DType, Embedding
from skewless.errors import InvalidRequestError, MalformedRequestError, RequestTooLargeError
from skewless.online.retrieval import OnlineResponse

JSON: Final = "application/json"
MSGPACK: Final = "application/x-msgpack"
MAX_BODY_BYTES: Final = 8 << 20
FIELDS: Final = ("features", "feature_service", "entities", "full_feature_names", "request_context")
EPOCH: Final = "1970-01-01T00:00:00Z"
EXAMPLE: Final = '{"features": ["view:feature"], "entities": {"user_id": [1, 2]}}'


@dataclass(frozen=True)
class FeatureRequest:
    features: tuple[str, ...] | None
    feature_service: str | None
    entities: dict[str, list[Any]]
    full_feature_names: bool = False
    request_context: dict[str, Any] | None = None

    @property
    def rows(self) -> int:
        return len(next(iter(self.entities.values()))) if self.entities else 0


def parse_request(body: bytes, *, max_rows: int) -> FeatureRequest:
    """Check the shape of a request body; every error names the field at fault."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestTooLargeError(f"the request body has {len(body)} bytes, more than the limit of {MAX_BODY_BYTES}")
    if not body.strip():
        raise MalformedRequestError("the request body is empty", hint=f"send JSON such as {EXAMPLE}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"the request body is not valid JSON: {exc}", hint=f"send JSON such as {EXAMPLE}") from None
    if not isinstance(data, dict):
        raise MalformedRequestError(f"the request body must be a JSON object, got {_kind(data)}", hint=f"send JSON such as {EXAMPLE}")
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise MalformedRequestError(f"unknown field {_names(unknown)} in the request", hint=f"allowed fields: {', '.join(FIELDS)}")

    features, service = data.get("features"), data.get("feature_service")
    if features is not None and service is not None:
        raise MalformedRequestError("the request gives both 'features' and 'feature_service'", hint="give one of them")
    if features is None and service is None:
        raise MalformedRequestError("the request names no features", hint="give 'features': ['view:feature', ...] or 'feature_service'")
    if features is not None and not (isinstance(features, list) and all(isinstance(f, str) for f in features)):
        raise MalformedRequestError(f"'features' must be a list of 'view:feature' strings, got {_kind(features)}")
    if service is not None and not isinstance(service, str):
        raise MalformedRequestError(f"'feature_service' must be a string, got {_kind(service)}")

    entities = data.get("entities")
    if entities is None:
        raise MalformedRequestError("the request has no 'entities'", hint='give the join keys as columns, e.g. {"user_id": [1, 2]}')
    if not isinstance(entities, dict):
        raise MalformedRequestError(f"'entities' must be an object of columns, got {_kind(entities)}", hint='e.g. {"user_id": [1, 2]}')
    for name, column in entities.items():
        if not isinstance(column, list):
            raise MalformedRequestError(
                f"entities[{name!r}] must be a list with one value per row, got {_kind(column)}", hint=f'e.g. {{"{name}": [1, 2]}}'
            )
    lengths = {name: len(column) for name, column in entities.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name!r} has {n}" for name, n in lengths.items())
        raise MalformedRequestError(f"entity columns have different lengths: {detail}", hint="give one value per row in every column")
    rows = max(lengths.values(), default=0)
    if rows > max_rows:
        raise InvalidRequestError(
            f"the request has {rows} rows, more than the limit of {max_rows} rows per request",
            hint="split the slate into several requests, or raise serving.max_rows in skewless.yaml",
        )

    full = data.get("full_feature_names", False)
    if not isinstance(full, bool):
        raise MalformedRequestError(f"'full_feature_names' must be true or false, got {_kind(full)}")
    context = data.get("request_context")
    if context is not None and not isinstance(context, dict):
        raise MalformedRequestError(f"'request_context' must be an object of request values, got {_kind(context)}")
    return FeatureRequest(None if features is None else tuple(features), service, entities, full, context)


def response_format(query_format: str | None, accept: str | None) -> str:
    """``?format=json|msgpack`` wins; else ``Accept: application/x-msgpack`` (or ``application/msgpack``)."""
    if query_format is not None:
        if query_format == "json":
            return JSON
        if query_format == "msgpack":
            return MSGPACK
        raise MalformedRequestError(f"unknown response format {query_format!r}", hint="use ?format=json or ?format=msgpack")
    if accept and "msgpack" in accept:
        return MSGPACK
    return JSON


def encode_json(response: OnlineResponse, join_keys: Iterable[str]) -> bytes:
    results: list[dict[str, Any]] = []
    names = _key_columns(response, join_keys, results, EPOCH)
    memo: dict[int, str] = {}
    last: tuple[list[int | None], list[str]] = ([], [])
    for name in response.feature_names:
        times = response.event_timestamps[name]
        if times is not last[0] and times != last[0]:  # the features of one view share their rows' times: convert them once
            last = (times, [EPOCH if t is None else memo.get(t) or _iso(t, memo) for t in times])
        values = response.values[name]
        if _one_object(values):  # a slate's user: its vector or list serialized once, not once per row
            values = [orjson.Fragment(orjson.dumps(values[0], option=orjson.OPT_SERIALIZE_NUMPY))] * len(values)
        results.append({"values": values, "statuses": response.statuses[name], "event_timestamps": last[1]})
    return orjson.dumps({"metadata": {"feature_names": names}, "results": results}, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_msgpack(response: OnlineResponse, join_keys: Iterable[str], dtypes: Mapping[str, DType]) -> bytes:
    """The same bytes as ``packb`` of the whole response, packed a column at a time: msgpack is
    concatenative, so status and event time lists equal to the previous column's (all ``PRESENT``;
    the times of one view's rows) are reused, not packed 50 values at a time again."""
    results: list[dict[str, Any]] = []
    names = _key_columns(response, join_keys, results, None)
    packer = msgpack.Packer(use_bin_type=True, default=_msgpack_default)
    pack = packer.pack
    parts = [_RESPONSE_HEAD, pack({"feature_names": names}), _RESULTS_KEY, packer.pack_array_header(len(names))]
    last_statuses: list[str] | None = None
    last_times: list[int | None] | None = None
    packed_statuses = packed_times = b""
    values_of, statuses_of, times_of = response.values, response.statuses, response.event_timestamps
    columns: list[tuple[list[Any], list[str], list[Any], DType | None]] = [
        (r["values"], r["statuses"], r["event_timestamps"], None) for r in results
    ]
    columns += [(values_of[n], statuses_of[n], times_of[n], dtypes.get(n)) for n in response.feature_names]
    for values, statuses, times, dtype in columns:
        # Identity first: the columns of one view share their lists, and an equality test walks all rows.
        if statuses is not last_statuses and statuses != last_statuses:
            last_statuses, packed_statuses = statuses, pack(statuses)
        if times is not last_times and times != last_times:
            last_times, packed_times = times, pack(times)
        if isinstance(dtype, Embedding):
            packed = _pack_embeddings(packer, values)
        elif _one_object(values):  # a slate's user: its list packed once, repeated as bytes
            packed = packer.pack_array_header(len(values)) + pack(values[0]) * len(values)
        else:
            packed = pack(values)
        parts += (_COLUMN_HEAD, packed, _STATUSES_KEY, packed_statuses, _TIMES_KEY, packed_times)
    return b"".join(parts)


def _pack_embeddings(packer: msgpack.Packer, values: list[Any]) -> bytes:
    """Raw little-endian float32 bytes per row (nil for a missing vector); one vector repeated on
    every row (a slate's user) is converted once."""
    head: bytes = packer.pack_array_header(len(values))
    if not values:
        return head
    if _one_object(values):
        one: bytes = packer.pack(_f4(values[0]))
        return head + one * len(values)
    parts = [head]
    for value in values:  # a bin header and the bytes, not pack() per row: ~2x faster at 50 x 384
        if value is None:
            parts.append(_NIL)
        else:
            raw = _f4(value)
            parts += (_bin_header(len(raw)), raw)
    return b"".join(parts)


def _f4(value: Any) -> bytes:
    raw: bytes = np.asarray(value, dtype="<f4").tobytes()
    return raw


def _bin_header(size: int) -> bytes:
    if size < 1 << 8:
        return b"\xc4" + size.to_bytes(1, "big")
    if size < 1 << 16:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")


_NIL: Final = b"\xc0"


def _one_object(values: list[Any]) -> bool:
    """Every row holds the same list or array object, as every row of a slate holds its user's."""
    if len(values) < 2:
        return False
    first = values[0]
    # Cheap tests first: most columns hold scalars, or differ between their first and last rows.
    return values[-1] is first and isinstance(first, (list, np.ndarray)) and len(set(map(id, values))) == 1


def _packed_key(key: str) -> bytes:
    packed: bytes = msgpack.packb(key, use_bin_type=True)
    return packed


_RESPONSE_HEAD: Final = b"\x82" + _packed_key("metadata")  # a map of two: metadata, results
_RESULTS_KEY: Final = _packed_key("results")
_COLUMN_HEAD: Final = b"\x83" + _packed_key("values")  # a map of three: values, statuses, event_timestamps
_STATUSES_KEY: Final = _packed_key("statuses")
_TIMES_KEY: Final = _packed_key("event_timestamps")


def _key_columns(response: OnlineResponse, join_keys: Iterable[str], results: list[dict[str, Any]], time: object) -> list[str]:
    names = []
    for key in join_keys:
        values = response.entities.get(key)
        if values is None:
            continue
        names.append(key)
        results.append({"values": values, "statuses": ["PRESENT"] * len(values), "event_timestamps": [time] * len(values)})
    names.extend(response.feature_names)
    return names


def _iso(us: int, memo: dict[int, str]) -> str:
    """Protobuf's JSON form of a timestamp: UTC, ``Z``, and 0, 3 or 6 fractional digits."""
    seconds, micros = divmod(us, 1_000_000)
    try:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    except (OverflowError, ValueError, OSError):  # beyond what a calendar date can say: not a real event time
        return EPOCH
    if micros:
        text += f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"
    memo[us] = text = text + "Z"
    return text


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, datetime):  # Timestamp feature values: µs since the epoch, like event times
        return (value - _UTC_EPOCH) // timedelta(microseconds=1)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} as msgpack")


_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)
