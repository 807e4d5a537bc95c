"""Feast's side of the online latency benchmark (run by ``online_latency.py`` in ``bench/.venv-feast``).

Builds a Feast repo whose feature views mirror the news-feed example's four online views (same
names, columns and types; the 384-dim embeddings as ``Array(Float32)``) on Feast's Redis online
store, pointed at the same redis-server as skewless (Feast keeps its own key layout: one hash per
entity key), writes the same generated rows with ``FeatureStore.write_to_online_store``, and times
``FeatureStore.get_online_features(...)`` (and ``.to_dict()``) for the same slates. ``feast serve``
is started by the parent on this repo.

With ``--odfv`` the repo also gets the example's two on-demand views, ported to Feast's
``mode="python"`` (same arithmetic), so the request can include them.

Subcommands: ``setup`` (repo + apply + write), ``inproc`` (timing), ``values`` (the responses of a
few slates, for the parent to compare with skewless'). Only the standard library, NumPy, pandas and
Feast are used (no skewless import).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import online_data as data

PROJECT = "skewless_bench_online"
TYPES: dict[str, Any] = {}


def _types() -> dict[str, Any]:
    from feast.types import Array, Float32, Float64, Int64, String, UnixTimestamp

    return {
        "int": Int64,
        "float": Float64,
        "str": String,
        "int_list": Array(Int64),
        "str_list": Array(String),
        "float32_list": Array(Float32),
        "embedding": Array(Float32),
        "timestamp": UnixTimestamp,
    }


def definitions(repo: Path, *, odfv: bool) -> list[Any]:
    import pandas as pd
    from feast import Entity, FeatureView, Field, FileSource, RequestSource, ValueType
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Bool, Float64, Int64, String

    types = _types()
    dummy = repo / "empty.parquet"  # never read: values go straight to the online store
    if not dummy.exists():
        pd.DataFrame({"user_id": pd.Series([], dtype="int64"), "event_timestamp": pd.Series([], dtype="datetime64[us, UTC]")}).to_parquet(
            dummy
        )
    entities = {
        "user": Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64),
        "article": Entity(name="article", join_keys=["article_id"], value_type=ValueType.INT64),
    }
    views = {}
    for name, (entity, _key, schema) in data.VIEWS.items():
        ttl = timedelta(days=3) if name == "user_profile" else timedelta(0)  # as the example (0 = none in Feast)
        views[name] = FeatureView(
            name=name,
            entities=[entities[entity]],
            ttl=ttl,
            schema=[Field(name=f, dtype=types[k], **({"vector_length": data.DIM} if k == "embedding" else {})) for f, k in schema.items()],
            source=FileSource(name=f"{name}_source", path=str(dummy), timestamp_field="event_timestamp"),
            online=True,
        )
    objects: list[Any] = [*entities.values(), *views.values()]
    if odfv:
        request = RequestSource(
            name="request_context",
            schema=[Field(name="device", dtype=String), Field(name="country", dtype=String), Field(name="utc_offset_minutes", dtype=Int64)],
        )

        @on_demand_feature_view(
            sources=[request],
            schema=[Field(name="local_hour", dtype=Int64), Field(name="is_weekend", dtype=Bool), Field(name="is_mobile", dtype=Bool)],
            mode="python",
        )
        def context_features(inputs: dict[str, Any]) -> dict[str, Any]:
            import time as _time

            now_min = int(_time.time() // 60)
            out: dict[str, Any] = {"local_hour": [], "is_weekend": [], "is_mobile": []}
            for offset, device in zip(inputs["utc_offset_minutes"], inputs["device"], strict=True):
                local = now_min + int(offset or 0)
                out["local_hour"].append((local // 60) % 24)
                out["is_weekend"].append((local // 1440 + 3) % 7 >= 5)
                out["is_mobile"].append(device in ("ios", "android"))
            return out

        @on_demand_feature_view(
            sources=[views["user_profile"], views["article_metadata"]],
            schema=[
                Field(name="embedding_cosine", dtype=Float64),
                Field(name="topic_affinity", dtype=Float64),
                Field(name="article_age_hours", dtype=Float64),
            ],
            mode="python",
        )
        def user_article_cross(inputs: dict[str, Any]) -> dict[str, Any]:
            import time as _time

            import numpy as _np

            now = _time.time()
            out: dict[str, Any] = {"embedding_cosine": [], "topic_affinity": [], "article_age_hours": []}
            rows = zip(
                inputs["user_embedding"],
                inputs["content_embedding"],
                inputs["category"],
                inputs["top_topics"],
                inputs["topic_scores"],
                inputs["published_at"],
                strict=True,
            )
            for user, article, category, topics, scores, published in rows:
                if user is None or article is None:
                    out["embedding_cosine"].append(None)
                else:
                    u, a = _np.asarray(user, dtype=_np.float64), _np.asarray(article, dtype=_np.float64)
                    norm = float(_np.linalg.norm(u) * _np.linalg.norm(a))
                    out["embedding_cosine"].append(float(u @ a) / norm if norm > 0 else None)
                affinity = None
                if category is not None and topics is not None and scores is not None:
                    affinity = 0.0
                    for topic, score in zip(topics, scores, strict=False):
                        if topic == category:
                            affinity = float(score)
                            break
                out["topic_affinity"].append(affinity)
                stamp = published.timestamp() if hasattr(published, "timestamp") else published
                out["article_age_hours"].append(None if stamp is None else (now - float(stamp)) / 3600.0)
            return out

        objects += [request, context_features, user_article_cross]
    return objects


def feature_refs(*, odfv: bool) -> list[str]:
    refs = [f"{view}:{f}" for view, (_e, _k, schema) in data.VIEWS.items() for f in schema]
    if odfv:
        refs += [f"context_features:{f}" for f in ("local_hour", "is_weekend", "is_mobile")]
        refs += [f"user_article_cross:{f}" for f in ("embedding_cosine", "topic_affinity", "article_age_hours")]
    return refs


def open_store(repo: Path) -> Any:
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo))


def setup(args: argparse.Namespace) -> dict[str, Any]:
    import feast
    import pandas as pd

    repo = Path(args.repo)
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        f"project: {PROJECT}\n"
        "provider: local\n"
        f"registry: {repo / 'registry.db'}\n"
        "offline_store:\n  type: file\n"
        f"online_store:\n  type: redis\n  connection_string: {args.redis}\n"
        "entity_key_serialization_version: 3\n"
    )
    store = open_store(repo)
    started = time.perf_counter()
    store.apply(definitions(repo, odfv=args.odfv))
    result: dict[str, Any] = {"feast": feast.__version__, "apply_seconds": time.perf_counter() - started, "write": {}}
    for kind, count in (("user", args.users), ("article", args.articles)):
        views = [(name, schema) for name, (entity, _k, schema) in data.VIEWS.items() if entity == kind]
        seconds = {name: 0.0 for name, _ in views}
        for cols in data.entity_chunks(kind, count, args.now_us):
            key = f"{kind}_id"
            for name, schema in views:
                frame: dict[str, Any] = {key: cols[key], "event_timestamp": pd.to_datetime(cols["event_ts_us"], unit="us", utc=True)}
                for f, k in schema.items():
                    if k == "embedding":
                        frame[f] = list(cols[f])  # one float32 array per row
                    elif k == "timestamp":
                        frame[f] = pd.to_datetime(cols[f], unit="us", utc=True)
                    else:
                        frame[f] = cols[f]
                df = pd.DataFrame(frame)
                t0 = time.perf_counter()
                store.write_to_online_store(name, df)
                seconds[name] += time.perf_counter() - t0
        for name, _ in views:
            result["write"][name] = {
                "rows": count,
                "seconds": seconds[name],
                "rows_per_second": count / seconds[name] if seconds[name] else None,
            }
        print(f"feast: wrote {count:,} {kind}s: " + ", ".join(f"{n} {s:.1f}s" for n, s in seconds.items()), file=sys.stderr, flush=True)
    return result


def load_refs(args: argparse.Namespace) -> list[str]:
    """The features to request: ``--refs`` (a JSON list, written by the parent from a skewless service's
    outputs), else every stored feature (and the on-demand ones with ``--odfv``)."""
    if args.refs:
        refs: list[str] = json.loads(Path(args.refs).read_text())
        return refs
    return feature_refs(odfv=args.odfv)


def needs_request_values(refs: list[str]) -> bool:
    return any(r.startswith("context_features:") for r in refs)


def entity_rows(slate: dict[str, Any], *, odfv: bool) -> dict[str, list[Any]]:
    """The slate as columns (Feast accepts them and converts rows to columns anyway): one row per article."""
    n = len(slate["article_ids"])
    columns = {"user_id": [slate["user_id"]] * n, "article_id": list(slate["article_ids"])}
    if odfv:  # Feast takes request values per row, with the entities
        columns.update({k: [slate[k]] * n for k in ("device", "country", "utc_offset_minutes")})
    return columns


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1000
    return {
        "n": len(samples),
        "mean_ms": float(arr.mean()),
        **{f"p{str(q).replace('.0', '')}_ms": float(np.percentile(arr, q)) for q in (50.0, 90.0, 99.0, 99.9)},
        "max_ms": float(arr.max()),
    }


def inproc(args: argparse.Namespace) -> dict[str, Any]:
    store = open_store(Path(args.repo))
    refs = load_refs(args)
    odfv = needs_request_values(refs)
    warm = data.slates(args.warmup, args.users, args.articles, stream=1)
    slates = data.slates(args.slates, args.users, args.articles, stream=2)
    for slate in warm:
        store.get_online_features(features=refs, entity_rows=entity_rows(slate, odfv=odfv), full_feature_names=True).to_dict()
    inputs = [entity_rows(slate, odfv=odfv) for slate in slates]
    call, total = [], []
    gc.collect()
    started = time.perf_counter()
    for rows in inputs:
        t0 = time.perf_counter()
        response = store.get_online_features(features=refs, entity_rows=rows, full_feature_names=True)
        t1 = time.perf_counter()
        response.to_dict()
        t2 = time.perf_counter()
        call.append(t1 - t0)
        total.append(t2 - t0)
    wall = time.perf_counter() - started
    return {
        "features": len(refs),
        "get_online_features": percentiles(call),
        "get_online_features_to_dict": {**percentiles(total), "slates_per_second": len(inputs) / wall},
    }


def values(args: argparse.Namespace) -> dict[str, Any]:
    store = open_store(Path(args.repo))
    refs = load_refs(args)
    out = []
    for slate in data.slates(args.slates, args.users, args.articles, stream=2):
        rows = entity_rows(slate, odfv=needs_request_values(refs))
        d = store.get_online_features(features=refs, entity_rows=rows, full_feature_names=True).to_dict()
        out.append(
            {
                k: [x.tolist() if hasattr(x, "tolist") else (x.isoformat() if hasattr(x, "isoformat") else x) for x in v]
                for k, v in d.items()
            }
        )
    return {"responses": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["setup", "inproc", "values"])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--redis", default="127.0.0.1:6379", help="host:port (setup)")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--articles", type=int, required=True)
    parser.add_argument("--now-us", type=int, default=0, help="the data's reference time (setup)")
    parser.add_argument("--odfv", action="store_true", help="setup: define the on-demand views (python mode); else: request them")
    parser.add_argument("--refs", help="inproc/values: a JSON file with the view:feature list to request")
    parser.add_argument("--slates", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--result", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    result = {"setup": setup, "inproc": inproc, "values": values}[args.command](args)
    Path(args.result).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
