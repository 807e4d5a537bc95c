"""One-off measurement behind docs/benchmarks.md: ``user_engagement``'s count/sum/mean features by
prefix sums in numpy over events sorted once by DuckDB, to compare with the SQL running totals.

Usage: ``.venv/bin/python bench/experiments/prefix_sums_numpy.py DATA_DIR N`` (a data set kept by
``offline_pit.py --keep``; the key/time packing assumes < 2^19 users, i.e. scale <= 0.5).
"""

import json
import sys
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skewless import FeatureStore

root, n = sys.argv[1], int(sys.argv[2])
store = FeatureStore(f"{root}/repo")
files = ", ".join(f"'{f}'" for f in store.offline_tables.files("engagement"))
view = store.registry.snapshot().catalog.view("user_engagement", None)
outputs = [o for o in view.aggregation_outputs() if o.function in ("count", "sum", "mean")]
labels = pq.read_table(f"{root}/labels.parquet").slice(0, n)
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
T = {}
t0 = time.perf_counter()
ev = con.sql(f"""SELECT user_id, epoch_us(event_timestamp) AS ts, clicked, liked, shared, dwell_seconds, position, scroll_depth
  FROM (SELECT * FROM read_parquet([{files}]) QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _write_seq) = 1)
  ORDER BY user_id, ts""").to_arrow_table()
T["read+dedup+sort in DuckDB"] = time.perf_counter() - t0
t0 = time.perf_counter()
key = ev.column("user_id").to_numpy()
ts = ev.column("ts").to_numpy()
base = int(ts.min())
comp = (key.astype(np.uint64) << np.uint64(45)) | (ts - base).astype(np.uint64)
cum = {}
for c in ("clicked", "liked", "shared", "dwell_seconds", "position", "scroll_depth"):
    col = ev.column(c).combine_chunks()
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    vals = pc.fill_null(col, 0).to_numpy().astype(np.float64 if c in ("dwell_seconds", "scroll_depth") else np.int64)
    cum[c] = (np.concatenate([[0], np.cumsum(valid, dtype=np.int64)]), np.concatenate([[0], np.cumsum(vals)]))
T["prefix sums (numpy)"] = time.perf_counter() - t0
t0 = time.perf_counter()
lk = labels.column("user_id").to_numpy()
lt = pc.cast(labels.column("event_timestamp"), pa.int64()).to_numpy()


def idx(t):
    rel = np.clip(t - base, 0, None).astype(np.uint64)
    return np.searchsorted(comp, (lk.astype(np.uint64) << np.uint64(45)) | rel, side="left")


it = idx(lt)
out = {}
starts = {}
for o in outputs:
    W, H = o.window_seconds * 10**6, o.hop_seconds * 10**6
    if (W, H) not in starts:
        starts[(W, H)] = idx(((lt - W) // H) * H)
    i0 = starts[(W, H)]
    c, s = cum[o.column]
    cnt = c[it] - c[i0]
    sm = s[it] - s[i0]
    out[o.name] = cnt if o.function == "count" else sm if o.function == "sum" else np.where(cnt > 0, sm / np.maximum(cnt, 1), np.nan)
T["label lookups (numpy)"] = time.perf_counter() - t0
print(json.dumps({"labels": n, "events": ev.num_rows, "features": len(outputs), "seconds": {k: round(v, 2) for k, v in T.items()}}))
