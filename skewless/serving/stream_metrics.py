"""Streaming numbers on ``/metrics``, read when Prometheus scrapes (not counted by this process).

Workers publish their counters to the bus and the dead letters are in the offline store, so a
feature server can show them all: per source and partition, the consumer lag and the freshness
(bus arrival -> online) the workers measured; per source and kind, the dead letters. A scrape
reads them at most every ``ttl_seconds``; an unreachable bus shows as ``skewless_stream_bus_up 0``
rather than failing the scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

Status = Callable[[], tuple[dict[str, list[dict[str, Any]]], dict[tuple[str, str], int]]]


class StreamCollector:
    def __init__(self, status: Status, *, ttl_seconds: float = 5.0) -> None:
        self.status, self.ttl_seconds = status, ttl_seconds
        self._cached: tuple[float, Any] | None = None

    def _read(self) -> tuple[bool, dict[str, list[dict[str, Any]]], dict[tuple[str, str], int]]:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.ttl_seconds:
            return self._cached[1]  # type: ignore[no-any-return]
        try:
            partitions, dead = self.status()
            result: tuple[bool, Any, Any] = (True, partitions, dead)
        except Exception:  # the bus or the table is unreachable: say so, do not fail the scrape
            result = (False, {}, {})
        self._cached = (now, result)
        return result

    def describe(self) -> Iterator[Metric]:
        """The families, without reading the bus (the registry asks on registration)."""
        yield GaugeMetricFamily("skewless_stream_bus_up", "1 if the event bus answered the last scrape.")
        names = (
            "skewless_stream_lag_entries",
            "skewless_stream_worker_events",
            "skewless_stream_freshness_seconds",
            "skewless_dead_letters",
        )
        for name in names:
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[Metric]:
        up, partitions, dead = self._read()
        bus = GaugeMetricFamily("skewless_stream_bus_up", "1 if the event bus answered the last scrape.")
        bus.add_metric([], 1.0 if up else 0.0)
        yield bus
        lag = GaugeMetricFamily(
            "skewless_stream_lag_entries", "Bus entries not yet handled, per partition.", labels=["source", "partition"]
        )
        events = GaugeMetricFamily(
            "skewless_stream_worker_events", "Events handled by a worker since it started.", labels=["source", "partition"]
        )
        fresh = GaugeMetricFamily(
            "skewless_stream_freshness_seconds",
            "Bus arrival to online, as measured by the workers.",
            labels=["source", "partition", "quantile"],
        )
        for source, rows in partitions.items():
            for row in rows:
                labels = [source, str(row["partition"])]
                lag.add_metric(labels, float(row["lag"]))
                if "events" in row:
                    events.add_metric(labels, float(row["events"]))
                for quantile, key in (("0.5", "freshness_p50_ms"), ("0.99", "freshness_p99_ms")):
                    if key in row:
                        fresh.add_metric([*labels, quantile], float(row[key]) / 1000)
        letters = GaugeMetricFamily(
            "skewless_dead_letters", "Events refused, per source and kind (invalid, late).", labels=["source", "kind"]
        )
        for (source, kind), count in sorted(dead.items()):
            letters.add_metric([source, kind], float(count))
        yield from (lag, events, fresh, letters)
