"""Draws docs/architecture.svg, the component and data-flow diagram of docs/architecture.md.

    .venv/bin/python docs/diagram.py    # rewrites docs/architecture.svg

Plain SVG written by hand-placed boxes: no graph tool to install, and the diagram is reviewed
like code.
"""

from __future__ import annotations

import html
from pathlib import Path

W, H = 1180, 760
BOXES: dict[str, tuple[int, int, int, int, str, str]] = {
    # name: (x, y, w, h, title, detail lines separated by |)
    "apps": (20, 40, 190, 90, "News apps", "impressions, clicks, likes,|shares, dwell (events)"),
    "cms": (20, 190, 190, 90, "Content platform", "10k new articles a day"),
    "bus": (270, 40, 210, 90, "Event bus", "Redis Streams, partitions by|event id, consumer groups"),
    "workers": (540, 40, 230, 110, "Stream workers", "skewless stream: validate,|log offline, merge tiles;|exactly once (txn + guards)"),
    "ingest": (270, 190, 210, 90, "Article ingestion", "MiniLM embedding, entities,|metadata -> both stores"),
    "batch": (270, 330, 210, 90, "Batch jobs", "skewless run: user embeddings,|topics (daily + intra-day)"),
    "offline": (540, 230, 230, 190, "Offline store", "Delta Lake table per source|(object storage), partitioned|by event date; time travel;|_dead_letters, _feature_log,|training-sets/; DuckDB on one|machine, Spark beyond"),
    "registry": (540, 470, 230, 110, "Registry", "SQLite / PostgreSQL: versioned|definitions, watermarks,|training-set records; read|by every component"),
    "online": (840, 40, 310, 150, "Online store", "Redis Cluster (embedded LMDB|for one machine): a row per|(view, entity); tiles per|(view, entity, level, start)|under one hash tag"),
    "serving": (840, 250, 310, 130, "Serving API", "skewless serve: Feast-compatible|/get-online-features (JSON or|msgpack), /push, /rank; plans|compiled once, bounded cache"),
    "ranker": (840, 440, 310, 80, "Ranking model", "1 user + ~50 articles per request"),
    "training": (280, 520, 200, 90, "Training", "get_historical_features /|create_training_set (PIT)"),
    "ops": (20, 630, 460, 100, "Operations", "Prometheus scrapes /metrics of servers and workers: latency,|freshness, lag, dead letters, cache hits; skewless status,|skew-check; /health, /ready for the load balancer"),
}
ARROWS: list[tuple[str, str, str] | tuple[str, str, str, int, int]] = [  # (from, to, label[, label dx, dy])
    ("apps", "bus", "publish"),
    ("bus", "workers", "read / ack"),
    ("workers", "offline", "1 append (log)"),
    ("workers", "online", "2 tiles"),
    ("cms", "ingest", "new article", 0, -6),
    ("ingest", "offline", "write"),
    ("batch", "offline", "read / write", 14, -8),
    ("offline", "online", "materialize / backfill"),
    ("offline", "training", "point-in-time"),
    ("registry", "serving", "watch revision"),
    ("online", "serving", "1 MGET per node"),
    ("serving", "ranker", "features"),
    ("serving", "offline", "feature log", 0, -6),
]


def _centre(name: str) -> tuple[float, float]:
    x, y, w, h, _, _ = BOXES[name]
    return x + w / 2, y + h / 2


def _edge(name: str, towards: tuple[float, float]) -> tuple[float, float]:
    """Where the line from the box centre towards a point leaves the box."""
    x, y, w, h, _, _ = BOXES[name]
    cx, cy = _centre(name)
    dx, dy = towards[0] - cx, towards[1] - cy
    scale = min(w / 2 / abs(dx) if dx else float("inf"), h / 2 / abs(dy) if dy else float("inf"))
    return cx + dx * scale, cy + dy * scale


def draw() -> str:
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' viewBox='0 0 {W} {H}' font-family='sans-serif'>",
        "<defs><marker id='a' markerWidth='10' markerHeight='8' refX='9' refY='4' orient='auto'>"
        "<path d='M0,0 L10,4 L0,8 z' fill='#555'/></marker></defs>",
        f"<rect width='{W}' height='{H}' fill='white'/>",
        "<text x='20' y='24' font-size='16' font-weight='bold'>Skewless for the personalized news feed: components and data flows</text>",
    ]
    for arrow in ARROWS:
        source, target, label = arrow[:3]
        dx, dy = (arrow[3], arrow[4]) if len(arrow) == 5 else (0, 0)  # type: ignore[misc]
        start = _edge(source, _centre(target))
        end = _edge(target, _centre(source))
        mx, my = (start[0] + end[0]) / 2 + dx, (start[1] + end[1]) / 2 + dy
        parts.append(
            f"<line x1='{start[0]:.0f}' y1='{start[1]:.0f}' x2='{end[0]:.0f}' y2='{end[1]:.0f}' stroke='#555' "
            "stroke-width='1.5' marker-end='url(#a)'/>"
        )
        parts.append(f"<text x='{mx:.0f}' y='{my - 4:.0f}' font-size='11' fill='#a33' text-anchor='middle'>{html.escape(label)}</text>")
    for x, y, w, h, title, detail in BOXES.values():
        parts.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='8' fill='#eef3fb' stroke='#4c78a8' stroke-width='1.5'/>")
        parts.append(f"<text x='{x + 10}' y='{y + 20}' font-size='14' font-weight='bold'>{html.escape(title)}</text>")
        for i, line in enumerate(detail.split("|")):
            parts.append(f"<text x='{x + 10}' y='{y + 40 + 16 * i}' font-size='12'>{html.escape(line)}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


if __name__ == "__main__":
    target = Path(__file__).with_name("architecture.svg")
    target.write_text(draw() + "\n")
    print(target)
