"""The first checks of a JSON request body, shared by the endpoints that take one."""

from __future__ import annotations

from typing import Any

import orjson

from skewless.errors import MalformedRequestError, RequestTooLargeError


def json_object(body: bytes, *, max_bytes: int, example: str, what: str = "the body") -> dict[str, Any]:
    """``body`` as a JSON object, or a 413 / 400 that says what is wrong and shows ``example``."""
    if len(body) > max_bytes:
        raise RequestTooLargeError(f"{what} has {len(body):,} bytes, more than the limit of {max_bytes:,}", hint="send less per request")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"{what} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedRequestError(f"{what} must be a JSON object", hint=f"e.g. {example}")
    return data
