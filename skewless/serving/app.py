"""The ASGI app: ``create_app(FeatureStore(...))``, or ``app_from_env`` for server worker processes.

Errors are turned into responses in one place: a :class:`SkewlessError` by the status table of
:mod:`skewless.serving.errors`, Starlette's own (unknown path, wrong method) with the same body.
Anything else is a bug: a 500, logged with its traceback, and counted.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skewless.aggregation import summary_reads
from skewless.config import EmbeddedOnlineStoreConfig
from skewless.errors import SkewlessError
from skewless.serving.errors import error_body, status_of
from skewless.serving.feast_format import JSON
from skewless.serving.feature_log import FeatureLogger
from skewless.serving.features_endpoint import PATH, FeaturesEndpoint
from skewless.serving.metrics import Metrics
from skewless.serving.rank import Ranker
from skewless.serving.routes import ROUTES
from skewless.serving.service import FeatureServer
from skewless.serving.stream_metrics import StreamCollector
from skewless.store import FeatureStore

REPO_ENV: Final = "SKEWLESS_REPO"
log = logging.getLogger(__name__)


def create_app(store: FeatureStore, *, owns_store: bool = False, freeze_gc: bool = False) -> Starlette:
    """The feature server of ``store``; the lifespan starts and stops the registry watcher.

    ``owns_store``: close the store at shutdown (the app opened it). ``freeze_gc``: at startup, move
    every object to the collector's permanent generation (a worker process of its own only: it
    concerns the whole process).
    """
    from skewless import __version__

    metrics = Metrics()
    server = FeatureServer(
        store.registry,
        store.online.store,
        store.config.serving,
        metrics=metrics,
        threaded_reads=not isinstance(store.config.online_store, EmbeddedOnlineStoreConfig),
        poll_interval_seconds=store.config.registry.poll_interval_seconds,
        version=__version__,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.start()
        summary_reads.warm()
        server.ready()  # a first read: an embedded store maps its pages now, not in a request
        if freeze_gc:
            # Everything loaded so far (modules, registry, plans) lives as long as the worker: out of the
            # collector's sight, a full collection walks only what requests allocate (shorter pauses, p99.9).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            server.stop()
            if app.state.feature_logger is not None:
                app.state.feature_logger.flush()
            if owns_store:
                store.close()

    app = FeatureApp(
        routes=ROUTES,
        middleware=[Middleware(CountResponses, metrics=metrics)],
        exception_handlers={SkewlessError: _skewless_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.server = server
    app.state.store = store  # /push writes through the store: offline log, then tiles
    app.state.ranker = Ranker(store.repo_path, store.config.serving.rank_model)
    rate = store.config.serving.log_sample_rate
    app.state.feature_logger = FeatureLogger(store.offline_tables.root, sample_rate=rate) if rate > 0 else None
    app.state.features = app.features = FeaturesEndpoint(server, metrics, app.state.feature_logger)
    metrics.add_collector(StreamCollector(lambda: _stream_status(store)))
    return app


def _stream_status(store: FeatureStore) -> tuple[dict[str, list[dict[str, Any]]], dict[tuple[str, str], int]]:
    from skewless.streaming.dead_letters import DeadLetterTable

    dead = DeadLetterTable(store.offline_tables.root).counts()
    return store.stream_status(timeout_seconds=0.5), dead


def app_from_env() -> Starlette:
    """The app of the repo named by ``$SKEWLESS_REPO`` (what ``skewless serve`` starts in each worker)."""
    return create_app(FeatureStore(os.environ.get(REPO_ENV, ".")), owns_store=True, freeze_gc=True)


async def _skewless_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, SkewlessError):  # registered for SkewlessError only
        raise exc
    return Response(orjson.dumps(error_body(exc)), status_code=status_of(exc), media_type=JSON)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    body = {"error": "HTTPError", "message": f"{request.method} {request.url.path}: {exc.detail}", "hint": None}
    if exc.status_code == 405:
        body["hint"] = f"allowed: {exc.headers.get('Allow') if exc.headers else 'see /openapi.json'}"
    elif exc.status_code == 404:
        body["hint"] = "the endpoints are listed in /openapi.json"
    return Response(orjson.dumps(body), status_code=exc.status_code, headers=exc.headers, media_type=JSON)


class FeatureApp(Starlette):
    """Starlette, with ``POST /get-online-features`` answered before its middleware and routing
    (:mod:`skewless.serving.features_endpoint`): the one endpoint whose cost is the product's."""

    features: FeaturesEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        features = self.features
        # A root_path changes what the path means: Starlette's routing deals with that case.
        fast = scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST" and not scope.get("root_path")
        if fast and features is not None:
            await features(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class CountResponses:
    """Counts every response by path and status, including the 500 of an unhandled error."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                self.metrics.response(scope["path"], message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            if not status:
                self.metrics.response(scope["path"], 500)
            raise
