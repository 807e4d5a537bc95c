"""The body of ``POST /push``: Feast's push request, or a plain list of events.

Feast sends ``{"push_source_name": "...", "df": {"column": [values...]}, "to": "online"}``; Skewless
also takes ``{"source": "...", "events": [{...}, ...]}``. ``to`` is accepted for Feast clients
but does not split the worlds: every accepted event is logged offline and applied online, so
training reads exactly what serving saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from skewless.errors import MalformedRequestError
from skewless.serving.bodies import json_object

MAX_PUSH_BYTES: Final = 16 * 1024 * 1024
TARGETS: Final = ("online", "offline", "online_and_offline")


@dataclass(frozen=True)
class PushRequest:
    source: str
    events: list[dict[str, Any]]


def parse_push(body: bytes) -> PushRequest:
    example = '{"source": "engagement", "events": [{...}]}'
    data = json_object(body, max_bytes=MAX_PUSH_BYTES, example=example, what="the push body")
    source = data.get("push_source_name", data.get("source"))
    if not isinstance(source, str) or not source:
        raise MalformedRequestError("name the source: 'push_source_name' (Feast) or 'source'")
    target = data.get("to", "online_and_offline")
    if target not in TARGETS:
        raise MalformedRequestError(f"'to' is {target!r}", hint=f"one of {', '.join(TARGETS)} (events always reach both stores)")
    if "df" in data:
        columns = data["df"]
        if not isinstance(columns, dict) or not all(isinstance(v, list) for v in columns.values()):
            raise MalformedRequestError("'df' must be an object of column -> list of values")
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise MalformedRequestError(f"the columns of 'df' have different lengths: {sorted(lengths)}")
        rows = lengths.pop() if lengths else 0
        events = [{name: values[i] for name, values in columns.items()} for i in range(rows)]
    elif isinstance(data.get("events"), list):
        events = data["events"]
    else:
        raise MalformedRequestError("send the events as 'df' (columns, as Feast) or 'events' (a list of objects)")
    return PushRequest(source, events)
