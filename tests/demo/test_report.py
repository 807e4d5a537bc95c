"""The demo report: a self-contained HTML file whose numbers are the measured ones."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from skewless.demo.report import Report


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_shows_measured_percentiles_and_values(tmp_path: Path) -> None:
    latencies = [float(i) for i in range(1, 1001)]  # 1..1000 ms: p50 = 500.5, p99 = 990.01 (linear interpolation)
    report = Report("Skewless demo")
    report.add_histogram("Online latency", latencies, unit="ms")
    report.add_series("Freshness", [0, 1, 2], {"p50": [10.0, 12.0, 11.0], "p99": [40.0, 80.0, 60.0]}, x_label="minute", y_label="ms")
    report.add_bars("AUC", {"popularity": 0.61, "model": 0.72, "leaky": 0.66}, y_label="AUC", note="later time split")
    report.add_table("Runs", [{"step": "generate", "seconds": 12.5, "rows": 1_234_567}])
    path = report.write(tmp_path / "reports" / "demo.html")

    page = path.read_text()
    parsed = _Collect()
    parsed.feed(page)
    text = " ".join(parsed.text)
    assert parsed.tags.count("svg") == 3 and "script" not in parsed.tags  # self-contained, no JavaScript
    ordered = sorted(latencies)
    p50 = (ordered[499] + ordered[500]) / 2
    assert f"p50 {p50:.3g} ms" in text
    p99 = ordered[989] + 0.01 * (ordered[990] - ordered[989])
    assert f"p99 {p99:.3g} ms" in text
    for value in ("0.6100", "0.7200", "0.6600", "1,234,567", "12.5"):
        assert value in text
    assert len(re.findall(r"<rect ", page)) >= 40 + 3  # histogram bins and AUC bars
