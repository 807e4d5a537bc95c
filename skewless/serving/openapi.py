"""The OpenAPI 3.1 document of the feature server, built from the registry it serves.

Feature names, services, join keys and request values are listed from the registry snapshot,
so the document (and any client generated or fuzzed from it) knows what can be asked; it is
rebuilt when the registry revision changes.
"""

from __future__ import annotations

from typing import Any

from skewless.definitions.catalog import AnyView, Catalog
from skewless.definitions.source import RequestSource
from skewless.definitions.types import Array, Bool, DType, Embedding, Float32, Float64, Int64, String
from skewless.online.retrieval import CACHED, NOT_FOUND, NULL_VALUE, OUTSIDE_MAX_AGE, PRESENT, UNAVAILABLE

INT64 = {"type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1}
STATUSES = [PRESENT, NOT_FOUND, NULL_VALUE, OUTSIDE_MAX_AGE, UNAVAILABLE, CACHED]


def value_schema(dtype: DType) -> dict[str, Any]:
    if dtype == Int64:
        return dict(INT64)
    if dtype in (Float32, Float64):
        return {"type": "number"}
    if dtype == String:
        return {"type": "string"}
    if dtype == Bool:
        return {"type": "boolean"}
    if isinstance(dtype, Embedding):
        return {"type": "array", "items": {"type": "number"}, "minItems": dtype.dim, "maxItems": dtype.dim}
    if isinstance(dtype, Array):
        return {"type": "array", "items": value_schema(dtype.element)}
    return {}


PUSH: dict[str, Any] = {
    "type": "object",
    "properties": {
        "push_source_name": {"type": "string"},
        "source": {"type": "string"},
        "df": {"type": "object", "additionalProperties": {"type": "array"}},
        "events": {"type": "array", "items": {"type": "object"}},
        "to": {"type": "string", "enum": ["online", "offline", "online_and_offline"]},
    },
}
PUSH_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "source": {"type": "string"},
        "accepted": {"type": "integer"},
        "dead_letters": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["source", "accepted", "dead_letters"],
}


RANK: dict[str, Any] = {
    "type": "object",
    "properties": {
        "user_id": {"type": "integer"},
        "candidates": {"type": "array", "items": {"type": "integer"}},
        "context": {"type": "object"},
    },
    "required": ["user_id", "candidates"],
}
RANKED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "user_id": {"type": "integer"},
        "ranked": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"article_id": {"type": "integer"}, "score": {"type": ["number", "null"]}, "known": {"type": "boolean"}},
            },
        },
    },
    "required": ["user_id", "ranked"],
}


def document(catalog: Catalog, *, revision: int, max_rows: int, version: str) -> dict[str, Any]:
    views: list[AnyView] = [*catalog.feature_views(), *catalog.on_demand_views()]
    features = sorted({f"{v.name}:{f}" for v in views for f in v.feature_names})
    services = sorted(s.name for s in catalog.services())
    keys = {k: e.dtype for e in catalog.entities() for k in e.join_keys}
    request_values = {n: t for s in catalog.sources() if isinstance(s, RequestSource) for n, t in s.columns.items()}
    column = {n: {"type": "array", "items": value_schema(t), "maxItems": max_rows} for n, t in {**request_values, **keys}.items()}
    context = {
        n: {"anyOf": [value_schema(t), {"type": "array", "items": value_schema(t), "maxItems": max_rows}]}
        for n, t in request_values.items()
    }
    feature_list: dict[str, Any] = {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z_]\w*(@v\d+)?:[A-Za-z_]\w*$"}}
    if features:
        feature_list["items"]["enum"] = features
        feature_list["example"] = features[:2]
    service: dict[str, Any] = {"type": "string", **({"enum": services} if services else {})}
    request = {
        "type": "object",
        "description": "Feast's request: either `features` or `feature_service`, and the entity rows as columns.",
        "properties": {
            "features": {**feature_list, "minItems": 1, "description": "`view:feature` or `view@vN:feature` names."},
            "feature_service": {**service, "description": "A registered feature service."},
            "entities": {
                "type": "object",
                "description": "Join keys (and per-row request values) as columns of equal length, one value per row.",
                "properties": column,
                "additionalProperties": False,
            },
            "full_feature_names": {"type": "boolean", "default": False, "description": "Name columns `view__feature`."},
            "request_context": {
                "type": "object",
                "description": "Request values: one value for every row, or a list with one per row.",
                "properties": context,
                "additionalProperties": False,
            },
        },
        "required": ["entities"],
        "oneOf": [{"required": ["features"]}, {"required": ["feature_service"]}],
        "additionalProperties": False,
    }
    result = {
        "type": "object",
        "properties": {
            "values": {"type": "array", "description": "One value per row; null when not PRESENT/CACHED."},
            "statuses": {"type": "array", "items": {"type": "string", "enum": STATUSES}},
            "event_timestamps": {"type": "array", "items": {"type": "string"}, "description": "RFC 3339, UTC (`Z`); the epoch if unknown."},
        },
        "required": ["values", "statuses", "event_timestamps"],
    }
    response = {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "properties": {"feature_names": {"type": "array", "items": {"type": "string"}}},
                "required": ["feature_names"],
            },
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/FeatureColumn"}},
        },
        "required": ["metadata", "results"],
    }
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": ["string", "null"]}},
        "required": ["error", "message"],
    }

    def errors(*codes: tuple[str, str]) -> dict[str, Any]:
        return {
            c: {"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}} for c, d in codes
        }

    text = {"content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Skewless feature server",
            "version": version,
            "description": f"Online features, Feast-compatible. Registry revision {revision}.",
        },
        "paths": {
            "/get-online-features": {
                "post": {
                    "summary": "Latest feature values for a slate of entity rows",
                    "description": "Answers with Feast's response shape. Missing or stale values are reported per value in "
                    "`statuses`, never as an error. `?format=msgpack` (or `Accept: application/x-msgpack`) returns the "
                    "same shape as msgpack, event times as integers (µs) and embeddings as raw float32 bytes.",
                    "operationId": "getOnlineFeatures",
                    "parameters": [
                        {"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json", "msgpack"]}}
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Request"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "One result per output column, join keys first.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Response"}},
                                "application/x-msgpack": {"schema": {"type": "string", "format": "binary"}},
                            },
                        },
                        **errors(
                            ("400", "Malformed body, unknown field, or malformed feature name"),
                            ("404", "Unknown feature view, feature or feature service"),
                            ("413", f"More than {max_rows} rows, or a body too large"),
                            ("422", "A join key or request value is missing, mistyped or unknown"),
                            ("503", "Nothing could be answered"),
                        ),
                    },
                }
            },
            "/push": {
                "post": {
                    "summary": "Apply events of a source now: logged offline, then in the online tiles",
                    "description": "Feast's push body (`push_source_name`, `df` as columns) or `source` with `events` as "
                    "objects. Invalid and late events come back as dead letters with their reasons; the valid ones are applied. "
                    "`to` is accepted for Feast clients; events always reach both stores.",
                    "operationId": "push",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Push"}}}},
                    "responses": {
                        "200": {
                            "description": "How many events were accepted, and the dead letters",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushResult"}}},
                        },
                        **errors(("400", "Malformed body"), ("404", "Unknown source"), ("413", "A body too large")),
                    },
                }
            },
            "/rank": {
                "post": {
                    "summary": "Candidate articles for a user, ordered by the ranking model",
                    "description": "Reads the `serving.rank_service` features for the user and each candidate with the request "
                    "context, and scores them with the model at `serving.rank_model`. Unknown users or articles are scored on "
                    "their absent features (cold start), and flagged `known: false` when the store has nothing for the article.",
                    "operationId": "rank",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Rank"}}}},
                    "responses": {
                        "200": {
                            "description": "The candidates, best first",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ranked"}}},
                        },
                        **errors(
                            ("400", "Malformed body"),
                            ("404", "No ranking model configured, or an unknown feature service"),
                            ("413", "More candidates than serving.max_rows"),
                            ("422", "A missing or mistyped user_id, candidates or request value"),
                            ("503", "Nothing could be answered"),
                        ),
                    },
                }
            },
            "/health": {"get": {"summary": "The process is up", "operationId": "health", "responses": {"200": {"description": "Up"}}}},
            "/ready": {
                "get": {
                    "summary": "The registry is loaded and the online store answers",
                    "operationId": "ready",
                    "responses": {"200": {"description": "Ready"}, **errors(("503", "Not ready; the message says why"))},
                }
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "operationId": "metrics", "responses": {"200": {"description": "Metrics", **text}}}
            },
            "/openapi.json": {
                "get": {"summary": "This document", "operationId": "openapi", "responses": {"200": {"description": "OpenAPI"}}}
            },
        },
        "components": {
            "schemas": {
                "Request": request,
                "Response": response,
                "FeatureColumn": result,
                "Error": error,
                "Push": PUSH,
                "PushResult": PUSH_RESULT,
            }
        },
    }
