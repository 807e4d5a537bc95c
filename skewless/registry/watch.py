"""Keep a long-running process's view of the registry fresh without a restart.

A daemon thread polls the revision (one indexed row) and, when it moves, loads and validates
the new snapshot off the request path, then swaps one reference. Readers only ever read that
reference, so they never block and always see one consistent revision. If loading fails (the
database is down), the last good snapshot stays in service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from skewless.registry.registry import Registry, RegistrySnapshot

log = logging.getLogger(__name__)


class RegistryWatcher:
    def __init__(self, registry: Registry, *, interval_seconds: float = 1.0) -> None:
        self.registry = registry
        self.interval_seconds = interval_seconds
        self._snapshot = registry.snapshot()
        self._listeners: list[Callable[[RegistrySnapshot], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def snapshot(self) -> RegistrySnapshot:
        return self._snapshot

    def on_change(self, listener: Callable[[RegistrySnapshot], None]) -> None:
        """Call ``listener`` (on the watcher thread) with each new snapshot."""
        self._listeners.append(listener)

    def refresh(self) -> bool:
        """Check now; True when a newer revision was loaded."""
        try:
            if self.registry.revision() == self._snapshot.revision:
                return False
            snapshot = self.registry.snapshot()
        except Exception:
            log.exception("registry refresh failed; serving revision %s", self._snapshot.revision)
            return False
        self._snapshot = snapshot
        for listener in self._listeners:
            listener(snapshot)
        return True

    def start(self) -> RegistryWatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="skewless-registry-watcher", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.refresh()
