"""One-off measurement behind docs/benchmarks.md: the steps of the windowed plan for ``user_engagement``, and variants.

Usage: ``.venv/bin/python bench/experiments/windowed_plan_steps.py DATA_DIR N STEPS [MEMORY_LIMIT]`` where DATA_DIR is a
data set kept by ``offline_pit.py --keep`` (``WORKDIR/scale1-seed...``), N a label count and STEPS a comma-separated list,
run in order on one connection, each materializing a temp table the next ones read:
``dedup,events,count_bounded,asof,rows,grid,frames,frames_max,running,pivot,asof_bounded,nextprobe_window``.
Hand-written SQL equivalent to what skewless generates (plus the variants measured against it); uses skewless internals
(engine._connect/_source): a measurement, not an API.
"""

import json
import sys
import time

sys.path.insert(0, "/work/main/bench")
import pyarrow as pa
from offline_pit import read_labels

from skewless import FeatureStore
from skewless.definitions.selection import select_features
from skewless.offline.duckdb_engine import DuckDBEngine
from skewless.offline.entity_rows import TIMESTAMP_COLUMN, normalize_entity_rows
from skewless.offline.pit import q, selected_sources
from skewless.offline.retrieval import source_data

root, n, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
mem = sys.argv[4] if len(sys.argv) > 4 else "12GB"
store = FeatureStore(f"{root}/repo")
catalog = store.registry.snapshot().catalog
view = catalog.view("user_engagement", None)
selection = select_features(catalog, [f"user_engagement:{f}" for f in view.feature_names])
rows = normalize_entity_rows(read_labels(f"{root}/labels.parquet", n), selection)
engine = DuckDBEngine(memory_limit=mem)
con = engine._connect()
rows = rows.append_column("__row", pa.array(range(rows.num_rows), type=pa.int64()))
con.register("__entity_input", rows)
con.execute(f"CREATE TEMP TABLE __entity AS SELECT *, epoch_us({q(TIMESTAMP_COLUMN)}) AS __ts FROM __entity_input")
sources = source_data(store.offline_tables, selection)
rel = {s.name: engine._source(con, s, sources.get(s.name)) for s in selected_sources(selection)}["engagement"]
con.execute(f"CREATE TEMP VIEW src AS {rel}")


def timed(label, sql):
    t = time.perf_counter()
    con.execute(sql)
    print(json.dumps({"step": label, "seconds": round(time.perf_counter() - t, 2)}), flush=True)


W = [(3600, 60), (86400, 300), (604800, 3600), (2592000, 3600)]


def start(x, w, h):
    H = h * 10**6
    X = f"(({x}) - {w * 10**6})"
    return f"({X} - ((({X} % {H}) + {H}) % {H}))"


REACH = max(w + h for w, h in W) * 10**6
pts = " UNION ALL ".join(
    ["SELECT user_id, __ts AS __pts, TRUE AS __label FROM __entity"]
    + [f"SELECT user_id, {start('__ts', w, h)}, FALSE FROM __entity" for w, h in W]
)
con.execute(f"CREATE TEMP TABLE probes AS SELECT user_id, __pts, bool_or(__label) AS __label FROM ({pts}) GROUP BY ALL")
vals = "clicked, liked, shared, dwell_seconds, position, scroll_depth"
for step in steps:
    if step == "dedup":
        timed(
            "dedup group by id having count>1",
            "CREATE OR REPLACE TEMP TABLE dups AS SELECT event_id AS __id, min(__seq) AS __first FROM src GROUP BY event_id HAVING count(*) > 1",
        )
    elif step == "events":
        timed(
            "events: scan, anti dups, time filter",
            f"CREATE OR REPLACE TEMP TABLE ev AS SELECT user_id, __ts, __seq, {vals} FROM src LEFT JOIN dups ON __id = event_id WHERE (__first IS NULL OR __seq = __first) AND __ts < (SELECT max(__ts) FROM __entity) AND __ts >= (SELECT min(__ts) FROM __entity) - {REACH}",
        )
    elif step == "asof":
        timed(
            "segments via ASOF + group by",
            "CREATE OR REPLACE TEMP TABLE seg AS SELECT p.user_id, p.__pts, sum(clicked) s1, count(clicked) n1, sum(liked) s2, sum(shared) s3, sum(dwell_seconds) s4, count(dwell_seconds) n4, max(dwell_seconds) m4, sum(position) s5, count(position) n5, sum(scroll_depth) s6, count(scroll_depth) n6 FROM ev ASOF JOIN (SELECT user_id, __pts FROM probes) p ON ev.user_id = p.user_id AND ev.__ts < p.__pts GROUP BY ALL",
        )
    elif step == "asof_bounded":
        timed(
            "segments via ASOF on per-key bounded events",
            "CREATE OR REPLACE TEMP TABLE seg2 AS SELECT p.user_id, p.__pts, sum(clicked) s1, count(clicked) n1, sum(liked) s2, sum(shared) s3, sum(dwell_seconds) s4, count(dwell_seconds) n4, max(dwell_seconds) m4, sum(position) s5, count(position) n5, sum(scroll_depth) s6, count(scroll_depth) n6 FROM (SELECT ev.* FROM ev JOIN (SELECT user_id, min(__pts) lo, max(__pts) hi FROM probes GROUP BY ALL) b ON ev.user_id = b.user_id AND ev.__ts >= b.lo AND ev.__ts < b.hi) ev ASOF JOIN (SELECT user_id, __pts FROM probes) p ON ev.user_id = p.user_id AND ev.__ts < p.__pts GROUP BY ALL",
        )
    elif step == "count_bounded":
        print(
            con.sql(
                "SELECT count(*) FILTER (WHERE ev.__ts >= b.lo AND ev.__ts < b.hi) kept, count(*) FROM ev JOIN (SELECT user_id, min(__pts) lo, max(__pts) hi FROM probes GROUP BY ALL) b USING (user_id)"
            ).fetchall(),
            con.sql("select count(*) from ev").fetchall(),
        )
    elif step == "nextprobe_window":
        timed(
            "segments via window next-probe + group by",
            f"CREATE OR REPLACE TEMP TABLE seg3 AS SELECT user_id, __np AS __pts, sum(clicked) s1, count(clicked) n1, sum(liked) s2, sum(shared) s3, sum(dwell_seconds) s4, count(dwell_seconds) n4, max(dwell_seconds) m4, sum(position) s5, count(position) n5, sum(scroll_depth) s6, count(scroll_depth) n6 FROM (SELECT *, min(__p) OVER (PARTITION BY user_id ORDER BY __ts, __k ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS __np FROM (SELECT user_id, __ts, 1 AS __k, NULL::BIGINT AS __p, {vals} FROM ev UNION ALL BY NAME SELECT user_id, __pts AS __ts, 0 AS __k, __pts AS __p FROM probes) u) x WHERE __k = 1 AND __np IS NOT NULL GROUP BY ALL",
        )
    elif step == "grid":
        timed("grid", "CREATE OR REPLACE TEMP TABLE grid AS SELECT * FROM probes LEFT JOIN seg USING (user_id, __pts)")
    elif step == "frames":
        wins = ", ".join(
            f"w{i} AS (PARTITION BY user_id ORDER BY __pts RANGE BETWEEN (__pts - {start('__pts', w, h)} - 1) PRECEDING AND CURRENT ROW)"
            for i, (w, h) in enumerate(W)
        )
        aggs = (
            ", ".join(
                f"sum({c}) OVER w{i} AS {c}_{i}"
                for i in range(4)
                for c in ("s1", "n1", "s2", "n2", "s3", "n3", "s4", "n4", "s5", "n5", "s6", "n6")
                if c not in ("n2", "n3")
            )
            + ", "
            + ", ".join(f"max(m4) OVER w{i} AS m4_{i}" for i in range(4))
        )
        timed(
            "frames: 44 framed aggregates",
            f"CREATE OR REPLACE TEMP TABLE f1 AS SELECT user_id, __pts, {aggs} FROM grid WINDOW {wins} QUALIFY __label",
        )
    elif step == "frames_max":
        wins = ", ".join(
            f"w{i} AS (PARTITION BY user_id ORDER BY __pts RANGE BETWEEN (__pts - {start('__pts', w, h)} - 1) PRECEDING AND CURRENT ROW)"
            for i, (w, h) in enumerate(W)
        )
        aggs = ", ".join(f"max(m4) OVER w{i} AS m4_{i}" for i in range(4))
        timed(
            "frames: 4 max only",
            f"CREATE OR REPLACE TEMP TABLE f2 AS SELECT user_id, __pts, {aggs} FROM grid WINDOW {wins} QUALIFY __label",
        )
    elif step == "running":
        aggs = ", ".join(f"sum({c}) OVER run AS c_{c}" for c in ("s1", "n1", "s2", "s3", "s4", "n4", "s5", "n5", "s6", "n6"))
        timed(
            "running: 10 cumulative sums",
            f"CREATE OR REPLACE TEMP TABLE cum AS SELECT user_id, __pts, {aggs} FROM grid WINDOW run AS (PARTITION BY user_id ORDER BY __pts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
        )
    elif step == "pivot":
        joins = " ".join(
            f"LEFT JOIN cum c{i + 1} ON c{i + 1}.user_id = e.user_id AND c{i + 1}.__pts = {start('e.__ts', w, h)}"
            for i, (w, h) in enumerate(W)
        )
        cols = ", ".join(
            f"c0.c_{c} - c{i + 1}.c_{c} AS {c}_{i}" for i in range(4) for c in ("s1", "n1", "s2", "s3", "s4", "n4", "s5", "n5", "s6", "n6")
        )
        timed(
            "pivot: 5 joins of entity rows to cum",
            f"CREATE OR REPLACE TEMP TABLE piv AS SELECT e.__row, {cols} FROM __entity e LEFT JOIN cum c0 ON c0.user_id = e.user_id AND c0.__pts = e.__ts {joins}",
        )
    elif step == "rows":
        print(con.sql("select (select count(*) from probes), (select count(*) from seg), (select count(*) from ev)").fetchall())
