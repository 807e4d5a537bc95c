import pytest

from factories import article_popularity, engagement_source, profile_source, user_entity, user_profile
from skewless import Aggregation, BatchSource, Entity, FeatureView, Field, Float64, Int64, Ratio, String
from skewless.definitions.feature_view import FeatureViewProjection
from skewless.errors import DefinitionError


def test_snapshot_view_features_come_from_its_schema() -> None:
    view = user_profile()
    assert view.feature_names == ("country", "age")
    assert view.join_keys == ("user_id",)
    assert view.ttl_seconds == 30 * 86400
    assert not view.is_aggregation


def test_schema_defaults_to_the_source_columns_minus_keys() -> None:
    view = FeatureView(name="p", entities=[user_entity()], source=profile_source())
    assert view.feature_names == ("country", "age", "embedding")


def test_aggregation_view_features_are_its_aggregates_and_ratios() -> None:
    view = article_popularity()
    assert view.feature_names == ("clicked_sum_10m", "clicked_sum_1h", "clicked_count_10m", "clicked_count_1h", "ctr_10m")
    assert dict((f.name, f.dtype) for f in view.features)["ctr_10m"] == Float64


def test_type_mismatch_with_the_source_names_both_types() -> None:
    with pytest.raises(DefinitionError) as err:
        user_profile(schema=[Field(name="age", dtype=String)])
    text = str(err.value)
    assert "type mismatch" in text and "'age'" in text and "String" in text and "Int64" in text
    assert "feature view 'user_profile'" in text


def test_feature_not_in_the_source() -> None:
    with pytest.raises(DefinitionError, match="not a column of source 'user_profiles'"):
        user_profile(schema=[Field(name="agee", dtype=Int64)])


def test_join_key_missing_from_the_source() -> None:
    other = Entity(name="device", join_keys=["device_id"], dtype=String)
    with pytest.raises(DefinitionError, match="joins on 'device_id'"):
        user_profile(entities=[other])


def test_join_key_type_mismatch() -> None:
    wrong = Entity(name="user", join_keys=["user_id"], dtype=String)
    with pytest.raises(DefinitionError, match="type mismatch for join key 'user_id'"):
        user_profile(entities=[wrong])


def test_aggregation_on_a_missing_column() -> None:
    with pytest.raises(DefinitionError, match=r"feature view 'article_popularity'.*no column 'clickd'"):
        article_popularity(aggregations=[Aggregation("clickd", "sum", windows=["1h"])], ratios=[])


def test_ratio_must_name_aggregates_of_the_same_window() -> None:
    with pytest.raises(DefinitionError, match="not an aggregate"):
        article_popularity(ratios=[Ratio("ctr", "clicks", "clicked_count_1h")])
    with pytest.raises(DefinitionError, match="different windows"):
        article_popularity(ratios=[Ratio("ctr", "clicked_sum_10m", "clicked_count_1h")])


def test_schema_and_aggregations_are_exclusive() -> None:
    with pytest.raises(DefinitionError, match="either schema= or aggregations="):
        article_popularity(schema=[Field(name="clicked", dtype=Int64)])


def test_source_must_be_an_event_source_object() -> None:
    with pytest.raises(DefinitionError, match="BatchSource or StreamSource"):
        FeatureView(name="v", entities=[user_entity()], source="user_profiles")  # type: ignore[arg-type]


def test_entity_names_stay_unresolved_until_the_catalog() -> None:
    view = user_profile(entities=["user"])
    assert view.entity_names == ("user",)
    with pytest.raises(DefinitionError, match="not resolved"):
        _ = view.join_keys


def test_projection_checks_feature_names() -> None:
    assert user_profile()[["age"]] == FeatureViewProjection("user_profile", 1, ("age",))
    with pytest.raises(DefinitionError, match="no feature 'agee'"):
        user_profile()[["agee"]]


def test_spec_round_trip() -> None:
    for view in (user_profile(), article_popularity()):
        entities = {e.name: e for e in view.entities if isinstance(e, Entity)}
        again = FeatureView.from_spec(view.to_spec(), entities=entities, sources={view.source.name: view.source})
        assert again == view and again.to_spec() == view.to_spec()


def test_bad_version_and_ttl() -> None:
    with pytest.raises(DefinitionError, match="version"):
        user_profile(version=0)
    with pytest.raises(DefinitionError, match="ttl"):
        user_profile(ttl="forever")


def test_source_timestamp_declared_with_the_wrong_type() -> None:
    with pytest.raises(DefinitionError, match="not Timestamp"):
        BatchSource(name="s", schema=[Field(name="event_timestamp", dtype=Int64)])


def test_event_id_must_be_a_column() -> None:
    with pytest.raises(DefinitionError, match="event_id_field 'eid'"):
        engagement_source(event_id_field="eid")
