"""Writing registered sources: FeatureStore.write_to_offline_store, ingest_file, and killed ingests."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from factories import article_popularity, context_source, engagement_source, user_profile
from skewless import FeatureStore, Field, String
from skewless.errors import DataValidationError, DefinitionError, NotFoundError, OfflineStoreError
from skewless.offline import ingest_file

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def engagement(n: int, *, start: int = 0) -> pa.Table:
    ids = np.arange(start, start + n)
    micros = int(T0.timestamp() * 1_000_000) + ids * 1_000_000
    return pa.table(
        {
            "user_id": ids % 1000,
            "article_id": ids % 97,
            "clicked": ids % 2,
            "dwell_seconds": (ids % 60).astype(np.float32),
            "event_id": pa.array(np.char.add("e", ids.astype(str))),
            "event_timestamp": pa.array(micros, pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "skewless.yaml").write_text("project: offline_test\noffline_store: {time_travel_hours: 24}\n")
    with FeatureStore(repo) as store:
        store.apply([user_profile(), article_popularity(), context_source()])
        yield store


# -- FeatureStore.write_to_offline_store --------------------------------------------------------


def test_write_by_name_lands_in_the_repo_offline_path(store: FeatureStore) -> None:
    result = store.write_to_offline_store("engagement", engagement(100).to_pandas())
    assert (result.source, result.version, result.rows) == ("engagement", 0, 100)
    assert store.offline_tables.path("engagement") == store.repo_path / "data" / "offline" / "engagement"
    assert store.offline_tables.time_travel_hours == 24
    assert store.offline_tables.read("engagement").num_rows == 100


def test_join_keys_of_the_views_reading_the_source_may_not_be_null(store: FeatureStore) -> None:
    rows = engagement(3).to_pandas()
    rows["user_id"] = rows["user_id"].astype("Int64")
    rows.loc[0, "user_id"] = None  # no view reads engagement by user: allowed
    store.write_to_offline_store("engagement", rows)
    rows["article_id"] = rows["article_id"].astype("Int64")
    rows.loc[2, "article_id"] = None  # article_popularity joins on article_id
    with pytest.raises(DataValidationError, match="row 2: article_id: null, but every row needs a join key value"):
        store.write_to_offline_store("engagement", rows)


def test_a_source_object_must_match_the_registered_one(store: FeatureStore) -> None:
    assert store.write_to_offline_store(engagement_source(), engagement(2)).rows == 2
    changed = engagement_source(more_fields=[Field(name="device", dtype=String)])
    with pytest.raises(DefinitionError, match="differs from the registered definition"):
        store.write_to_offline_store(changed, engagement(2).append_column("device", pa.array(["ios", "web"])))


def test_unknown_and_request_sources_are_refused(store: FeatureStore) -> None:
    with pytest.raises(NotFoundError, match="did you mean 'engagement'"):
        store.write_to_offline_store("engagment", engagement(1))
    with pytest.raises(OfflineStoreError, match="request source"):
        store.write_to_offline_store("request_context", pa.table({"local_hour": [1]}))


# -- ingest_file ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_ingest_a_file_in_batches_as_one_commit(store: FeatureStore, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"events{suffix}"
    data = engagement(25_000)
    if suffix == ".csv":
        pacsv.write_csv(data, path)
    else:
        pq.write_table(data, path, row_group_size=4_000)
    result = ingest_file(store, "engagement", path, batch_rows=5_000, progress=False)
    assert (result.rows, result.version, result.path) == (25_000, 0, path)
    assert result.seconds > 0
    assert [c.version for c in store.offline_tables.history("engagement")] == [0]
    back = store.offline_tables.read("engagement", columns=["event_id", "event_timestamp"]).sort_by("event_timestamp")
    assert back.column("event_id").to_pylist() == data.column("event_id").to_pylist()


def test_a_bad_row_late_in_the_file_writes_nothing(store: FeatureStore, tmp_path: Path) -> None:
    store.write_to_offline_store("engagement", engagement(10))
    data = engagement(20_000).to_pandas()
    data.loc[17_321, "event_timestamp"] = None
    data.loc[19_999, "event_id"] = None
    path = tmp_path / "late.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=2_000)
    with pytest.raises(DataValidationError) as err:
        ingest_file(store, "engagement", path, batch_rows=2_000, progress=False)
    assert [(row, column) for row, column, _ in err.value.problems] == [(17_321, "event_timestamp"), (19_999, "event_id")]
    assert "2 of 20,000 rows are invalid" in str(err.value)
    assert store.offline_tables.version("engagement") == 0
    on_disk = {p for p in store.offline_tables.path("engagement").rglob("*.parquet") if "_delta_log" not in p.parts}
    assert on_disk == {Path(f) for f in store.offline_tables.files("engagement")}  # no file was written


def test_ingest_refuses_other_file_kinds_and_lists_in_csv(store: FeatureStore, tmp_path: Path) -> None:
    (tmp_path / "rows.json").write_text("[]")
    with pytest.raises(OfflineStoreError, match=r"give a \.parquet or \.csv file"):
        ingest_file(store, "engagement", tmp_path / "rows.json", progress=False)
    (tmp_path / "profiles.csv").write_text("user_id,country,age,embedding,event_timestamp\n")
    with pytest.raises(OfflineStoreError, match=r"list columns \(embedding\), which CSV cannot hold"):
        ingest_file(store, "user_profiles", tmp_path / "profiles.csv", progress=False)


# -- a killed ingest ----------------------------------------------------------------------------

KILLED_INGEST = """
import sys
from skewless import FeatureStore, Field, String
from skewless.offline import ingest_file
with FeatureStore(sys.argv[1]) as store:
    ingest_file(store, "engagement", sys.argv[2], batch_rows=50_000, progress=False)
"""


def test_a_killed_ingest_leaves_no_partial_commit(store: FeatureStore, tmp_path: Path) -> None:
    n = 400_000
    path = tmp_path / "big.parquet"
    pq.write_table(engagement(n, start=1000), path, row_group_size=50_000)
    tables = store.offline_tables
    store.write_to_offline_store("engagement", engagement(1000))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    rng = random.Random()
    seen = []
    for run in range(5):
        old_version, old_rows = tables.version("engagement"), tables.read("engagement", columns=["event_id"]).num_rows
        assert old_version is not None
        delay = rng.uniform(0.05, 1.5)
        command = [sys.executable, "-c", KILLED_INGEST, str(store.repo_path), str(path)]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        _, stderr = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), stderr.decode()
        version, rows = tables.version("engagement"), tables.read("engagement", columns=["event_id"]).num_rows
        outcome = "finished" if proc.returncode == 0 else "killed"
        context = f"run {run}: {outcome} after {delay:.2f}s: version {version}, {rows:,} rows (before: {old_version}, {old_rows:,})"
        assert (version, rows) in {(old_version, old_rows), (old_version + 1, old_rows + n)}, context
        seen.append(context)
        time.sleep(0.01)
    # Whatever the kills left behind, the table takes the next write, and vacuum clears the orphans.
    before = tables.read("engagement", columns=["event_id"]).num_rows
    assert ingest_file(store, "engagement", path, progress=False).rows == n
    assert tables.read("engagement", columns=["event_id"]).num_rows == before + n
    tables.vacuum("engagement", retention_hours=0)
    on_disk = {p for p in tables.path("engagement").rglob("*.parquet") if "_delta_log" not in p.parts}
    active = {Path(f) for f in tables.files("engagement")}
    assert on_disk == active, "\n".join([*seen, f"not vacuumed: {on_disk - active}"])
