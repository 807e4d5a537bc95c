"""``skewless run JOB``: the news feed's batch jobs (user embeddings and topics of interest)."""

from __future__ import annotations

from typing import Annotated

import typer

from skewless.cli.common import console, open_store
from skewless.cli.online import moment


def run(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="user_profiles_daily (all readers) or user_profiles_intraday (readers with new clicks).")],
    until: Annotated[str, typer.Option(help="Cutoff, ISO 8601 or 'now': clicks strictly before it count.")] = "now",
) -> None:
    """Run a batch job of the news-feed repo: user embeddings (time-decayed mean of the articles read) and
    topics of interest, written to the user_profiles source.

    The intra-day job only recomputes readers with clicks since the last run (kept in the registry).
    Then [cyan]skewless materialize-incremental[/cyan] serves the new profiles.

    Example: [cyan]skewless run user_profiles_intraday[/cyan]
    """
    from skewless.demo.jobs import run_job

    with open_store(ctx) as store:
        result = run_job(store, job, until=moment(until, "--until"))
    console().print(f"{result.job}: {result.users:,} profiles from {result.clicks:,} clicks in {result.seconds:.1f} s")
