"""The ``skewless`` typer app: the global ``--repo`` option, the commands, and error output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from skewless.cli import apply, demo, init, inspect, jobs, offline, online, serve, streaming
from skewless.cli.common import CliState, print_error
from skewless.errors import SkewlessError

DESCRIPTION = """\
[bold]Skewless[/bold] is a feature store for real-time personalization with zero training/serving \
skew by construction. You declare entities, sources, feature views (snapshots and windowed \
aggregations), on-demand features and feature services as Python code in a feature repo; \
[cyan]plan[/cyan] and [cyan]apply[/cyan] register them, versioned, in a registry, and the same \
definitions then build training sets and serve features online, so the two cannot drift apart. \
A change that would alter the values a trained model depends on is refused until you give the \
view a new version."""

EPILOG = """\
[bold]Typical workflow[/bold]

  [cyan]skewless init news && cd news && skewless plan && skewless apply && skewless ls && skewless describe ranker[/cyan]

  init: scaffold a feature repo · plan: preview the changes · apply: register them
  ls: list what is registered · describe: one object, its versions and lineage

Every command takes [cyan]--repo PATH[/cyan] (or $SKEWLESS_REPO) before its name, \
e.g. [cyan]skewless --repo news plan[/cyan]; [cyan]skewless COMMAND --help[/cyan] shows examples."""


class SkewlessGroup(TyperGroup):
    """The one place a :class:`SkewlessError` becomes a clean message and exit code 1.

    Anything else propagates, so a bug still shows its traceback.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SkewlessError as exc:
            print_error(exc)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="skewless",
    cls=SkewlessGroup,
    help=DESCRIPTION,
    epilog=EPILOG,
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    repo: Annotated[
        Path,
        typer.Option(
            "--repo",
            "-r",
            envvar="SKEWLESS_REPO",
            help="The feature repo folder (the one holding skewless.yaml).",
            show_default=True,
        ),
    ] = Path("."),
) -> None:
    ctx.obj = CliState(repo=repo)


_START, _CHANGE, _INSPECT, _DATA = "Start", "Change the registry", "Inspect the registry", "Data"
_SERVE = "Serve"
app.command("init", rich_help_panel=_START)(init.init)
app.command("demo", rich_help_panel=_START)(demo.demo)
app.command("plan", rich_help_panel=_CHANGE)(apply.plan)
app.command("apply", rich_help_panel=_CHANGE)(apply.apply)
app.command("delete", rich_help_panel=_CHANGE)(apply.delete)
app.command("ls", rich_help_panel=_INSPECT)(inspect.ls)
app.command("describe", rich_help_panel=_INSPECT)(inspect.describe)
app.command("history", rich_help_panel=_INSPECT)(inspect.history)
app.command("ingest", rich_help_panel=_DATA)(offline.ingest)
app.add_typer(offline.training_set_app, name="training-set", rich_help_panel=_DATA)
app.command("materialize", rich_help_panel=_DATA)(online.materialize)
app.command("materialize-incremental", rich_help_panel=_DATA)(online.materialize_incremental)
app.command("stream", rich_help_panel=_DATA)(streaming.stream)
app.command("run", rich_help_panel=_DATA)(jobs.run)
app.command("backfill", rich_help_panel=_DATA)(streaming.backfill)
app.command("status", rich_help_panel=_INSPECT)(streaming.status)
app.command("skew-check", rich_help_panel=_INSPECT)(streaming.skew_check)
app.command("serve", rich_help_panel=_SERVE)(serve.serve)


def main() -> None:
    """Entry point of the ``skewless`` console script."""
    app()
