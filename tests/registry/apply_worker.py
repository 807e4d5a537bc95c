"""Run by test_concurrency in separate processes: apply views one by one, starting at a set time.

usage: apply_worker.py URL PROJECT PREFIX COUNT START_AT
"""

from __future__ import annotations

import sys
import time

from factories import user_profile
from skewless.registry.registry import Registry
from skewless.registry.sql import SqlRegistryStore


def main() -> None:
    url, project, prefix, count, start_at = sys.argv[1:6]
    registry = Registry(SqlRegistryStore(url), project)
    time.sleep(max(0.0, float(start_at) - time.time()))
    attempts = 0
    for i in range(int(count)):
        attempts += registry.apply([user_profile(name=f"{prefix}_{i}")], mode="upsert").attempts
    print(attempts)


if __name__ == "__main__":
    main()
