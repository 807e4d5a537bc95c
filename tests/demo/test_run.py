"""`skewless demo` end to end at a tiny scale: every step runs and the report holds measured numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skewless.demo.nlp import embedding_available
from skewless.demo.run import run_demo


@pytest.mark.slow
@pytest.mark.skipif(not embedding_available(), reason="the demo extra (sentence-transformers, the MiniLM wheel) is not installed")
def test_the_demo_runs_end_to_end_and_writes_its_report(tmp_path: Path) -> None:
    report = run_demo(tmp_path / "work", reports=tmp_path / "reports", scale=0.05, days=4)
    assert report.exists() and report.suffix == ".html"
    summary = json.loads(report.with_suffix(".json").read_text())
    assert summary["skew"]["checked"] > 1_000 and summary["skew"]["mismatches"] == 0
    assert summary["counts"]["history_events"] > 1_000 and summary["counts"]["live_events"] > 0
    assert summary["rank_ms_p50_p99"] is not None and summary["read_ms_p50_p99"] is not None
    assert all(0.0 <= value <= 1.0 for value in summary["auc"].values())
    page = report.read_text()
    for heading in ("AUC on the later time split", "/rank latency", "Freshness", "Skew check", "Distribution of ctr_7d"):
        assert heading in page
