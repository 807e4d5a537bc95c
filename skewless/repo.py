"""Loading a feature repo: its ``skewless.yaml`` and the definitions in its Python files."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from skewless.definitions.base import Definition
from skewless.errors import RepoLoadError

_SKIPPED_DIRS = {"data", "tests", "venv", "node_modules", "reports"}
_SKIPPED_FILES = {"setup.py", "conftest.py"}


def repo_python_files(repo: Path) -> list[Path]:
    """The files whose definitions make up the repo (tests, data and hidden folders excluded)."""
    files = []
    for path in sorted(repo.rglob("*.py")):
        parts = path.relative_to(repo).parts
        if any(p.startswith((".", "_")) or p in _SKIPPED_DIRS for p in parts[:-1]):
            continue
        if path.name in _SKIPPED_FILES or path.name.startswith("test_"):
            continue
        files.append(path)
    return files


def load_definitions(repo: str | Path) -> list[Definition]:
    """Import the repo's Python files and return every definition they declare at module level."""
    repo = Path(repo).resolve()
    files = repo_python_files(repo)
    names = [".".join(path.relative_to(repo).with_suffix("").parts) for path in files]
    _forget_modules(repo, names)
    importlib.invalidate_caches()
    sys.path.insert(0, str(repo))
    # Bytecode caches are keyed on mtime and size, so an edit within the same second that keeps
    # the size would load stale code: read no cache and write none while loading the repo.
    saved = sys.dont_write_bytecode, sys.pycache_prefix
    sys.dont_write_bytecode, sys.pycache_prefix = True, str(repo / ".skewless-no-pycache")
    found: dict[int, Definition] = {}
    try:
        for path, module_name in zip(files, names, strict=True):
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                raise RepoLoadError(
                    f"{path.relative_to(repo)} failed to import: {type(exc).__name__}: {exc}",
                    hint=f"see {frame.filename}:{frame.lineno}",
                ) from exc
            for value in vars(module).values():
                if isinstance(value, Definition):
                    found.setdefault(id(value), value)
    finally:
        sys.path.remove(str(repo))
        sys.dont_write_bytecode, sys.pycache_prefix = saved
    return list(found.values())


def _forget_modules(repo: Path, names: list[str]) -> None:
    # A re-load in the same process (tests, a watching server) must see edited files, and a
    # module of the same name from another repo must not stand in for this repo's.
    tops = {name.split(".")[0] for name in names}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name.split(".")[0] in tops or (file and Path(file).resolve().is_relative_to(repo)):
            del sys.modules[name]
