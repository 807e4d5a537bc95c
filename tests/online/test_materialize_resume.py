"""A materialization killed midway and run again ends in exactly the state of a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lmdb
import numpy as np
import pandas as pd

from factories import news_definitions
from skewless import FeatureStore

T0 = datetime(2026, 3, 2, tzinfo=UTC)
USERS = 60_000
RUN = """
import sys
from datetime import datetime, UTC
from skewless import FeatureStore
FeatureStore(sys.argv[1]).materialize(datetime(2020, 1, 1, tzinfo=UTC), datetime.fromisoformat(sys.argv[2]), progress=False)
"""


def make_repo(path: Path) -> FeatureStore:
    path.mkdir()
    (path / "skewless.yaml").write_text("project: resume\n")
    store = FeatureStore(path)
    store.apply(news_definitions())
    rng = np.random.default_rng(3)
    for part in range(2):  # two writes: ties across versions of a key
        store.write_to_offline_store(
            "user_profiles",
            pd.DataFrame(
                {
                    "user_id": np.arange(USERS),
                    "country": rng.choice(["FR", "DE", "US"], USERS),
                    "age": rng.integers(18, 90, USERS),
                    "embedding": list(rng.normal(size=(USERS, 8)).astype("float32")),
                    "event_timestamp": [T0 - timedelta(hours=int(h)) for h in rng.integers(1, 48, USERS)],
                }
            ),
        )
        del part
    return store


def online_state(store: FeatureStore) -> list[bytes | None]:
    prefix = b"sk:resume:user_profile@v1:"
    return store.online.store.get_many([prefix + str(u).encode() for u in range(USERS)])


def test_killed_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    clean, resumed = make_repo(tmp_path / "clean"), make_repo(tmp_path / "resumed")
    clean.materialize(datetime(2020, 1, 1, tzinfo=UTC), T0, progress=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    online_path = resumed.repo_path / "data" / "online"
    written = [0]
    for _ in range(2):  # kill each run as soon as it has written more than the last one, before it is done
        process = subprocess.Popen([sys.executable, "-c", RUN, str(resumed.repo_path), T0.isoformat()], env=env)
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            entries = _entries(online_path)
            if written[-1] < entries < USERS:
                process.send_signal(signal.SIGKILL)
                written.append(entries)
                break
            time.sleep(0.002)
        process.wait()
    assert len(written) == 3, f"could not catch a run midway: {written}"
    subprocess.run([sys.executable, "-c", RUN, str(resumed.repo_path), T0.isoformat()], env=env, check=True)
    expected = online_state(clean)
    assert sum(v is not None for v in expected) == USERS
    assert online_state(resumed) == expected
    print(f"killed twice, after {written[1]} and {written[2]} of {USERS} keys")


def _entries(path: Path) -> int:
    if not (path / "data.mdb").exists():
        return 0
    env = lmdb.open(str(path), readonly=True, lock=True, max_dbs=1)
    try:
        return int(env.stat()["entries"])
    finally:
        env.close()
