"""The CLI end to end on a scaffolded repo: init, plan, apply, versioning, delete, ls, describe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from skewless.cli.app import app

runner = CliRunner()


def run(repo: Path | None, *args: str, input: str | None = None) -> Result:
    """``skewless [--repo REPO] ARGS``, on a terminal wide enough that tables do not truncate."""
    prefix = ["--repo", str(repo)] if repo is not None else []
    return runner.invoke(app, [*prefix, *args], input=input, env={"COLUMNS": "200"})


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result) -> str:
    """A clean refusal: exit code 1, an ``error:`` line, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "error:" in result.output
    assert "Traceback" not in result.output
    return result.output


def edit(repo: Path, old: str, new: str) -> None:
    path = repo / "features.py"
    text = path.read_text()
    assert old in text, f"the template no longer contains {old!r}"
    path.write_text(text.replace(old, new, 1))
    # A same-size edit within the second of the last import could otherwise load stale bytecode.
    shutil.rmtree(repo / "__pycache__", ignore_errors=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    ok(run(None, "init", "news", "--dir", str(tmp_path)))
    return tmp_path / "news"


@pytest.fixture
def applied(repo: Path) -> Path:
    assert "Applied revision 1" in ok(run(repo, "apply"))
    return repo


# -- init -------------------------------------------------------------------------------------


def test_init_scaffolds_a_feature_repo(tmp_path: Path) -> None:
    output = ok(run(None, "init", "news", "--dir", str(tmp_path)))
    repo = tmp_path / "news"
    assert sorted(p.name for p in repo.iterdir()) == [".gitignore", "README.md", "features.py", "skewless.yaml"]
    assert yaml.safe_load((repo / "skewless.yaml").read_text()) == {"project": "news"}
    config = (repo / "skewless.yaml").read_text()
    assert "# registry:" in config and "postgresql://" in config and "type: redis" in config and "engine:" in config
    assert "data/" in (repo / ".gitignore").read_text().splitlines()
    assert "skewless plan" in (repo / "README.md").read_text() and "# news" in (repo / "README.md").read_text()
    assert "skewless plan" in output and "features.py" in output


def test_init_refuses_a_non_empty_folder_and_a_bad_name(tmp_path: Path) -> None:
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "notes.txt").write_text("mine")
    assert "not empty" in refused(run(None, "init", "news", "--dir", str(tmp_path)))
    assert (tmp_path / "news" / "notes.txt").read_text() == "mine"
    output = refused(run(None, "init", "news-feed", "--dir", str(tmp_path)))
    assert "not an identifier" in output and "news_feed" in output
    assert "unknown template" in refused(run(None, "init", "other", "--template", "fancy", "--dir", str(tmp_path)))
    ok(run(None, "init", "empty_ok", "--dir", str(tmp_path)))  # an existing empty folder is fine
    assert "inside the feature repo" in refused(run(None, "init", "nested", "--dir", str(tmp_path / "empty_ok")))
    (tmp_path / "again").mkdir()
    ok(run(None, "init", "again", "--dir", str(tmp_path)))


# -- plan and apply ---------------------------------------------------------------------------


def test_plan_apply_then_no_changes(repo: Path) -> None:
    output = ok(run(repo, "plan"))
    for line in (
        "+ entity user",
        "+ source engagement_events",
        "+ feature view user_engagement@v1",
        "+ on demand feature view engagement_trend@v1",
        "+ feature service ranker",
        "Plan: 8 to add",
    ):
        assert line in output
    assert run(repo, "plan", "--detailed-exitcode").exit_code == 2
    output = ok(run(repo, "apply"))
    assert "+ feature view user_profile@v1" in output and "Applied revision 1" in output
    assert "No changes" in ok(run(repo, "plan"))
    assert run(repo, "plan", "--detailed-exitcode").exit_code == 0
    assert "Applied revision" not in ok(run(repo, "apply"))


def test_adding_a_feature_is_a_compatible_change(applied: Path) -> None:
    language = 'Field(name="language", dtype=String)'
    edit(applied, 'Field(name="age", dtype=Int64),\n', f'Field(name="age", dtype=Int64),\n        {language},\n')  # the source
    edit(applied, 'Field(name="age", dtype=Int64)]', f'Field(name="age", dtype=Int64), {language}]')  # the view
    output = ok(run(applied, "plan"))
    assert "~ feature view user_profile@v1" in output and "schema: + language (String)" in output
    assert "! incompatible" not in output
    assert "Applied revision 2" in ok(run(applied, "apply"))
    assert "language" in ok(run(applied, "describe", "user_profile"))


def test_a_type_change_needs_a_new_version_then_both_versions_are_listed(applied: Path) -> None:
    edit(applied, 'Field(name="ctr_trend", dtype=Float64)', 'Field(name="ctr_trend", dtype=Float32)')
    edit(applied, "    Float64,\n", "    Float32,\n    Float64,\n")
    output = ok(run(applied, "plan"))
    assert "! incompatible: changes the type of feature 'ctr_trend' from Float64 to Float32" in output
    assert "apply will refuse this plan" in output and "version=2" in output

    output = refused(run(applied, "apply"))
    assert "engagement_trend" in output and "version=2" in output
    assert "revision 2" not in ok(run(applied, "history"))  # nothing was written

    schema = 'Field(name="is_mobile", dtype=Bool)],\n'
    edit(applied, schema, schema + "    version=2,\n")
    output = ok(run(applied, "apply"))
    assert "= on demand feature view engagement_trend@v1" in output and "+ on demand feature view engagement_trend@v2" in output
    assert "Applied revision 2" in output

    assert "v1, v2" in ok(run(applied, "ls", "on-demand"))
    output = ok(run(applied, "describe", "engagement_trend"))
    assert "engagement_trend@v2" in output and "versions: v1, v2" in output and "Float32" in output
    output = ok(run(applied, "describe", "engagement_trend@v1"))
    assert "versions: v1, v2 (latest: v2)" in output and "Float64" in output
    assert "nothing yet" in output  # the service moved to v2: nothing reads v1 any more
    assert "engagement_trend@v2" in ok(run(applied, "describe", "ranker"))

    # delete asks first; answering no keeps the version
    output = run(applied, "delete", "engagement_trend@v1", input="n\n").output
    assert "- on demand feature view engagement_trend@v1" in output and "Aborted" in output
    assert "v1, v2" in ok(run(applied, "ls", "on-demand"))

    output = ok(run(applied, "delete", "engagement_trend@v1", "--yes"))
    assert "Deleted on demand feature view engagement_trend@v1" in output
    listing = ok(run(applied, "ls", "on-demand"))
    assert "v2" in listing and "v1" not in listing
    assert "versions: v2" in ok(run(applied, "describe", "engagement_trend"))
    assert "No changes" in ok(run(applied, "plan"))  # only the deletion happened, the repo still matches
    assert "-on demand feature view engagement_trend@v1" in ok(run(applied, "history"))


def test_delete_refuses_a_version_still_in_use(applied: Path) -> None:
    output = refused(run(applied, "delete", "user_engagement@v1", "--yes"))
    assert "feature service 'ranker'" in output and "engagement_trend" in output
    assert "not name a version" in refused(run(applied, "delete", "user_engagement", "--yes"))
    assert "no version 7" in refused(run(applied, "delete", "user_engagement@v7", "--yes"))
    assert "v1" in ok(run(applied, "ls", "feature-views"))


# -- inspecting ---------------------------------------------------------------------------------


def test_ls_lists_every_kind_and_filters(applied: Path) -> None:
    output = ok(run(applied, "ls"))
    for text in (
        "entity",
        "source (stream)",
        "source (batch)",
        "source (request)",
        "feature view",
        "on-demand view",
        "feature service",
        "user_engagement",
        "ranking@example.com",
        "news · revision 1",
    ):
        assert text in output
    output = ok(run(applied, "ls", "services"))
    assert "ranker" in output and "user_engagement" not in output
    output = ok(run(applied, "ls", "entities"))
    assert "user" in output and "ranker" not in output
    assert run(applied, "ls", "bogus").exit_code == 2  # a usage error, listing the kinds


def test_ls_and_history_before_the_first_apply(repo: Path) -> None:
    assert "Nothing registered" in ok(run(repo, "ls"))
    assert "No commits yet" in ok(run(repo, "history"))


def test_describe_a_service_shows_its_lineage(applied: Path) -> None:
    output = ok(run(applied, "describe", "ranker"))
    for text in (
        "feature service ranker",
        "feature view user_profile@v1",
        "feature view user_engagement@v1",
        "on-demand view engagement_trend@v1",
        "ctr_1h (Float64)",
        "country (String)",
        "source user_profiles (batch)",
        "source engagement_events (stream)",
        "entity user (join key user_id: Int64)",
        "request source request_context",
    ):
        assert text in output


def test_describe_a_feature_view_shows_spec_and_lineage_both_ways(applied: Path) -> None:
    output = ok(run(applied, "describe", "user_engagement"))
    for text in (
        "feature view user_engagement@v1",
        "versions: v1",
        "user (join key user_id: Int64)",
        "engagement_events (stream",
        "count(clicked)",
        "clicks_24h / impressions_24h",
        "24h",
        "5m",
        "reads",
        "used by",
        "on-demand view engagement_trend@v1",
        "feature service ranker",
    ):
        assert text in output
    output = ok(run(applied, "describe", "user_profile"))
    assert "ttl: 30d" in output and "age" in output and "Int64" in output


def test_describe_an_entity_and_a_source_shows_what_uses_them(applied: Path) -> None:
    output = ok(run(applied, "describe", "user"))
    assert "join keys: user_id" in output
    assert "feature view user_engagement@v1" in output and "feature view user_profile@v1" in output
    output = ok(run(applied, "describe", "engagement_events"))
    assert "event id: event_id" in output and "dwell_seconds" in output and "feature view user_engagement@v1" in output
    assert "on-demand view engagement_trend@v1" in ok(run(applied, "describe", "request_context"))


def test_unknown_names_give_a_clean_error(applied: Path, tmp_path: Path) -> None:
    output = refused(run(applied, "describe", "rankr"))
    assert "nothing named 'rankr'" in output and "did you mean 'ranker'" in output
    assert "has no version 3" in refused(run(applied, "describe", "user_engagement@v3"))
    output = refused(run(tmp_path / "nowhere", "plan"))
    assert "no skewless.yaml" in output and "skewless init" in output


def test_repo_from_the_environment(applied: Path) -> None:
    result = runner.invoke(app, ["ls"], env={"SKEWLESS_REPO": str(applied), "COLUMNS": "200"})
    assert "user_engagement" in ok(result)


def test_a_broken_features_file_is_a_clean_error(repo: Path) -> None:
    edit(repo, "import numpy as np\n", "import numpy as np\n\nundefined_name\n")
    output = refused(run(repo, "plan"))
    assert "features.py failed to import" in output and "NameError" in output
