"""The RegistryStore contract, run against every backend (see conftest.BACKENDS)."""

from __future__ import annotations

import pytest

from factories import news_definitions, user_profile
from skewless.definitions.catalog import ObjectKey
from skewless.errors import RevisionConflictError
from skewless.registry.protocol import ObjectChange
from skewless.registry.registry import Registry
from skewless.registry.sql import SqlRegistryStore

VIEW = ObjectKey("feature_view", "v", 1)
ENTITY = ObjectKey("entity", "user", 1)


def test_a_new_project_is_empty(store: SqlRegistryStore, project: str) -> None:
    assert store.revision(project) == 0
    loaded = store.load(project)
    assert loaded.revision == 0 and loaded.objects == ()
    assert store.history(project) == []


def test_commit_then_load_round_trips(store: SqlRegistryStore, project: str) -> None:
    spec = {"name": "v", "nested": {"list": [1, 2.5, None, "x"]}, "unicode": "Zürich ✓"}
    assert store.commit(project, 0, [ObjectChange(VIEW, spec), ObjectChange(ENTITY, {"name": "user"})], summary="first") == 1
    loaded = store.load(project)
    assert loaded.revision == 1 and store.revision(project) == 1
    by_key = {o.key: o for o in loaded.objects}
    assert by_key[VIEW].spec == spec
    assert by_key[VIEW].created_revision == by_key[VIEW].updated_revision == 1
    assert by_key[VIEW].created_at.tzinfo is not None


def test_update_keeps_creation_and_delete_removes(store: SqlRegistryStore, project: str) -> None:
    store.commit(project, 0, [ObjectChange(VIEW, {"n": 1}), ObjectChange(ENTITY, {"name": "user"})], summary="a")
    created = {o.key: o for o in store.load(project).objects}[VIEW]
    store.commit(project, 1, [ObjectChange(VIEW, {"n": 2}), ObjectChange(ENTITY, None)], summary="b")
    loaded = store.load(project)
    (view,) = loaded.objects
    assert view.spec == {"n": 2} and view.created_revision == 1 and view.updated_revision == 2
    assert view.created_at == created.created_at and view.updated_at >= created.updated_at


def test_a_stale_commit_is_refused_and_writes_nothing(store: SqlRegistryStore, project: str) -> None:
    store.commit(project, 0, [ObjectChange(VIEW, {"n": 1})], summary="a")
    store.commit(project, 1, [ObjectChange(VIEW, {"n": 2})], summary="b")
    with pytest.raises(RevisionConflictError):
        store.commit(project, 1, [ObjectChange(VIEW, {"n": 3}), ObjectChange(ENTITY, {"x": 1})], summary="stale")
    loaded = store.load(project)
    assert loaded.revision == 2 and [o.spec for o in loaded.objects] == [{"n": 2}]


def test_two_first_commits_cannot_both_win(store: SqlRegistryStore, project: str) -> None:
    store.commit(project, 0, [ObjectChange(VIEW, {"n": 1})], summary="a")
    with pytest.raises(RevisionConflictError):
        store.commit(project, 0, [ObjectChange(ENTITY, {"n": 1})], summary="b")
    assert [o.key for o in store.load(project).objects] == [VIEW]


def test_projects_are_isolated(store: SqlRegistryStore, project: str) -> None:
    store.commit(project, 0, [ObjectChange(VIEW, {"n": 1})], summary="a")
    assert store.revision(project + "_other") == 0 and store.load(project + "_other").objects == ()


def test_history_lists_commits_newest_first(store: SqlRegistryStore, project: str) -> None:
    for revision in range(3):
        store.commit(project, revision, [ObjectChange(VIEW, {"n": revision})], summary=f"commit {revision}")
    history = store.history(project, limit=2)
    assert [(h.revision, h.summary) for h in history] == [(3, "commit 2"), (2, "commit 1")]


def test_a_second_store_on_the_same_database_sees_commits(store: SqlRegistryStore, registry_url: str, project: str) -> None:
    other = SqlRegistryStore(registry_url)  # e.g. another process's connection
    try:
        store.commit(project, 0, [ObjectChange(VIEW, {"n": 1})], summary="a")
        assert other.revision(project) == 1 and other.load(project).objects[0].spec == {"n": 1}
    finally:
        other.close()


def test_registry_apply_round_trips_definitions(store: SqlRegistryStore, project: str) -> None:
    registry = Registry(store, project)
    definitions = news_definitions()
    result = registry.apply(definitions)
    assert result.revision == 1 and result.attempts == 1
    snapshot = registry.snapshot()
    assert snapshot.revision == 1
    again = registry.plan(definitions)
    assert not again.has_changes, again.render()
    assert snapshot.catalog.view("user_profile") == user_profile()
    # A second apply of the same definitions commits nothing.
    assert registry.apply(definitions).revision == 1


def test_registry_snapshot_is_reused_until_the_revision_moves(store: SqlRegistryStore, project: str) -> None:
    registry = Registry(store, project)
    registry.apply(news_definitions())
    first = registry.snapshot()
    assert registry.snapshot() is first
    Registry(store, project).apply([user_profile(ttl="1d")], mode="upsert")
    assert registry.snapshot().revision == 2


def test_records_are_kept_beside_the_definitions(store: SqlRegistryStore, project: str) -> None:
    assert store.get_record(project, "training_set", "clicks") is None
    first = store.put_record(project, "training_set", "clicks", {"rows": 10, "versions": {"events": 3}})
    assert first.payload == {"rows": 10, "versions": {"events": 3}}
    second = store.put_record(project, "training_set", "clicks", {"rows": 11})
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    store.put_record(project, "training_set", "a_set", {"rows": 1})
    store.put_record(project, "watermark", "clicks", {"until": 5})
    assert [r.name for r in store.list_records(project, "training_set")] == ["a_set", "clicks"]
    assert store.get_record(project, "training_set", "clicks").payload == {"rows": 11}  # type: ignore[union-attr]
    assert store.revision(project) == 0  # records are not definitions: the revision stays
