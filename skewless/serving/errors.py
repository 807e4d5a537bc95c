"""The one place a Skewless error becomes an HTTP status: a table keyed by error class.

Domain code raises :class:`~skewless.errors.SkewlessError` subclasses and never imports HTTP; the
app looks the raised class (then its bases, most specific first) up in :data:`STATUS_BY_ERROR`.
Store failures normally never get here: reads degrade to per-value statuses instead.

The body is ``{"error": <class name>, "message": ..., "hint": ...}``, so a client can show the
message and a program can branch on the class.
"""

from __future__ import annotations

from typing import Any, Final

from skewless.errors import (
    ConfigError,
    DefinitionError,
    InvalidRequestError,
    MalformedRequestError,
    NotFoundError,
    OnlineStoreError,
    OnlineStoreUnavailableError,
    RegistryError,
    RequestTooLargeError,
    SkewlessError,
)

STATUS_BY_ERROR: Final[dict[type[SkewlessError], int]] = {
    MalformedRequestError: 400,  # the body is not JSON or not the request's shape; an unknown ?format=
    RequestTooLargeError: 413,  # a body over the size limit (too many rows is a 422)
    InvalidRequestError: 422,  # well-formed, but a key is missing, mistyped or unknown
    DefinitionError: 400,  # a malformed feature reference, no features, a name collision
    NotFoundError: 404,  # no such feature view, feature or service
    OnlineStoreUnavailableError: 503,  # nothing could be answered (normally reads degrade instead)
    OnlineStoreError: 502,
    RegistryError: 503,  # the registry could not be read
    ConfigError: 500,
    SkewlessError: 500,
}


def status_of(exc: SkewlessError) -> int:
    for cls in type(exc).__mro__:
        status = STATUS_BY_ERROR.get(cls)  # type: ignore[call-overload]
        if status is not None:
            return status
    return 500


def error_body(exc: SkewlessError) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
