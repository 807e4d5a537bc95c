from __future__ import annotations

import threading
import time

from factories import news_definitions, user_profile
from skewless.registry.registry import Registry, RegistrySnapshot
from skewless.registry.sql import SqlRegistryStore
from skewless.registry.watch import RegistryWatcher


def wait_for(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_a_watcher_picks_up_changes_applied_elsewhere(registry_url: str, project: str) -> None:
    server_side = Registry(SqlRegistryStore(registry_url), project)
    server_side.apply(news_definitions())
    watcher = RegistryWatcher(server_side, interval_seconds=0.05)
    seen: list[RegistrySnapshot] = []
    changed = threading.Event()
    watcher.on_change(lambda s: (seen.append(s), changed.set()))
    before = watcher.snapshot
    assert before.catalog.view("user_profile").ttl == "30d"  # type: ignore[union-attr]
    watcher.start()
    try:
        writer = Registry(SqlRegistryStore(registry_url), project)  # another process, in effect
        writer.apply([user_profile(ttl="1d")], mode="upsert")
        assert changed.wait(10), "the watcher never saw the new revision"
        assert wait_for(lambda: watcher.snapshot.revision == 2)
        assert watcher.snapshot.catalog.view("user_profile").ttl == "1d"  # type: ignore[union-attr]
        assert seen[-1].revision == 2
        # The old snapshot object is untouched: a request that held it saw one consistent revision.
        assert before.revision == 1 and before.catalog.view("user_profile").ttl == "30d"  # type: ignore[union-attr]
    finally:
        watcher.stop()


def test_refresh_without_changes_keeps_the_snapshot(registry_url: str, project: str) -> None:
    registry = Registry(SqlRegistryStore(registry_url), project)
    registry.apply(news_definitions())
    watcher = RegistryWatcher(registry)
    snapshot = watcher.snapshot
    assert watcher.refresh() is False and watcher.snapshot is snapshot
