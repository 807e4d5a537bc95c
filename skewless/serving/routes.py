"""The HTTP endpoints. Each is a few lines: parse, call the :class:`FeatureServer`, encode.

The read runs on the event loop: an embedded read is a few µs of mapped memory, and a remote one
is bounded by the store timeout (see :mod:`skewless.serving.guard`); handing every request to a
thread would cost more than it saves. Throughput comes from worker processes.
"""

from __future__ import annotations

import time

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from skewless.errors import RequestTooLargeError
from skewless.serving import feast_format
from skewless.serving.feast_format import JSON, FeatureRequest
from skewless.serving.features_endpoint import FeaturesEndpoint
from skewless.serving.metrics import CONTENT_TYPE
from skewless.serving.push_format import parse_push
from skewless.serving.rank import parse_rank
from skewless.serving.service import FeatureServer


def _server(request: Request) -> FeatureServer:
    server: FeatureServer = request.app.state.server
    return server


async def get_online_features(request: Request) -> Response:
    """Reached only when the app's bare handler passes the request on (a ``root_path``): see
    :mod:`skewless.serving.features_endpoint`."""
    started = time.perf_counter()
    endpoint: FeaturesEndpoint = request.app.state.features
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > feast_format.MAX_BODY_BYTES:
        raise RequestTooLargeError(f"the request body has {declared} bytes, more than the limit of {feast_format.MAX_BODY_BYTES}")
    headers = request.headers
    body = await request.body()
    query_format = request.query_params.get("format")
    content, media_type = await endpoint.answer(body, query_format, headers.get("accept"), headers.get("x-request-id"), started)
    return Response(content, media_type=media_type)


async def push(request: Request) -> Response:
    """Apply events now: logged offline, then in the online tiles. Invalid and late events come back as
    dead letters with their reasons; the valid ones are applied anyway."""
    parsed = parse_push(await request.body())
    store = request.app.state.store
    result = await run_in_threadpool(store.push, parsed.source, parsed.events)
    letters = [{"kind": d.kind, "reason": d.reason, "event": d.payload} for d in result.dead_letters]
    return Response(orjson.dumps({"source": result.source, "accepted": result.accepted, "dead_letters": letters}), media_type=JSON)


async def rank(request: Request) -> Response:
    """Order candidate articles for a user by the ranking model, on the rank service's online features."""
    started = time.perf_counter()
    server = _server(request)
    parsed = parse_rank(await request.body(), max_rows=server.config.max_rows)
    ranker = request.app.state.ranker
    ranker.model()  # a missing model is a 404 before any read
    entities = {"user_id": [parsed.user_id] * len(parsed.candidates), "article_id": list(parsed.candidates)}
    served, response = server.read(FeatureRequest(None, server.config.rank_service, entities, request_context=parsed.context or None))
    answer = ranker.rank(parsed, response.to_dict(), response.statuses)
    served.latency.observe(time.perf_counter() - started)
    return Response(orjson.dumps(answer), media_type=JSON)


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


async def ready(request: Request) -> Response:
    server = _server(request)
    problem = server.ready()
    if problem is not None:
        body = {"error": "NotReady", "message": problem, "hint": None}
        return Response(orjson.dumps(body), status_code=503, media_type=JSON)
    return Response(orjson.dumps({"status": "ready", "revision": server.revision}), media_type=JSON)


async def metrics(request: Request) -> Response:
    return Response(_server(request).metrics.exposition(), media_type=CONTENT_TYPE)


async def openapi(request: Request) -> Response:
    return Response(orjson.dumps(_server(request).openapi()), media_type=JSON)


ROUTES = [
    Route("/get-online-features", get_online_features, methods=["POST"]),
    Route("/push", push, methods=["POST"]),
    Route("/rank", rank, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
