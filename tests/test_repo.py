from pathlib import Path

import pytest

from skewless.errors import RepoLoadError
from skewless.repo import load_definitions, repo_python_files

FEATURES = """
from skewless import Entity, Int64
user = Entity(name="user", join_keys=["user_id"], dtype=Int64)
"""


def test_loads_definitions_from_every_module_and_skips_tests_and_data(tmp_path: Path) -> None:
    (tmp_path / "entities.py").write_text(FEATURES)
    (tmp_path / "views.py").write_text("from entities import user\nalias = user\n")
    for skipped in ("data/x.py", "tests/test_x.py", ".hidden/x.py", "test_y.py"):
        (tmp_path / skipped).parent.mkdir(exist_ok=True)
        (tmp_path / skipped).write_text("raise SystemExit('must not be imported')\n")
    assert [p.name for p in repo_python_files(tmp_path)] == ["entities.py", "views.py"]
    (user,) = load_definitions(tmp_path)
    assert user.name == "user"


def test_edits_are_seen_on_reload(tmp_path: Path) -> None:
    (tmp_path / "entities.py").write_text(FEATURES)
    assert load_definitions(tmp_path)[0].description == ""
    (tmp_path / "entities.py").write_text(FEATURES.replace("dtype=Int64)", 'dtype=Int64, description="readers")'))
    assert load_definitions(tmp_path)[0].description == "readers"


def test_an_import_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("x = 1\nraise ValueError('bad repo')\n")
    with pytest.raises(RepoLoadError) as err:
        load_definitions(tmp_path)
    assert "broken.py failed to import: ValueError: bad repo" in str(err.value)
    assert "broken.py:2" in str(err.value)
