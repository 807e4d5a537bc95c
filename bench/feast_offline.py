"""Feast's side of the offline point-in-time benchmark (run by ``offline_pit.py`` in ``bench/.venv-feast``).

Builds a Feast repo whose FeatureViews mirror the skewless snapshot views described in a spec
file written by ``offline_pit.py`` (same names, types, join keys and ttl), over the same rows
exported to one Parquet file per source, then times
``FeatureStore.get_historical_features(entity_df, features).to_arrow()`` for the first ``n``
label rows. It writes a JSON result (wall time, peak RSS) and, for the verification sample, the
rows it returned, so the parent can compare them with skewless' values.

Only the standard library, pandas/pyarrow and Feast are used here (no skewless import).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from memwatch import PeakMemory


def feast_repo(spec: dict, repo: Path, store_type: str):  # type: ignore[no-untyped-def]
    """A Feast repo mirroring the spec; applied once (the registry is cached in ``repo``)."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Bool, Float32, Float64, Int64, String

    types = {"Int64": Int64, "Float32": Float32, "Float64": Float64, "String": String, "Bool": Bool}
    repo.mkdir(parents=True, exist_ok=True)
    offline = "duckdb" if store_type == "duckdb" else "dask"
    (repo / "feature_store.yaml").write_text(
        "project: skewless_bench\n"
        "provider: local\n"
        f"registry: {repo / 'registry.db'}\n"
        f"offline_store:\n  type: {offline}\n"
        f"online_store:\n  type: sqlite\n  path: {repo / 'online.db'}\n"
        "entity_key_serialization_version: 3\n"
    )
    entities = {name: Entity(name=name, join_keys=[key], value_type=ValueType.INT64) for name, key in spec["entities"].items()}
    objects: list = list(entities.values())
    for view in spec["views"]:
        source = FileSource(name=view["source"], path=view["path"], timestamp_field="event_timestamp")
        ttl = timedelta(seconds=view["ttl_seconds"]) if view["ttl_seconds"] else timedelta(0)  # 0 = no ttl in Feast
        objects.append(
            FeatureView(
                name=view["name"],
                entities=[entities[view["entity"]]],
                ttl=ttl,
                schema=[Field(name=name, dtype=types[dtype]) for name, dtype in view["features"]],
                source=source,
                online=False,
            )
        )
    store = FeatureStore(repo_path=str(repo))
    store.apply(objects)
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, help="JSON written by offline_pit.py")
    parser.add_argument("--repo", required=True, help="folder for the Feast repo (created)")
    parser.add_argument("--labels", required=True, help="Parquet file of label rows")
    parser.add_argument("--n", type=int, required=True, help="use the first n label rows")
    parser.add_argument("--store", choices=["duckdb", "dask"], default="duckdb")
    parser.add_argument("--sample-ids", help="Parquet file with the row_id values to write back")
    parser.add_argument("--sample-out", help="where to write the sampled output rows (Parquet)")
    parser.add_argument("--result", required=True, help="where to write the JSON result")
    args = parser.parse_args()

    import feast
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    spec = json.loads(Path(args.spec).read_text())
    started = time.perf_counter()
    store = feast_repo(spec, Path(args.repo), args.store)
    setup_seconds = time.perf_counter() - started

    batches, have = [], 0  # the first n rows, reading no more row groups than needed (as offline_pit.py does)
    for batch in pq.ParquetFile(args.labels).iter_batches(batch_size=min(args.n, 1 << 20)):
        batches.append(batch.slice(0, args.n - have))
        have += batches[-1].num_rows
        if have >= args.n:
            break
    entity_df = pa.Table.from_batches(batches).to_pandas()
    del batches
    features = [f"{view['name']}:{name}" for view in spec["views"] for name, _ in view["features"]]

    with PeakMemory() as memory:
        started = time.perf_counter()
        job = store.get_historical_features(entity_df=entity_df, features=features)
        table = job.to_arrow()
        wall = time.perf_counter() - started
    result = {
        "engine": f"feast {feast.__version__} ({args.store} offline store)",
        "labels": args.n,
        "features": len(features),
        "wall_seconds": wall,
        "setup_seconds": setup_seconds,
        "rows_out": table.num_rows,
        "columns_out": table.num_columns,
        **memory.result(),
    }
    if args.sample_ids and args.sample_out:
        ids = pq.read_table(args.sample_ids).column("row_id")
        sample = table.filter(pc.is_in(table.column("row_id"), value_set=ids.combine_chunks()))
        pq.write_table(pa.table({c: sample.column(c) for c in ["row_id", *[f.split(":")[1] for f in features]]}), args.sample_out)
    Path(args.result).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
