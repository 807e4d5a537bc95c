"""Online retrieval for a process: cached read plans over a registry snapshot refreshed in the background of calls."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skewless.config import EmbeddedOnlineStoreConfig, RedisClusterOnlineStoreConfig, RedisOnlineStoreConfig
from skewless.definitions.selection import select_features
from skewless.definitions.service import FeatureService
from skewless.online.protocol import OnlineStore
from skewless.online.read_plan import ReadPlan, compile_read_plan
from skewless.online.retrieval import OnlineResponse, columnar, read_online
from skewless.registry.registry import Registry, RegistrySnapshot

OnlineConfig = EmbeddedOnlineStoreConfig | RedisOnlineStoreConfig | RedisClusterOnlineStoreConfig


def open_online_store(config: OnlineConfig, *, repo_path: Path, timeout_ms: int) -> OnlineStore:
    if isinstance(config, EmbeddedOnlineStoreConfig):
        from skewless.online.embedded import EmbeddedOnlineStore

        return EmbeddedOnlineStore(repo_path / config.path, prefault=config.prefault, read_cache_entries=config.read_cache_entries)
    from skewless.online.redis_store import RedisClusterOnlineStore, RedisOnlineStore

    if isinstance(config, RedisOnlineStoreConfig):
        return RedisOnlineStore(config.url, timeout_seconds=timeout_ms / 1000)
    return RedisClusterOnlineStore(config.addresses, timeout_seconds=timeout_ms / 1000)


class OnlineFeatures:
    def __init__(self, registry: Registry, store: OnlineStore, *, refresh_seconds: float = 1.0) -> None:
        self.registry, self.store, self.refresh_seconds = registry, store, refresh_seconds
        self._snapshot: RegistrySnapshot | None = None
        self._checked = 0.0
        self._plans: dict[tuple[Any, ...], ReadPlan] = {}

    def snapshot(self) -> RegistrySnapshot:
        """The registry, re-checked at most every ``refresh_seconds`` (not on every call)."""
        now = time.monotonic()
        if self._snapshot is None or now - self._checked > self.refresh_seconds:
            snapshot = self.registry.snapshot()
            if self._snapshot is None or snapshot.revision != self._snapshot.revision:
                self._plans.clear()
            self._snapshot, self._checked = snapshot, now
        return self._snapshot

    def plan(self, features: Sequence[str] | FeatureService | str, *, full_feature_names: bool = False) -> ReadPlan:
        snapshot = self.snapshot()
        name = features.name if isinstance(features, FeatureService) else features if isinstance(features, str) else tuple(features)
        cache_key = (name, full_feature_names)
        plan = self._plans.get(cache_key)
        if plan is None:
            selection = select_features(snapshot.catalog, features, full_feature_names=full_feature_names)
            plan = self._plans[cache_key] = compile_read_plan(self.registry.project, selection)
        return plan

    def get(
        self,
        features: Sequence[str] | FeatureService | str,
        entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        request_context: Mapping[str, Any] | None = None,
        *,
        full_feature_names: bool = False,
        now_us: int | None = None,
    ) -> OnlineResponse:
        plan = self.plan(features, full_feature_names=full_feature_names)
        now = time.time_ns() // 1000 if now_us is None else now_us
        return read_online(plan, self.store, columnar(entity_rows), now_us=now, request_context=request_context)
