"""Skewless: a feature store for real-time personalization, with zero training/serving skew by construction."""

from skewless.definitions import (
    Aggregation,
    Array,
    BatchSource,
    Bool,
    Embedding,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    Float32,
    Float64,
    Int64,
    OnDemandFeatureView,
    Ratio,
    RequestSource,
    StreamSource,
    String,
    Timestamp,
    on_demand_feature_view,
)
from skewless.errors import SkewlessError
from skewless.store import FeatureStore

__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "Array",
    "BatchSource",
    "Bool",
    "Embedding",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "Float32",
    "Float64",
    "Int64",
    "OnDemandFeatureView",
    "Ratio",
    "RequestSource",
    "SkewlessError",
    "StreamSource",
    "String",
    "Timestamp",
    "on_demand_feature_view",
]
