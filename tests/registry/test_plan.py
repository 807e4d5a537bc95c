"""The plan is a pure diff: these tests never touch a database."""

from typing import Any

import pytest

from factories import article_popularity, engagement_source, news_definitions, profile_source, user_entity, user_profile
from skewless import Aggregation, BatchSource, Entity, FeatureService, Field, Float64, Int64, String
from skewless.definitions.catalog import Catalog, ObjectKey
from skewless.errors import DefinitionError, IncompatibleChangeError, NotFoundError
from skewless.registry.plan import Plan, make_plan


def plan(current: list[Any], desired: list[Any], **kwargs: Any) -> Plan:
    return make_plan(Catalog.build(current), desired, base_revision=7, **kwargs)


def actions(p: Plan) -> dict[str, str]:
    return {str(c.key): c.action for c in p.changes if c.action != "unchanged"}


def test_everything_is_added_to_an_empty_registry() -> None:
    p = plan([], news_definitions())
    assert set(actions(p).values()) == {"add"}
    assert len(p.pending) == 9 and p.base_revision == 7
    assert "Plan: 9 to add, 0 to change, 0 to delete." in p.render()


def test_no_changes() -> None:
    p = plan(news_definitions(), news_definitions())
    assert not p.has_changes
    assert "No changes" in p.render()


def test_adding_a_feature_is_compatible_and_readable() -> None:
    wider = user_profile(
        schema=[
            Field(name="country", dtype=String),
            Field(name="age", dtype=Int64),
            Field(name="embedding", dtype=profile_source().columns["embedding"]),
        ]
    )
    p = plan([user_profile()], [wider])
    (change,) = p.pending
    assert change.action == "update" and not change.breaking
    assert "schema: + embedding (Embedding(8))" in change.details
    p.check_compatible()


def test_metadata_and_ttl_changes_are_compatible() -> None:
    p = plan([user_profile()], [user_profile(ttl="7d", description="who reads", tags={"team": "feed"})])
    (change,) = p.pending
    assert not change.breaking
    assert "ttl: '30d' -> '7d'" in change.details


def test_removing_a_feature_needs_a_new_version() -> None:
    p = plan([user_profile()], [user_profile(schema=[Field(name="age", dtype=Int64)])])
    with pytest.raises(IncompatibleChangeError) as err:
        p.check_compatible()
    text = str(err.value)
    assert "feature view user_profile@v1: removes feature 'country'" in text
    assert "FeatureView(name='user_profile', version=2, ...)" in text
    assert "skewless delete user_profile@v1" in text


def test_changing_a_type_needs_a_new_version() -> None:
    source = BatchSource(name="user_profiles", schema=[Field(name="user_id", dtype=Int64), Field(name="age", dtype=Float64)])
    before = user_profile(source=profile_source(), schema=[Field(name="age", dtype=Int64)])
    after = user_profile(source=source, schema=[Field(name="age", dtype=Float64)])
    p = plan([before], [after])
    breaking = {str(c.key): c.breaking for c in p.changes if c.breaking}
    assert "changes the type of feature 'age' from Int64 to Float64" in breaking["feature view user_profile@v1"]
    assert any("column 'age'" in b for b in breaking["source user_profiles"])
    assert any("column 'country'" in b for b in breaking["source user_profiles"])


def test_changing_an_aggregation_window_or_hop_needs_a_new_version() -> None:
    hop_changed = article_popularity(
        aggregations=[
            Aggregation("clicked", "sum", windows=["10m", "1h"], hop="1m"),
            Aggregation("clicked", "count", windows=["10m", "1h"]),
        ]
    )
    (change,) = [c for c in plan([article_popularity()], [hop_changed]).changes if c.breaking]
    assert "changes how 'clicked_sum_10m' is computed (sum(clicked) over 10m by 10s -> sum(clicked) over 10m by 1m)" in change.breaking


def test_adding_an_aggregation_is_compatible() -> None:
    more = article_popularity(
        aggregations=[
            Aggregation("clicked", "sum", windows=["10m", "1h"]),
            Aggregation("clicked", "count", windows=["10m", "1h"]),
            Aggregation("dwell_seconds", "mean", windows=["1h"]),
        ]
    )
    p = plan([article_popularity()], [more])
    assert not any(c.breaking for c in p.changes) and len(p.pending) == 1


def test_a_new_version_is_added_and_the_old_one_kept() -> None:
    v2 = user_profile(version=2, schema=[Field(name="age", dtype=Int64)])
    p = plan([user_profile()], [v2])
    assert actions(p) == {"feature view user_profile@v2": "add", "feature view user_profile@v1": "keep"}
    p.check_compatible()
    assert p.catalog.versions("user_profile") == [1, 2]
    assert "(kept: an older version stays readable)" in p.render()


def test_deleting_an_old_version_on_purpose() -> None:
    v2 = user_profile(version=2, schema=[Field(name="age", dtype=Int64)])
    p = plan([user_profile(), v2], [v2], delete=[ObjectKey("feature_view", "user_profile", 1)])
    assert actions(p) == {"feature view user_profile@v1": "delete"}


def test_deleting_a_version_a_service_pins_is_refused() -> None:
    v2 = user_profile(version=2, schema=[Field(name="age", dtype=Int64)])
    pinned = FeatureService(name="old_model", features=["user_profile@v1:country"])
    with pytest.raises(DefinitionError, match=r"feature service 'old_model'.*has no version 1"):
        plan([user_profile(), v2, pinned], [v2, pinned], delete=[ObjectKey("feature_view", "user_profile", 1)])


def test_deleting_what_is_not_registered() -> None:
    with pytest.raises(NotFoundError, match="not registered"):
        plan([user_profile()], [user_profile()], delete=[ObjectKey("feature_view", "user_profile", 9)])


def test_sync_deletes_what_the_repo_no_longer_declares() -> None:
    p = plan(news_definitions(), [user_profile()])
    deleted = {k for k, a in actions(p).items() if a == "delete"}
    assert "feature view article_popularity@v1" in deleted and "feature service ranker" in deleted
    assert "entity user" not in deleted


def test_upsert_only_adds_and_updates() -> None:
    p = plan(news_definitions(), [user_profile(ttl="1d")], mode="upsert")
    assert actions(p) == {"feature view user_profile@v1": "update"}


def test_upsert_may_name_registered_entities() -> None:
    p = plan([user_entity()], [user_profile(entities=["user"])], mode="upsert")
    assert p.catalog.view("user_profile").join_keys == ("user_id",)  # type: ignore[union-attr]


def test_a_kept_version_keeps_the_source_it_reads() -> None:
    # v2 reads a new source; v1's source leaves the repo but stays while v1 is kept.
    new_source = engagement_source(name="engagement_v2")
    v2 = article_popularity(version=2, source=new_source)
    p = plan([article_popularity()], [v2])
    assert actions(p)["source engagement"] == "keep"


def test_entity_key_changes_are_refused() -> None:
    p = plan([user_entity()], [Entity(name="user", join_keys=["uid"], dtype=Int64)])
    with pytest.raises(IncompatibleChangeError, match="join_keys"):
        p.check_compatible()


def test_on_demand_code_change_warns() -> None:
    from factories import context_source, night_view
    from skewless import on_demand_feature_view

    @on_demand_feature_view(sources=[context_source()], schema=[Field(name="is_night", dtype=night_view().schema[0].dtype)])
    def is_night(inputs: Any) -> Any:
        return {"is_night": inputs["local_hour"] < 5}

    (change,) = plan([night_view()], [is_night]).pending
    assert change.warnings and not change.breaking
