"""The demo's HTML report: one self-contained file, charts drawn as inline SVG (no plotting library).

Sections are plain data (numbers measured by the demo), so the report can be tested by parsing
it back: every number it shows is in the HTML as text next to its chart.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, PAD = 560, 220, 40


@dataclass
class Report:
    title: str
    sections: list[str] = field(default_factory=list)

    def add_text(self, heading: str, paragraphs: Sequence[str]) -> None:
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2>{body}</section>")

    def add_table(self, heading: str, rows: Sequence[Mapping[str, object]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2><table><tr>{head}</tr>{body}</table></section>")

    def add_histogram(self, heading: str, samples: Sequence[float], *, unit: str, bins: int = 40, log: bool = False) -> None:
        """A histogram with its percentiles written beside it."""
        data = np.asarray(samples, dtype=float)
        if data.size == 0:
            return
        values = np.log10(np.maximum(data, 1e-9)) if log else data
        counts, edges = np.histogram(values, bins=bins)
        bars = [(float(edges[i]), float(edges[i + 1]), int(c)) for i, c in enumerate(counts)]
        p50, p90, p99, p999 = (float(np.percentile(data, q)) for q in (50, 90, 99, 99.9))
        caption = f"n = {data.size:,}; p50 {p50:.3g} {unit}, p90 {p90:.3g} {unit}, p99 {p99:.3g} {unit}, p99.9 {p999:.3g} {unit}"
        axis = f"log10({unit})" if log else unit
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2>{_bars_svg(bars, axis)}<p>{html.escape(caption)}</p></section>")

    def add_series(self, heading: str, x: Sequence[float], series: Mapping[str, Sequence[float]], *, x_label: str, y_label: str) -> None:
        """Lines over a shared x (e.g. freshness p50/p99 over the demo's minutes)."""
        if not x:
            return
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2>{_lines_svg(x, series, x_label, y_label)}</section>")

    def add_bars(self, heading: str, values: Mapping[str, float], *, y_label: str, note: str = "") -> None:
        """Named bars (e.g. AUC per model) with their values written on them."""
        bars = list(values.items())
        self.sections.append(
            f"<section><h2>{html.escape(heading)}</h2>{_named_bars_svg(bars, y_label)}<p>{html.escape(note)}</p></section>"
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        path.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
            f"<body><h1>{html.escape(self.title)}</h1><p class='stamp'>{stamp}</p>{''.join(self.sections)}</body></html>"
        )
        return path


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _scale(lo: float, hi: float, size: float) -> tuple[float, float]:
    span = hi - lo if hi > lo else 1.0
    return lo, size / span


def _bars_svg(bars: Sequence[tuple[float, float, int]], axis: str) -> str:
    lo, hi, top = bars[0][0], bars[-1][1], max(c for _, _, c in bars) or 1
    x0, sx = _scale(lo, hi, WIDTH - 2 * PAD)
    rects = "".join(
        f"<rect x='{PAD + (a - x0) * sx:.1f}' y='{HEIGHT - PAD - c / top * (HEIGHT - 2 * PAD):.1f}' "
        f"width='{max(1.0, (b - a) * sx - 1):.1f}' height='{c / top * (HEIGHT - 2 * PAD):.1f}'/>"
        for a, b, c in bars
    )
    return _frame(rects, f"{lo:.3g}", f"{hi:.3g}", axis, f"{top:,}")


def _lines_svg(x: Sequence[float], series: Mapping[str, Sequence[float]], x_label: str, y_label: str) -> str:
    finite = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    top = max(finite, default=1.0) or 1.0
    x0, sx = _scale(min(x), max(x), WIDTH - 2 * PAD)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    lines, legend = [], []
    for i, (name, ys) in enumerate(series.items()):
        points = " ".join(
            f"{PAD + (xi - x0) * sx:.1f},{HEIGHT - PAD - y / top * (HEIGHT - 2 * PAD):.1f}"
            for xi, y in zip(x, ys, strict=True)
            if y is not None
        )
        colour = colours[i % len(colours)]
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{points}'/>")
        legend.append(f"<text x='{WIDTH - PAD - 120}' y='{PAD + 14 * i}' fill='{colour}'>{html.escape(name)}</text>")
    return _frame("".join(lines + legend), f"{min(x):.3g}", f"{max(x):.3g}", x_label, f"{top:.3g} {y_label}")


def _named_bars_svg(bars: Sequence[tuple[str, float]], y_label: str) -> str:
    top = max((v for _, v in bars), default=1.0) or 1.0
    width = (WIDTH - 2 * PAD) / max(1, len(bars))
    parts = []
    for i, (name, value) in enumerate(bars):
        h = value / top * (HEIGHT - 2 * PAD)
        x = PAD + i * width
        parts.append(f"<rect x='{x + 6:.1f}' y='{HEIGHT - PAD - h:.1f}' width='{width - 12:.1f}' height='{h:.1f}'/>")
        parts.append(f"<text x='{x + width / 2:.1f}' y='{HEIGHT - PAD - h - 4:.1f}' text-anchor='middle'>{value:.4f}</text>")
        parts.append(f"<text x='{x + width / 2:.1f}' y='{HEIGHT - PAD + 14:.1f}' text-anchor='middle'>{html.escape(name)}</text>")
    return _frame("".join(parts), "", "", "", f"{top:.4g} {y_label}")


def _frame(content: str, x_lo: str, x_hi: str, x_label: str, y_top: str) -> str:
    return (
        f"<svg width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' xmlns='http://www.w3.org/2000/svg'>"
        f"<line x1='{PAD}' y1='{HEIGHT - PAD}' x2='{WIDTH - PAD}' y2='{HEIGHT - PAD}' stroke='#333'/>"
        f"<line x1='{PAD}' y1='{PAD}' x2='{PAD}' y2='{HEIGHT - PAD}' stroke='#333'/>{content}"
        f"<text x='{PAD}' y='{HEIGHT - 8}'>{html.escape(x_lo)}</text>"
        f"<text x='{WIDTH - PAD}' y='{HEIGHT - 8}' text-anchor='end'>{html.escape(x_hi)}</text>"
        f"<text x='{WIDTH / 2}' y='{HEIGHT - 8}' text-anchor='middle'>{html.escape(x_label)}</text>"
        f"<text x='4' y='{PAD - 8}'>{html.escape(y_top)}</text></svg>"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}"
    "svg rect{fill:#4c78a8}svg text{font-size:11px;fill:#333}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}.stamp{color:#777}"
)
