"""``skewless plan``, ``apply`` and ``delete``: change the registry, previewed like terraform."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from skewless.cli.common import console, hint, open_store
from skewless.errors import IncompatibleChangeError, RegistryError
from skewless.registry.plan import Plan

_MARK_STYLES = {"+ ": "green", "~ ": "yellow", "- ": "red", "= ": "dim"}


def plan_text(plan: Plan) -> Text:
    """``plan.render()`` colorized: + green, ~ yellow, - red, = dim, problems red, warnings yellow."""
    text = Text()
    for line in plan.render().splitlines():
        detail = line.lstrip()
        style = _MARK_STYLES.get(line[:2], "")
        if detail.startswith("! incompatible"):
            style = "bold red"
        elif detail.startswith("⚠"):
            style = "yellow"
        elif line.startswith(("Plan:", "No changes")):
            style = "bold"
        elif line != detail:  # a detail line of an updated object
            style = "green" if ": + " in detail else "red" if ": - " in detail else ""
        text.append(line + "\n", style=style)
    text.rstrip()
    return text


def _print_plan(out: Console, plan: Plan) -> None:
    out.print(plan_text(plan), soft_wrap=True)
    try:
        plan.check_compatible()
    except IncompatibleChangeError as exc:
        out.print()
        refusal = "apply will refuse this plan: the changes marked ! alter existing values."
        out.print(Text(refusal, style="bold red"), soft_wrap=True)
        if exc.hint:
            out.print(hint(exc.hint), soft_wrap=True)


def plan(
    ctx: typer.Context,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes, 0 when there are none (as terraform).")
    ] = False,
) -> None:
    """Show what [cyan]apply[/cyan] would change, without changing anything.

    [green]+[/green] add, [yellow]~[/yellow] change, [red]-[/red] delete, [dim]=[/dim] an older version kept.
    Changes that need a new version of a view are marked [red]! incompatible[/red].

    [bold]Example:[/bold]

      skewless plan
      skewless --repo news plan --detailed-exitcode   # in CI: 2 means "apply needed"
    """
    with open_store(ctx) as store:
        current = store.plan()
        _print_plan(console(), current)
    if detailed_exitcode and current.has_changes:
        raise typer.Exit(2)


def apply(ctx: typer.Context) -> None:
    """Register the repo's definitions: print the plan, then commit it as a new revision.

    Objects the repo no longer declares are deleted, except older versions of views it still
    defines. An incompatible change is refused (exit code 1), with how to version it.

    [bold]Example:[/bold]

      skewless apply
    """
    out = console()
    with open_store(ctx) as store:
        preview = store.plan()
        out.print(plan_text(preview), soft_wrap=True)
        preview.check_compatible()
        if not preview.has_changes:
            return
        result = store.apply()
    if not result.plan.has_changes:
        out.print(f"Nothing to apply: revision {result.revision} is up to date.")
        return
    retried = f" (after {result.attempts} attempts: other applies committed first)" if result.attempts > 1 else ""
    out.print(Text.assemble(("Applied revision ", "bold green"), (str(result.revision), "bold green"), retried))


def delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME@vN", help="The view version to remove, e.g. user_engagement@v1.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove one version of a feature view or on-demand view from the registry, on purpose.

    An older version stays registered (readable as [cyan]view@v1:feature[/cyan]) after a new one is
    applied; delete it once no model reads it any more. Nothing else in the registry changes.
    Refused while an on-demand view or a service still uses that version.

    [bold]Example:[/bold]

      skewless delete user_engagement@v1
      skewless delete user_engagement@v1 --yes
    """
    out = console()
    with open_store(ctx) as store:
        key = store.object_key(ref)
        catalog = store.registry.snapshot().catalog
        users = catalog.dependents(catalog.view(key.name, key.version))
        if users:
            raise RegistryError(
                f"cannot delete {key}: {', '.join(u.label for u in users)} still read{'s' if len(users) == 1 else ''} it",
                hint=f"point {'it' if len(users) == 1 else 'them'} at another version of {key.name!r} and "
                "`skewless apply` first, then delete",
            )
        preview = store.registry.plan([], mode="upsert", delete=[key])
        out.print(plan_text(preview), soft_wrap=True)
        versions = catalog.versions(key.name)
        if key.version == versions[-1]:
            out.print(
                Text(
                    f"⚠ v{key.version} is the latest version of {key.name!r}: `skewless apply` registers it again "
                    "while the repo still defines it.",
                    style="yellow",
                ),
                soft_wrap=True,
            )
        if not yes:
            typer.confirm(f"Delete {key}?", abort=True)
        result = store.registry.apply([], mode="upsert", delete=[key])
    out.print(Text.assemble((f"Deleted {key}", "bold green"), f": registry at revision {result.revision}"))
