"""The feature server over a repo with materialized data (Starlette's TestClient, lifespan running)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serving.repo import make_store
from starlette.testclient import TestClient

from skewless import FeatureStore
from skewless.serving import create_app


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    """One store for the read-only tests of a module (materializing costs a second)."""
    store = make_store(tmp_path_factory.mktemp("repo"))
    yield store
    store.close()


@pytest.fixture(scope="module")
def client(store: FeatureStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[FeatureStore, TestClient]]]:
    """``serve(serving={...}, online_store={...})``: a fresh store and a running app over it."""
    opened: list[tuple[FeatureStore, TestClient]] = []

    def open_(**config: Any) -> tuple[FeatureStore, TestClient]:
        repo = tmp_path / f"repo{len(opened)}"
        repo.mkdir()
        store = make_store(repo, **config)
        client = TestClient(create_app(store))
        client.__enter__()
        opened.append((store, client))
        return store, client

    yield open_
    for store, client in reversed(opened):
        client.__exit__(None, None, None)
        store.close()
