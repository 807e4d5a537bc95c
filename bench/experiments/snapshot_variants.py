"""One-off measurement behind docs/benchmarks.md: variants of the snapshot SQL for ``user_profile``.

Usage: ``.venv/bin/python bench/experiments/snapshot_variants.py DATA_DIR N baseline,prefilter,prefilter_late``
where DATA_DIR is a data set kept by ``offline_pit.py --keep`` (``WORKDIR/scale1-seed...``) and N a
label count. ``baseline`` is the SQL skewless runs today; ``prefilter`` restricts the source to the
labels' keys and time range before the tie-break; ``prefilter_late`` also ASOF-joins on (key, ts) pairs
only and fetches the features for the matched rows. Prints time, CPU, peak RSS, and mismatches against
the first variant. Uses skewless internals (engine._connect/_source): a measurement, not an API.
"""

import json
import resource
import sys
import time

import pyarrow as pa

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from memwatch import PeakMemory
from offline_pit import read_labels

from skewless import FeatureStore
from skewless.definitions.selection import select_features
from skewless.offline.duckdb_engine import DuckDBEngine
from skewless.offline.entity_rows import TIMESTAMP_COLUMN, normalize_entity_rows
from skewless.offline.pit import point_in_time_sql, q, selected_sources
from skewless.offline.retrieval import source_data

root, n, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
store = FeatureStore(f"{root}/repo")
catalog = store.registry.snapshot().catalog
view = catalog.view("user_profile", None)
features = [f"user_profile:{f}" for f in view.feature_names]
selection = select_features(catalog, features)
rows = normalize_entity_rows(read_labels(f"{root}/labels.parquet", n), selection)
engine = DuckDBEngine()
con = engine._connect()
rows = rows.append_column("__row", pa.array(range(rows.num_rows), type=pa.int64()))
con.register("__entity_input", rows)
con.execute(f"CREATE TEMP VIEW __entity AS SELECT *, epoch_us({q(TIMESTAMP_COLUMN)}) AS __ts FROM __entity_input")
sources = source_data(store.offline_tables, selection)
rel = {s.name: engine._source(con, s, sources.get(s.name)) for s in selected_sources(selection)}["user_profiles"]
cols = ", ".join(q(f) for f in view.feature_names)
ttl = view.ttl_seconds * 1_000_000
baseline = point_in_time_sql(selection, entity="__entity", sources={"user_profiles": rel})
pre = f"SELECT * FROM ({rel}) s WHERE user_id IN (SELECT user_id FROM __entity) AND __ts <= (SELECT max(__ts) FROM __entity)"


def asof(src):
    return (
        f"SELECT e.__row, {', '.join(f'CASE WHEN s.__ts >= e.__ts - {ttl} THEN s.{q(f)} END AS {q(f)}' for f in view.feature_names)} "
        f"FROM __entity e ASOF LEFT JOIN ({src}) s ON e.user_id = s.user_id AND e.__ts >= s.__ts ORDER BY e.__row"
    )


def dedup(src):
    return f"SELECT user_id, __ts, {cols} FROM (SELECT *, row_number() OVER (PARTITION BY user_id, __ts ORDER BY __created DESC NULLS LAST, __seq DESC) AS __rank FROM ({src}) x) WHERE __rank = 1"


# late materialization: ASOF on narrow (key, ts) pairs, then fetch the winning row's features for matched labels only
late = (
    f"WITH keys AS (SELECT DISTINCT user_id, __ts FROM ({pre})),\n"
    f" m AS (SELECT e.__row, e.user_id, e.__ts AS t, k.__ts AS s_ts FROM __entity e ASOF LEFT JOIN keys k ON e.user_id = k.user_id AND e.__ts >= k.__ts),\n"
    f" w AS (SELECT m.__row, arg_max(struct_pack({', '.join(f'{q(f)} := s.{q(f)}' for f in view.feature_names)}), struct_pack(c := s.__created, q := s.__seq)) AS v, any_value(m.s_ts) AS s_ts, any_value(m.t) AS t\n"
    f"       FROM m JOIN ({pre}) s ON s.user_id = m.user_id AND s.__ts = m.s_ts GROUP BY m.__row)\n"
    f"SELECT e.__row, {', '.join(f'CASE WHEN w.s_ts >= w.t - {ttl} THEN w.v.{q(f)} END AS {q(f)}' for f in view.feature_names)} FROM __entity e LEFT JOIN w USING (__row) ORDER BY e.__row"
)
sqls = {"baseline": baseline, "prefilter": asof(dedup(pre)), "prefilter_late": late, "no_dedup_prefilter": asof(pre)}
res = {}
for v in variants:
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    with PeakMemory() as m:
        t0 = time.perf_counter()
        out = con.sql(sqls[v]).to_arrow_table()
        dt = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    res[v] = out
    print(
        json.dumps(
            {
                "variant": v,
                "labels": n,
                "seconds": round(dt, 2),
                "cpu": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2),
                "peak_gib": round(m.peak / 2**30, 2),
                "rows": out.num_rows,
            }
        ),
        flush=True,
    )
names = list(res)
for v in names[1:]:
    a, b = res[names[0]], res[v]
    bad = sum(
        1
        for i, f in enumerate(view.feature_names)
        for x, y in zip(a.column(i + 1).to_pylist(), b.column(i + 1).to_pylist(), strict=False)
        if x != y and not (isinstance(x, float) and isinstance(y, float) and abs(x - y) < 1e-9)
    )
    print(json.dumps({"compare": f"{names[0]} vs {v}", "mismatches": bad}))
