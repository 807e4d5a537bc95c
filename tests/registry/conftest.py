"""Registry backends under test: every contract test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from skewless.registry.sql import SqlRegistryStore, sqlalchemy_url

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlalchemy_url(str(tmp_path / "registry.db"))
    return str(request.getfixturevalue("postgres_server").url)


@pytest.fixture
def project() -> str:
    # One PostgreSQL database serves the session; a fresh project name isolates each test.
    return f"p_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(registry_url: str) -> Iterator[SqlRegistryStore]:
    s = SqlRegistryStore(registry_url)
    yield s
    s.close()
