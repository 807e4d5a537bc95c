"""``skewless serve``: the HTTP feature server, in uvicorn worker processes.

uvicorn (with uvloop and httptools) was chosen over granian by measurement: on a 2-core machine, 2 workers,
a slate of 1 user x 50 articles, it answered 1.84k-1.93k requests/s (p99 3.4-3.9 ms) against granian's
1.34k-1.54k (p99 5.5-7.2 ms); granian's runtime threads compete with the Python work for the cores.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated

import typer

from skewless.cli.common import console, open_store, repo_path

APP_FACTORY = "skewless.serving.app:app_from_env"


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: serving.host, else 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: serving.port, else 6566).", min=1, max=65535)] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: serving.workers, else 1).", min=1)] = None,
) -> None:
    """Serve online features over HTTP, as Feast's feature server does.

    [cyan]POST /get-online-features[/cyan] takes Feast's request body and answers in Feast's shape.
    [cyan]?format=msgpack[/cyan] answers in msgpack, with embeddings as raw float32 bytes.
    Also served: [cyan]/health[/cyan], [cyan]/ready[/cyan], [cyan]/metrics[/cyan] (Prometheus) and [cyan]/openapi.json[/cyan].

    Definitions applied while it runs are served without a restart.
    Store timeout, cache and row limit: [cyan]serving:[/cyan] in skewless.yaml.

    Example: [cyan]skewless serve --port 6566 --workers 2[/cyan]
    """
    repo = repo_path(ctx).resolve()
    with open_store(ctx) as store:  # fail here, with a clean message, rather than in every worker
        settings = store.config.serving
        revision = store.registry.snapshot().revision
        project = store.project
    host, port, workers = host or settings.host, port or settings.port, workers or settings.workers
    os.environ["SKEWLESS_REPO"] = str(repo)
    metrics_dir = None
    if workers > 1:  # every worker writes its metrics here; /metrics sums them
        metrics_dir = tempfile.mkdtemp(prefix="skewless-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    console().print(
        f"Serving project [bold]{project}[/bold] (registry revision {revision}) on [cyan]http://{host}:{port}[/cyan] "
        f"with {workers} worker{'s' if workers > 1 else ''}; try [cyan]http://{host}:{port}/openapi.json[/cyan]"
    )
    import uvicorn

    try:
        # No access log and no X-Forwarded-* rewriting: nothing here reads the client's address, and
        # uvicorn's proxy-header middleware alone cost ~1.5% of a worker's CPU per slate (py-spy).
        uvicorn.run(APP_FACTORY, host=host, port=port, workers=workers, factory=True, access_log=False, proxy_headers=False)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
