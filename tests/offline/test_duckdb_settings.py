"""offline_store.duckdb in skewless.yaml: DuckDB's memory limit, spill directory and threads."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from skewless.config import DuckDBConfig, load_config
from skewless.errors import ConfigError
from skewless.offline.duckdb_engine import DuckDBEngine


def config(tmp_path: Path, text: str) -> DuckDBConfig:
    (tmp_path / "skewless.yaml").write_text(text)
    return load_config(tmp_path / "skewless.yaml").offline_store.duckdb


def settings(engine: DuckDBEngine) -> dict[str, str]:
    con = engine._connect()
    try:
        return {n: str(con.sql(f"SELECT current_setting('{n}')").fetchall()[0][0]) for n in ("memory_limit", "temp_directory", "threads")}
    finally:
        con.close()


def test_defaults_leave_room_outside_duckdb_and_spill_inside_the_repo(tmp_path: Path) -> None:
    defaults = config(tmp_path, "project: p\n")
    assert (defaults.memory_limit, defaults.temp_directory, defaults.threads) == ("50%", "data/tmp/duckdb", None)
    applied = settings(DuckDBEngine.from_config(defaults, tmp_path))
    assert applied["temp_directory"] == str(tmp_path / "data/tmp/duckdb")


def test_settings_from_the_file_reach_duckdb(tmp_path: Path) -> None:
    chosen = config(tmp_path, "project: p\noffline_store:\n  duckdb: {memory_limit: 1GiB, temp_directory: /var/spill, threads: 1}\n")
    applied = settings(DuckDBEngine.from_config(chosen, tmp_path))
    assert applied == {"memory_limit": "1.0 GiB", "temp_directory": "/var/spill", "threads": "1"}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("offline_store: {duckdb: {memory_limit: lots}}", "memory_limit"),
        ("offline_store: {duckdb: {threads: 0}}", "threads"),
        ("offline_store: {duckdb: {spill: /tmp}}", "spill"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config(tmp_path, f"project: p\n{text}\n")


def test_a_query_larger_than_the_limit_spills_and_finishes(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    engine = DuckDBEngine(memory_limit="64MB", temp_directory=str(spill), threads=1)
    con = engine._connect()
    try:
        con.register("numbers", pa.table({"x": pa.array(range(3_000_000), pa.int64())}))
        # 3M groups with a 40-byte string each do not fit in 64 MB: DuckDB has to spill to finish.
        rows = con.sql("SELECT count(*) FROM (SELECT x, repeat('y', 40) || x AS pad FROM numbers GROUP BY x, pad)").fetchall()
        assert rows == [(3_000_000,)]
        assert spill.is_dir()
    finally:
        con.close()


def test_the_feature_store_builds_its_engine_from_the_file(tmp_path: Path) -> None:
    from skewless import FeatureStore

    (tmp_path / "skewless.yaml").write_text("project: p\noffline_store:\n  duckdb: {memory_limit: 2GiB, threads: 1}\n")
    engine = FeatureStore(tmp_path)._offline_engine()
    applied = settings(engine)
    assert (applied["memory_limit"], applied["threads"]) == ("2.0 GiB", "1")
    assert applied["temp_directory"] == str(tmp_path / "data/tmp/duckdb")
