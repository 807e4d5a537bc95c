"""Concurrent applies from separate processes never lose an update (Feast #2176, #6663)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from skewless.registry.registry import Registry
from skewless.registry.sql import SqlRegistryStore

WORKER = Path(__file__).with_name("apply_worker.py")
VIEWS_PER_PROCESS = 15


def test_two_processes_applying_at_once_lose_nothing(registry_url: str, project: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent.parent), os.environ.get("PYTHONPATH", "")])}
    start_at = time.time() + 2.0  # both processes are imported and connected by then
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), registry_url, project, prefix, str(VIEWS_PER_PROCESS), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for prefix in ("alpha", "beta")
    ]
    attempts = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        attempts.append(int(out.strip()))

    store = SqlRegistryStore(registry_url)
    try:
        snapshot = Registry(store, project).snapshot()
        names = {v.name for v in snapshot.catalog.feature_views()}
        expected = {f"{p}_{i}" for p in ("alpha", "beta") for i in range(VIEWS_PER_PROCESS)}
        assert names == expected
        # One revision per apply: every commit landed exactly once.
        assert snapshot.revision == 2 * VIEWS_PER_PROCESS
        assert len(store.history(project, limit=1000)) == 2 * VIEWS_PER_PROCESS
    finally:
        store.close()
    # Not asserted (timing-dependent), but shown with -s: how often a commit lost the race and re-planned.
    print(f"attempts per process: {attempts} for {VIEWS_PER_PROCESS} applies each")
