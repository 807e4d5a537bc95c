"""Help texts teach, and only Skewless errors are turned into clean messages."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from skewless.cli.app import SkewlessGroup, app
from skewless.errors import DefinitionError

runner = CliRunner()
COMMANDS = ["init", "plan", "apply", "delete", "ls", "describe", "history"]


def test_app_help_describes_skewless_and_the_workflow() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "feature store" in result.output and "--repo" in result.output and "SKEWLESS_REPO" in result.output
    workflow = "skewless init news && cd news && skewless plan && skewless apply && skewless ls && skewless describe ranker"
    assert workflow in result.output
    for command in COMMANDS:
        assert command in result.output


def test_no_arguments_show_the_help() -> None:
    result = runner.invoke(app, [])
    assert "Usage" in result.output and "Typical workflow" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and f"skewless {command}" in result.output


def _app_raising(exc: Exception) -> typer.Typer:
    test_app = typer.Typer(cls=SkewlessGroup)

    @test_app.command()
    def boom() -> None:
        raise exc

    @test_app.command()
    def other() -> None:  # a second command keeps typer from collapsing the group
        pass

    return test_app


def test_skewless_errors_become_a_message_and_a_hint() -> None:
    result = runner.invoke(_app_raising(DefinitionError("bad [thing]", hint="do ['this']")), ["boom"])
    assert result.exit_code == 1
    assert "error: bad [thing]" in result.output and "hint: do ['this']" in result.output  # brackets are not markup


def test_unexpected_exceptions_keep_their_traceback() -> None:
    result = runner.invoke(_app_raising(ValueError("a bug")), ["boom"])
    assert isinstance(result.exception, ValueError)
    assert result.exit_code == 1
