"""The built-in event bus: Redis Streams, one stream per (source, partition), one consumer group.

Each worker reads a partition under a fixed consumer name (``p<partition>``), so after a crash it
is handed back exactly the entries it had not acknowledged, in order, before any new one. An
entry carries many events as one JSON array (cheaper than an entry per event). Dead letters are
also added to ``<prefix>:dead:<source>`` for operators.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
import redis

from skewless.errors import OnlineStoreUnavailableError
from skewless.streaming.bus import Entry, partition_of
from skewless.streaming.events import DeadLetter

GROUP: Final = "skewless"
EVENTS_PER_ENTRY: Final = 100


class RedisStreamBus:
    def __init__(self, url: str, *, project: str, partitions: int, maxlen: int | None = 10_000_000, timeout_seconds: float = 30.0) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
        self.project, self.partitions, self.maxlen = project, partitions, maxlen
        self._groups: set[str] = set()

    def stream(self, source: str, partition: int) -> str:
        return f"skewless:{self.project}:stream:{{{source}:{partition}}}"

    def publish(self, source: str, events: Sequence[Mapping[str, Any]], *, event_id_field: str | None) -> int:
        by_partition: dict[int, list[Mapping[str, Any]]] = {}
        for event in events:
            by_partition.setdefault(partition_of(event, event_id_field, self.partitions), []).append(event)
        pipe = self.client.pipeline(transaction=False)
        entries = 0
        for partition, group in by_partition.items():
            for i in range(0, len(group), EVENTS_PER_ENTRY):
                payload = json.dumps(group[i : i + EVENTS_PER_ENTRY], default=str)
                pipe.xadd(self.stream(source, partition), {"events": payload}, maxlen=self.maxlen, approximate=True)
                entries += 1
        self._call(pipe.execute)
        return entries

    def read(self, source: str, partition: int, *, max_events: int, block_ms: int) -> list[Entry]:
        count = max(1, max_events // EVENTS_PER_ENTRY)
        stream = self.stream(source, partition)
        self._ensure_group(stream)
        consumer = f"p{partition}"
        pending = self._call(lambda: self.client.xreadgroup(GROUP, consumer, {stream: "0"}, count=count))
        entries = _entries(pending, redelivered=True)
        if entries:
            return entries
        fresh = self._call(lambda: self.client.xreadgroup(GROUP, consumer, {stream: ">"}, count=count, block=block_ms or None))
        return _entries(fresh)

    def ack(self, source: str, partition: int, entries: Sequence[Entry]) -> None:
        if entries:
            self._call(lambda: self.client.xack(self.stream(source, partition), GROUP, *[e.entry_id for e in entries]))

    def lag(self, source: str) -> dict[int, int]:
        result = {}
        for partition in range(self.partitions):
            stream = self.stream(source, partition)
            try:
                groups = self.client.xinfo_groups(stream)
            except redis.ResponseError:  # no such stream yet
                result[partition] = 0
                continue
            mine = [g for g in groups if g["name"] in (GROUP, GROUP.encode())]
            if mine:
                lag, pending = mine[0].get("lag"), mine[0].get("pending", 0)
                result[partition] = int(lag or 0) + int(pending or 0)
            else:
                result[partition] = int(self.client.xlen(stream))
        return result

    def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for d in letters:
            fields = {"kind": d.kind, "reason": d.reason, "payload": d.payload}
            pipe.xadd(f"skewless:{self.project}:dead:{d.source}", fields, maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]
        self._call(pipe.execute)

    def report(self, source: str, partition: int, stats: Mapping[str, float]) -> None:
        """Publish a worker's counters (events, dead letters, freshness) for ``skewless status`` and /metrics."""
        self._call(
            lambda: self.client.hset(f"skewless:{self.project}:stats:{source}", mapping={f"p{partition}:{k}": v for k, v in stats.items()})
        )

    def reports(self, source: str) -> dict[int, dict[str, float]]:
        raw = self._call(lambda: self.client.hgetall(f"skewless:{self.project}:stats:{source}"))
        result: dict[int, dict[str, float]] = {}
        for name, value in raw.items():
            partition, _, key = name.decode().partition(":")
            result.setdefault(int(partition[1:]), {})[key] = float(value)
        return result

    def close(self) -> None:
        self.client.close()

    def _ensure_group(self, stream: str) -> None:
        if stream in self._groups:
            return
        try:
            self.client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(stream)

    def _call(self, action: Any) -> Any:
        try:
            return action()
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(f"event bus at {self.client.connection_pool.connection_kwargs.get('host')}: {exc}") from exc


def _entries(response: Any, *, redelivered: bool = False) -> list[Entry]:
    entries = []
    for _, messages in response or []:
        for entry_id, fields in messages:
            if not fields:  # trimmed away while pending
                continue
            text = entry_id.decode()
            ms, seq = (int(x) for x in text.split("-"))
            entries.append(Entry(text, (ms << 20) | seq, ms * 1000, _loads(fields[b"events"]), redelivered))
    return entries


# Digits to "0", everything else to " ": a run of 19 digits is then a plain substring search (C),
# ~12x faster than a regex over a 10 KB entry (measured: 9 vs 112 µs, ~1 µs per event).
_DIGITS = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))
_LONG_NUMBER = b"0" * 19


def _loads(payload: bytes) -> Any:
    """orjson (several times faster on a worker's hot path), but the json module for what orjson reads
    differently: NaN/Infinity, which json.dumps writes and orjson refuses, and integers beyond 64 bits,
    which orjson turns into floats (any 19-digit run sends the entry there), so entries parse as before."""
    if _LONG_NUMBER not in payload.translate(_DIGITS):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    return json.loads(payload)


def now_us() -> int:
    return time.time_ns() // 1000
