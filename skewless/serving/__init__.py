"""HTTP serving: Feast's ``/get-online-features`` (JSON or msgpack), health, readiness, metrics, OpenAPI.

``create_app(FeatureStore("repo"))`` is an ASGI app; ``skewless serve`` runs it in worker processes.

- :mod:`.app`: the app factory, error handlers and response counting
- :mod:`.routes`: the endpoints
- :mod:`.service`: read plans kept current by a registry watcher; guarded, cached reads
- :mod:`.feast_format`: Feast's request body in, Feast's response shape (or msgpack) out
- :mod:`.guard`: the store timeout and circuit breaker
- :mod:`.cache`: hot rows in process, with bounded staleness, and a fallback while the store is down
- :mod:`.statuses`: ``CACHED`` and ``STORE_UNAVAILABLE`` statuses of degraded reads
- :mod:`.errors`: the one table from error class to HTTP status
- :mod:`.metrics`, :mod:`.openapi`
"""

from skewless.serving.app import create_app

__all__ = ["create_app"]
