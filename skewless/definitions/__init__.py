"""Feature definitions as code: frozen, validated on construction, free of I/O."""

from skewless.definitions.aggregation import Aggregation, AggregationOutput
from skewless.definitions.base import Definition
from skewless.definitions.catalog import Catalog, ObjectKey, key_of
from skewless.definitions.entity import Entity
from skewless.definitions.feature_view import FeatureView, FeatureViewProjection, Ratio
from skewless.definitions.field import Field
from skewless.definitions.on_demand import OnDemandFeatureView, on_demand_feature_view
from skewless.definitions.reference import FeatureRef
from skewless.definitions.service import FeatureService
from skewless.definitions.source import BatchSource, RequestSource, StreamSource
from skewless.definitions.types import Array, Bool, DType, Embedding, Float32, Float64, Int64, String, Timestamp

__all__ = [
    "Aggregation",
    "AggregationOutput",
    "Array",
    "BatchSource",
    "Bool",
    "Catalog",
    "DType",
    "Definition",
    "Embedding",
    "Entity",
    "FeatureRef",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "Float32",
    "Float64",
    "Int64",
    "ObjectKey",
    "OnDemandFeatureView",
    "Ratio",
    "RequestSource",
    "StreamSource",
    "String",
    "Timestamp",
    "key_of",
    "on_demand_feature_view",
]
