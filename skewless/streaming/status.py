"""What ``skewless status`` and ``/metrics`` show of the streams: per source and partition, the
consumer lag, the counters and freshness the workers published, and the dead letters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skewless.definitions.source import StreamSource
from skewless.streaming.dead_letters import DeadLetterTable

if TYPE_CHECKING:
    from skewless.store import FeatureStore


def stream_status(store: FeatureStore, *, timeout_seconds: float = 30.0) -> dict[str, list[dict[str, Any]]]:
    dead = DeadLetterTable(store.offline_tables.root).counts()
    bus = store.event_bus(timeout_seconds=timeout_seconds)
    result: dict[str, list[dict[str, Any]]] = {}
    try:
        for source in store.registry.snapshot().catalog.sources():
            if not isinstance(source, StreamSource):
                continue
            reports, lag = bus.reports(source.name), bus.lag(source.name)
            letters = sum(n for (name, _), n in dead.items() if name == source.name)
            result[source.name] = [
                {"partition": p, "lag": lag.get(p, 0), "dead_letters": letters, **reports.get(p, {})} for p in sorted(lag)
            ]
    finally:
        bus.close()
    return result
