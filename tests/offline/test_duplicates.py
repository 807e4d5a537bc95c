"""De-duplication in batches of Parquet files: the same first writes as one pass over the source."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skewless import Aggregation, Entity, FeatureView, Field, Float64, Int64, StreamSource
from skewless.definitions.catalog import Catalog
from skewless.definitions.selection import select_features
from skewless.offline import duplicates
from skewless.offline.duckdb_engine import DuckDBEngine, SourceData
from skewless.offline.duplicates import file_batches
from skewless.offline.tables import OfflineTables

US = 1_000_000
BASE = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp()) * US


def write(path: Path, ids: list[int] | list[str]) -> str:
    column = pa.array(ids, pa.string() if ids and isinstance(ids[0], str) else pa.int64())
    pq.write_table(pa.table({"event_id": column, "_write_seq": pa.array(range(len(ids)), pa.int64())}), path)
    return str(path)


def test_files_with_overlapping_ids_share_a_batch(tmp_path: Path) -> None:
    a, b = write(tmp_path / "a.parquet", [1, 2, 3]), write(tmp_path / "b.parquet", [10, 11])
    c, d = write(tmp_path / "c.parquet", [3, 4]), write(tmp_path / "d.parquet", [20])  # c overlaps a
    empty = write(tmp_path / "e.parquet", [])
    batches = file_batches([b, d, c, a, empty], "event_id", batch_rows=1)
    assert [sorted(batch) for batch in batches] == [sorted([a, c]), [b], [d]]
    assert file_batches([a, b, c, d], "event_id", batch_rows=4) == [[a, c], [b, d]]  # grouped up to ~4 rows


def test_string_ids_or_missing_statistics_make_one_batch(tmp_path: Path) -> None:
    texts = [write(tmp_path / "s1.parquet", ["a", "b"]), write(tmp_path / "s2.parquet", ["c"])]
    assert file_batches(texts, "event_id", batch_rows=1) == [texts]
    bare = tmp_path / "bare.parquet"
    pq.write_table(pa.table({"event_id": pa.array([5], pa.int64())}), bare, write_statistics=False)
    plain = write(tmp_path / "p.parquet", [1])
    assert file_batches([plain, str(bare)], "event_id", batch_rows=1) == [[plain, str(bare)]]


user = Entity(name="user", join_keys=["user_id"], dtype=Int64)
source = StreamSource(
    name="events",
    schema=[Field(name="user_id", dtype=Int64), Field(name="dwell", dtype=Float64), Field(name="event_id", dtype=Int64)],
    event_id_field="event_id",
)
view = FeatureView(
    name="engagement",
    entities=[user],
    source=source,
    aggregations=[Aggregation("dwell", "sum", windows=["1d"]), Aggregation("dwell", "last", windows=["1d"])],
)


@pytest.mark.parametrize("batch_rows", [1, 10**9])
def test_batched_first_writes_equal_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int) -> None:
    monkeypatch.setattr(duplicates, "BATCH_ROWS", batch_rows)
    tables = OfflineTables(tmp_path)
    writes = [  # (event id, user, hours after BASE, dwell): ids re-delivered within a write, in later writes, on other days
        [(1, 1, 1, 1.0), (2, 1, 2, 2.0), (2, 1, 2, 20.0), (3, 2, 30, 3.0)],
        [(3, 2, 30, 30.0), (4, 1, 3, 4.0), (1, 2, 3, 10.0)],
        [(5, 1, 26, 5.0), (4, 1, 27, 40.0), (6, 2, 31, 6.0)],
    ]
    for rows in writes:
        frame = pa.table(
            {
                "event_id": [r[0] for r in rows],
                "user_id": [r[1] for r in rows],
                "dwell": [r[3] for r in rows],
                "event_timestamp": pa.array([BASE + r[2] * 3600 * US for r in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            }
        )
        tables.append(source, frame)
    files = tables.files("events")
    assert len(files) > len(writes)  # partitioned by day: several files per write
    entity = pa.table(
        {
            "user_id": pa.array([1, 1, 2, 2], pa.int64()),
            "event_timestamp": pa.array([BASE + h * 3600 * US for h in (4, 28, 4, 32)], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        }
    )
    selection = select_features(Catalog.build([view]), ["engagement:dwell_sum_1d", "engagement:dwell_last_1d"])
    from_files = DuckDBEngine().historical_features(entity, selection, {"events": SourceData(files=tuple(files))})
    in_memory = DuckDBEngine().historical_features(entity, selection, {"events": SourceData(table=tables.read("events"))})
    assert from_files.equals(in_memory)
    # first writes only: 1 -> 1.0 (user 1), 2 -> 2.0, 3 -> 3.0, 4 -> 4.0 at hour 3; 5 and 6 as written
    assert from_files.column("engagement_v1__dwell_sum_1d").to_pylist() == [7.0, 5.0, 0.0, 9.0]
    assert from_files.column("engagement_v1__dwell_last_1d").to_pylist() == [4.0, 5.0, None, 6.0]
