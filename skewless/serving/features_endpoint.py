"""``POST /get-online-features``: one implementation, served two ways.

:meth:`FeaturesEndpoint.answer` is the endpoint: the body, ``?format``, ``Accept`` and
``X-Request-Id`` in, the encoded response out, a :class:`~skewless.errors.SkewlessError` for a
bad request. The Starlette route calls it; so does :meth:`FeaturesEndpoint.__call__`, a bare ASGI
handler the app puts in front of Starlette for this one path. Routing, ``Request``, ``Response``,
the exception and counting middlewares cost ~60 µs a request under uvicorn (cProfile of
``skewless serve`` with the store read taken out), as much as encoding the answer; the bare
handler does only what this endpoint needs of them, and answers errors and counts responses
exactly as they do (the tests drive the same requests through both).
"""

from __future__ import annotations

import logging
import time
from typing import Final
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from skewless.errors import RequestTooLargeError, SkewlessError
from skewless.serving.errors import error_body, status_of
from skewless.serving.feast_format import JSON, MAX_BODY_BYTES, MSGPACK, encode_json, encode_msgpack, parse_request, response_format
from skewless.serving.feature_log import FeatureLogger
from skewless.serving.metrics import Metrics
from skewless.serving.service import FeatureServer

PATH: Final = "/get-online-features"
log = logging.getLogger(__name__)
_MEDIA: Final = {JSON: JSON.encode(), MSGPACK: MSGPACK.encode()}
_INTERNAL_ERROR: Final = b"Internal Server Error"  # Starlette's ServerErrorMiddleware answer, byte for byte


class FeaturesEndpoint:
    def __init__(self, server: FeatureServer, metrics: Metrics, logger: FeatureLogger | None) -> None:
        self.server = server
        self.metrics = metrics
        self.logger = logger
        self._formats: dict[bytes, str | None] = {}  # query string -> its ?format (clients send one or two)
        self._ok = metrics.responses.labels(PATH, "200")  # the counter child of the common case, looked up once

    async def answer(
        self, body: bytes, query_format: str | None, accept: str | None, request_id: str | None, started: float
    ) -> tuple[bytes, str]:
        """(content, media type) of one request; ``started`` is its ``perf_counter`` arrival."""
        server = self.server
        media_type = response_format(query_format, accept)
        parsed = parse_request(body, max_rows=server.config.max_rows)
        served, response = await server.read_async(parsed)
        join_keys = served.plan.selection.join_keys
        content = encode_msgpack(response, join_keys, served.dtypes) if media_type == MSGPACK else encode_json(response, join_keys)
        served.latency.observe(time.perf_counter() - started)
        if self.logger is not None:
            self.logger.log(served.feature_set, response.to_dict(), request_id=request_id)
        return content, media_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The bare ASGI handler (``POST`` on :data:`PATH` only: the app checks)."""
        started = time.perf_counter()
        accept = request_id = declared = None
        for name, value in scope["headers"]:  # lower-case names (ASGI); the first of each wins, as Starlette's
            if name == b"content-length":
                declared = declared if declared is not None else value
            elif name == b"accept":
                accept = accept if accept is not None else value.decode("latin-1")
            elif name == b"x-request-id":
                request_id = request_id if request_id is not None else value.decode("latin-1")
        try:
            if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise RequestTooLargeError(f"the request body has {declared.decode()} bytes, more than the limit of {MAX_BODY_BYTES}")
            body = await _body(receive)
            if body is None:  # the client left: nobody to answer
                return
            content, media_type = await self.answer(body, self._format(scope["query_string"]), accept, request_id, started)
        except SkewlessError as exc:
            status = status_of(exc)
            await _respond(send, status, orjson.dumps(error_body(exc)), _MEDIA[JSON])
            self.metrics.response(PATH, status)
            return
        except Exception:
            # As Starlette's ServerErrorMiddleware: a plain 500, counted, then raised for the server to log.
            await _respond(send, 500, _INTERNAL_ERROR, b"text/plain; charset=utf-8")
            self.metrics.response(PATH, 500)
            raise
        await _respond(send, 200, content, _MEDIA[media_type])
        self._ok.inc()

    def _format(self, query: bytes) -> str | None:
        """``?format``: the last one, as Starlette's ``query_params.get``; parsed once per query string."""
        if not query:
            return None
        try:
            return self._formats[query]
        except KeyError:
            pass
        found = None
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key == "format":
                found = value
        if len(self._formats) >= 64:  # arbitrary query strings must not grow it without bound
            self._formats.clear()
        self._formats[query] = found
        return found


async def _body(receive: Receive) -> bytes | None:
    """The whole body (None if the client disconnected), refused past :data:`MAX_BODY_BYTES`."""
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestTooLargeError(f"the request body has more than the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, content: bytes, media_type: bytes) -> None:
    # Starlette's Response headers, in its order: content-length, then content-type.
    headers: list[tuple[bytes, bytes]] = [(b"content-length", str(len(content)).encode()), (b"content-type", media_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
