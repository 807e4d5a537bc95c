"""Prometheus metrics of the feature server, exposed at ``/metrics``.

==========================================  =========================================================
``skewless_request_duration_seconds``       latency of ``/get-online-features`` by ``feature_set``
                                            (the service name, or the views of a feature list)
``skewless_store_read_duration_seconds``    latency of the online store reads behind them
``skewless_requests_total``                 responses by ``path`` and status ``code``
``skewless_store_errors_total``             failed store reads by ``reason``: timeout, unavailable, error
``skewless_cache_hits_total`` / ``_misses`` keys served from the serving cache / read from the store
``skewless_cache_fallbacks_total``          keys served from the cache because the store was unavailable
``skewless_registry_revision``              the registry revision being served
``skewless_stream_*``, ``skewless_dead_*``  consumer lag, worker freshness and dead letters (see
                                            :mod:`skewless.serving.stream_metrics`)
==========================================  =========================================================

With several worker processes, ``skewless serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and every
worker's numbers are summed at scrape time, whichever worker answers.
"""

from __future__ import annotations

import os
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
PATHS: Final = frozenset({"/get-online-features", "/push", "/rank", "/health", "/ready", "/metrics", "/openapi.json"})


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the exposition and say nothing here
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        r = self.registry
        self.latency = Histogram(
            "skewless_request_duration_seconds", "Latency of /get-online-features.", ["feature_set"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.store_latency = Histogram(
            "skewless_store_read_duration_seconds", "Latency of online store reads.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.responses = Counter("skewless_requests", "HTTP responses.", ["path", "code"], registry=r)
        self.store_errors = Counter("skewless_store_errors", "Failed online store reads.", ["reason"], registry=r)
        self.cache_hits = Counter("skewless_cache_hits", "Keys served from the serving cache.", registry=r)
        self.cache_misses = Counter("skewless_cache_misses", "Keys read from the online store.", registry=r)
        self.cache_fallbacks = Counter(
            "skewless_cache_fallbacks", "Keys served from the cache because the online store was unavailable.", registry=r
        )
        self.revision = Gauge("skewless_registry_revision", "Registry revision being served.", registry=r, multiprocess_mode="max")
        self._latency_by_set: dict[str, Any] = {}
        self._collectors: list[Any] = []

    def add_collector(self, collector: Any) -> None:
        """A collector read at scrape time (streaming numbers); kept for the multiprocess registry too."""
        self.registry.register(collector)
        self._collectors.append(collector)

    def request_latency(self, feature_set: str) -> Any:
        """The histogram child of one feature set (cached: ``labels`` costs a dict build per call)."""
        child = self._latency_by_set.get(feature_set)
        if child is None:
            child = self._latency_by_set[feature_set] = self.latency.labels(feature_set)
        return child

    def response(self, path: str, code: int) -> None:
        self.responses.labels(path if path in PATHS else "other", str(code)).inc()

    def store_error(self, reason: str) -> None:
        self.store_errors.labels(reason).inc()

    def cache_lookup(self, hits: int, misses: int, fallbacks: int) -> None:
        if hits:
            self.cache_hits.inc(hits)
        if misses:
            self.cache_misses.inc(misses)
        if fallbacks:
            self.cache_fallbacks.inc(fallbacks)

    def exposition(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            for collector in self._collectors:
                registry.register(collector)
            return generate_latest(registry)
        return generate_latest(self.registry)
