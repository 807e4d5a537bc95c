import pytest

from factories import context_source, news_definitions, night_view, user_entity, user_profile
from skewless import Entity, FeatureService, Field, Float64, Int64, on_demand_feature_view
from skewless.definitions.catalog import Catalog
from skewless.definitions.reference import FeatureRef
from skewless.errors import DefinitionError, NotFoundError


def test_embedded_entities_and_sources_are_collected() -> None:
    catalog = Catalog.build(news_definitions())
    assert {e.name for e in catalog.entities()} == {"user", "article"}
    assert {s.name for s in catalog.sources()} == {"user_profiles", "engagement", "request_context"}
    assert {v.name for v in catalog.feature_views()} == {"user_profile", "article_popularity"}


def test_entity_names_resolve_to_objects() -> None:
    catalog = Catalog.build([user_entity(), user_profile(entities=["user"])])
    assert catalog.view("user_profile").join_keys == ("user_id",)  # type: ignore[union-attr]


def test_unknown_entity_suggests_the_close_one() -> None:
    with pytest.raises(DefinitionError) as err:
        Catalog.build([user_entity(), user_profile(entities=["usr"])])
    assert "feature view 'user_profile': unknown entity 'usr'" in str(err.value)
    assert "did you mean 'user'?" in str(err.value)


def test_sources_by_name_suggest_the_close_one() -> None:
    catalog = Catalog.build(news_definitions())
    assert catalog.source("engagement").name == "engagement"
    with pytest.raises(NotFoundError, match="no source named 'engagment'") as err:
        catalog.source("engagment")
    assert "did you mean 'engagement'?" in str(err.value)


def test_duplicate_name_is_refused() -> None:
    with pytest.raises(DefinitionError, match="duplicate name: two different definitions of feature view user_profile@v1"):
        Catalog.build([user_profile(), user_profile(ttl="1d")])


def test_the_same_definition_twice_is_fine() -> None:
    assert len(Catalog.build([user_profile(), user_profile()]).feature_views()) == 1


def test_two_versions_coexist_and_unversioned_means_latest() -> None:
    catalog = Catalog.build([user_profile(), user_profile(version=2, schema=[Field(name="age", dtype=Int64)])])
    assert catalog.versions("user_profile") == [1, 2]
    assert catalog.view("user_profile").version == 2
    assert catalog.resolve("user_profile@v1:country")[1].name == "country"
    with pytest.raises(NotFoundError, match="no feature 'country'"):
        catalog.resolve("user_profile:country")


def test_service_naming_a_missing_feature() -> None:
    service = FeatureService(name="ranker", features=["user_profile:agee"])
    with pytest.raises(DefinitionError) as err:
        Catalog.build([user_profile(), service])
    assert "feature service 'ranker'" in str(err.value) and "no feature 'agee'" in str(err.value)
    assert "did you mean 'age'?" in str(err.value)


def test_service_naming_a_missing_view_or_version() -> None:
    with pytest.raises(DefinitionError, match="no feature view named 'user_profil'"):
        Catalog.build([user_profile(), FeatureService(name="s", features=["user_profil:age"])])
    with pytest.raises(DefinitionError, match="has no version 3"):
        Catalog.build([user_profile(), FeatureService(name="s", features=["user_profile@v3:age"])])


def test_service_refs_pin_versions() -> None:
    catalog = Catalog.build(news_definitions())
    assert [str(r) for r in catalog.service_refs("ranker")] == [
        "user_profile@v1:country",
        "user_profile@v1:age",
        "article_popularity@v1:ctr_10m",
        "is_night@v1:is_night",
    ]


def test_on_demand_inputs_must_exist_and_not_collide() -> None:
    @on_demand_feature_view(sources=[context_source(), "user_profile:ag"], schema=[Field(name="x", dtype=Int64)])
    def broken(inputs: dict) -> dict:  # type: ignore[type-arg]
        return inputs

    with pytest.raises(DefinitionError, match=r"on demand feature view 'broken'.*no feature 'ag'"):
        Catalog.build([user_profile(), broken])

    other = user_profile(name="other")

    @on_demand_feature_view(sources=[user_profile(), other], schema=[Field(name="x", dtype=Int64)])
    def clash(inputs: dict) -> dict:  # type: ignore[type-arg]
        return inputs

    with pytest.raises(DefinitionError, match="input 'age' comes from both"):
        Catalog.build([other, clash])


def test_view_and_on_demand_view_share_a_namespace() -> None:
    with pytest.raises(DefinitionError, match="both a feature view and an on-demand"):
        Catalog.build([user_profile(name="is_night"), night_view()])


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(DefinitionError, match="2 problems"):
        Catalog.build(
            [
                user_profile(entities=["usr"]),
                FeatureService(name="s", features=["nope:x"]),
            ]
        )


def test_dependents() -> None:
    catalog = Catalog.build(news_definitions())
    users = catalog.dependents(catalog.view("user_profile"))
    assert [u.name for u in users] == ["ranker"]


def test_feature_ref_parsing() -> None:
    assert FeatureRef.parse("v@v2:f") == FeatureRef("v", "f", 2)
    assert str(FeatureRef.parse("v:f")) == "v:f"
    for bad in ("v", "v:f:g", "v@2:f", ":f", "v@v:f"):
        with pytest.raises(DefinitionError, match="malformed feature reference"):
            FeatureRef.parse(bad)


def test_entity_validation() -> None:
    assert Entity(name="user").join_keys == ("user",)
    with pytest.raises(DefinitionError, match="join key type"):
        Entity(name="u", dtype=Float64)
    with pytest.raises(DefinitionError, match="not a valid identifier"):
        Entity(name="my user")
