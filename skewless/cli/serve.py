"""``skewless serve``: the HTTP feature server, in worker processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated, Literal

import typer

from skewless.cli.common import console, open_store, repo_path

APP_FACTORY = "skewless.serving.app:app_from_env"
Server = Literal["granian", "uvicorn"]


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: serving.host, else 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: serving.port, else 6566).", min=1, max=65535)] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: serving.workers, else 1).", min=1)] = None,
    server: Annotated[str, typer.Option(help="The ASGI server: granian (faster, measured) or uvicorn.")] = "granian",
) -> None:
    """Serve online features over HTTP, as Feast's feature server does.

    [cyan]POST /get-online-features[/cyan] takes Feast's request body and answers in Feast's shape.
    [cyan]?format=msgpack[/cyan] answers in msgpack, with embeddings as raw float32 bytes.
    Also served: [cyan]/health[/cyan], [cyan]/ready[/cyan], [cyan]/metrics[/cyan] (Prometheus) and [cyan]/openapi.json[/cyan].

    Definitions applied while it runs are served without a restart.
    Store timeout, cache and row limit: [cyan]serving:[/cyan] in skewless.yaml.

    Example: [cyan]skewless serve --port 6566 --workers 2[/cyan]
    """
    if server not in ("granian", "uvicorn"):
        raise typer.BadParameter(f"{server!r} is not granian or uvicorn", param_hint="--server")
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
        f"with {workers} worker{'s' if workers > 1 else ''} ({server}); try [cyan]http://{host}:{port}/openapi.json[/cyan]"
    )
    try:
        _run(server, host, port, workers)  # type: ignore[arg-type]
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(server: Server, host: str, port: int, workers: int) -> None:
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        Granian(APP_FACTORY, address=host, port=port, interface=Interfaces.ASGI, workers=workers, factory=True).serve()
    else:
        import uvicorn

        uvicorn.run(APP_FACTORY, host=host, port=port, workers=workers, factory=True, access_log=False)
