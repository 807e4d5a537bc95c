"""``skewless demo``: the news feed end to end, on embedded defaults (no server), then an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skewless.cli.common import console


def demo(
    scale: Annotated[float, typer.Option(help="Size of the simulated platform (1 = 10k readers, 200 articles a day).", min=0.01)] = 1.0,
    days: Annotated[int, typer.Option(help="Days of history to simulate.", min=4)] = 14,
    seed: Annotated[int, typer.Option(help="Seed of the simulation: same seed, same platform.")] = 20260302,
    workdir: Annotated[Path, typer.Option(help="Where the demo's feature repo is created (replaced if present).")] = Path(".skewless-demo"),
    reports: Annotated[Path, typer.Option(help="Where the HTML report is written.")] = Path("reports"),
) -> None:
    """Run the personalized news feed end to end and write a report.

    Generates readers, articles and a year-shaped traffic history ending now; ingests articles with a real
    sentence-embedding model; runs the profile jobs; builds tiles and online rows; trains a ranking model on
    point-in-time features (against a popularity baseline and a leaky join); streams live events while
    [cyan]/rank[/cyan] serves; checks skew; load-tests reads; then prints the report's path.
    Needs the demo extra ([cyan]pip install -e .[demo][/cyan]; [cyan]make demo[/cyan] installs it).

    Example: [cyan]skewless demo --scale 0.3[/cyan]
    """
    from skewless.demo.run import run_demo

    run_demo(workdir, reports=reports, scale=scale, seed=seed, days=days, console=console())
