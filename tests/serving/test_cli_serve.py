"""``skewless serve`` runs the server in worker processes; metrics add up across them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
from serving.repo import make_store
from typer.testing import CliRunner

from skewless.cli.app import app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_with_two_workers(tmp_path: Path) -> None:
    make_store(tmp_path).close()
    port = free_port()
    command = [sys.executable, "-m", "skewless.cli", "--repo", str(tmp_path), "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        with httpx.Client(base_url=base) as client:
            for _ in range(10):  # new connections: spread over both workers
                response = httpx.post(
                    f"{base}/get-online-features", json={"features": ["user_profile:age"], "entities": {"user_id": [1, 2]}}
                )
                assert response.status_code == 200 and response.json()["results"][1]["values"] == [31, 40]
            metrics = client.get("/metrics").text
        # Summed over the workers, whichever answered the scrape.
        assert 'skewless_request_duration_seconds_count{feature_set="user_profile"} 10.0' in metrics
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the server and its workers (its own session)
        process.wait(timeout=30)


def test_serve_refuses_a_repo_without_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--repo", str(tmp_path), "serve"])
    assert result.exit_code == 1 and "no skewless.yaml" in result.output
