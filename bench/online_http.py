#!/usr/bin/env python
"""One HTTP configuration of ``skewless serve`` measured quickly: a store, a service, a format, a
worker count; saturation (8 closed-loop connections), then open-loop latency at given rates
(``--rates half``: at half the saturation throughput, as ``online_latency.py`` measures it).

Reuses ``online_latency.py``'s repo and load generator on data it wrote (``--repo``: its
``--workdir``'s ``repo``). Redis needs a running redis-server holding that data (``--redis-port``).
Wrap it in ``flock /tmp/skewless-bench.lock`` like every benchmark on the shared machine::

    flock /tmp/skewless-bench.lock .venv/bin/python bench/online_http.py --repo /tmp/olb/full/repo \\
        --backend embedded --workers 2 --rates 500,1000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import online_data as data  # noqa: E402
import online_latency as ol  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the repo online_latency.py wrote (its --workdir/repo)")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--backend", choices=["embedded", "redis"], default="embedded")
    parser.add_argument("--redis-port", type=int, default=0)
    parser.add_argument("--service", default="ranker")
    parser.add_argument("--format", choices=["msgpack", "json"], default="msgpack")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache-ms", type=int, default=0, help="serving.cache_staleness_ms")
    parser.add_argument("--rates", default="500,1000", help="open-loop rates, comma-separated; 'half': half the saturation throughput")
    parser.add_argument("--sat-seconds", type=float, default=8.0)
    parser.add_argument("--lat-seconds", type=float, default=10.0)
    args = parser.parse_args()

    repo = Path(args.repo)
    redis_url = f"redis://127.0.0.1:{args.redis_port}/0"
    port = ol.free_port()
    ol.write_config(repo, redis_url, cache_staleness_ms=args.cache_ms, port=port)
    if args.backend == "embedded":
        config = (repo / "skewless.yaml").read_text()
        (repo / "skewless.yaml").write_text(config.replace(f"{{type: redis, url: '{redis_url}'}}", "{type: embedded, path: data/online}"))
    slates = data.slates(2000, args.users, args.articles, stream=3)
    bodies = repo.parent / f"http_bodies_{args.service}.jsonl"
    bodies.write_bytes(ol.skewless_bodies(slates, args.service))
    path = "/get-online-features?format=msgpack" if args.format == "msgpack" else "/get-online-features"
    cmd = [str(ol.SKEWLESS_CLI), "--repo", str(repo), "serve", "--port", str(port), "--workers", str(args.workers)]
    result: dict[str, Any] = {"args": vars(args), "load_at_start": os.getloadavg()}
    if args.backend == "embedded":  # measured warm, as a long-running server's store is (other benchmarks evict it)
        result["page_cache_warmup"] = ol.warm_page_cache(repo / "data" / "online")
    try:
        with ol.server_process(cmd, f"http://127.0.0.1:{port}/ready", repo.parent / "online_http_serve.log"):
            result["response"] = ol.check_http(port, path, ol.skewless_bodies(slates[:1], args.service).strip(), args.format)
            saturation = ol.run_load(port, bodies, path, mode="closed", duration=args.sat_seconds, warmup=1, connections=8)
            result["saturation"] = saturation
            half = saturation["requests_per_second"] / 2
            for rate in (half if r == "half" else float(r) for r in args.rates.split(",") if r):
                result[f"at_{int(rate)}_per_second"] = ol.run_load(
                    port, bodies, path, mode="open", duration=args.lat_seconds, warmup=1, connections=8, rate=rate
                )
    finally:
        ol.write_config(repo, redis_url)
    result["load_at_end"] = os.getloadavg()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
