"""Small, realistic definitions shared by tests (a miniature news feed)."""

from __future__ import annotations

from typing import Any

from skewless import (
    Aggregation,
    BatchSource,
    Bool,
    Embedding,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float32,
    Int64,
    Ratio,
    RequestSource,
    StreamSource,
    String,
    on_demand_feature_view,
)


def user_entity() -> Entity:
    return Entity(name="user", join_keys=["user_id"], dtype=Int64)


def article_entity() -> Entity:
    return Entity(name="article", join_keys=["article_id"], dtype=Int64)


def engagement_source(**extra: Any) -> StreamSource:
    schema = [
        Field(name="user_id", dtype=Int64),
        Field(name="article_id", dtype=Int64),
        Field(name="clicked", dtype=Int64),
        Field(name="dwell_seconds", dtype=Float32),
        Field(name="event_id", dtype=String),
        *extra.pop("more_fields", []),
    ]
    return StreamSource(schema=schema, **{"name": "engagement", "event_id_field": "event_id", **extra})


def profile_source() -> BatchSource:
    return BatchSource(
        name="user_profiles",
        schema=[
            Field(name="user_id", dtype=Int64),
            Field(name="country", dtype=String),
            Field(name="age", dtype=Int64),
            Field(name="embedding", dtype=Embedding(8)),
        ],
    )


def user_profile(**overrides: Any) -> FeatureView:
    args: dict[str, Any] = {
        "name": "user_profile",
        "entities": [user_entity()],
        "source": profile_source(),
        "schema": [Field(name="country", dtype=String), Field(name="age", dtype=Int64)],
        "ttl": "30d",
    }
    args.update(overrides)
    return FeatureView(**args)


def article_popularity(**overrides: Any) -> FeatureView:
    args: dict[str, Any] = {
        "name": "article_popularity",
        "entities": [article_entity()],
        "source": engagement_source(),
        "aggregations": [
            Aggregation("clicked", "sum", windows=["10m", "1h"]),
            Aggregation("clicked", "count", windows=["10m", "1h"]),
        ],
        "ratios": [Ratio("ctr_10m", "clicked_sum_10m", "clicked_count_10m")],
    }
    args.update(overrides)
    return FeatureView(**args)


def context_source() -> RequestSource:
    return RequestSource(name="request_context", schema=[Field(name="local_hour", dtype=Int64)])


def night_view() -> Any:
    @on_demand_feature_view(sources=[context_source()], schema=[Field(name="is_night", dtype=Bool)])
    def is_night(inputs: Any) -> Any:
        return {"is_night": inputs["local_hour"] < 6}

    return is_night


def news_definitions() -> list[Any]:
    profile, popularity = user_profile(), article_popularity()
    service = FeatureService(name="ranker", features=[profile, popularity[["ctr_10m"]], "is_night:is_night"])
    return [profile, popularity, night_view(), service]
