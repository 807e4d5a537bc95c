"""Feature views: named groups of features about one or more entities, read from one source.

A *snapshot* view lists ``schema`` fields taken as-is from its source (profile, topics,
embeddings, metadata): the latest row per key at or before a time, within ``ttl``.
An *aggregation* view lists ``aggregations`` over an event source (counts, sums, ... over
windows), plus optional :class:`Ratio` features derived from two of its aggregates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, ClassVar

from skewless.definitions.aggregation import Aggregation, AggregationOutput
from skewless.definitions.base import Definition, check_identifier, check_version
from skewless.definitions.duration import format_seconds, parse_seconds
from skewless.definitions.entity import Entity
from skewless.definitions.field import Field, check_fields, fields_from_spec, fields_spec
from skewless.definitions.source import BatchSource, EventSource, StreamSource
from skewless.definitions.types import Float64
from skewless.errors import DefinitionError


@dataclass(frozen=True)
class Ratio:
    """``Ratio("ctr_1h", "clicked_sum_1h", "clicked_count_1h")``: numerator / denominator.

    Null when the denominator is 0 or null, identically offline and online.
    """

    name: str
    numerator: str
    denominator: str

    def __post_init__(self) -> None:
        for what, value in (("name", self.name), ("numerator", self.numerator), ("denominator", self.denominator)):
            check_identifier(value, what=f"ratio {what}")

    def to_spec(self) -> dict[str, str]:
        return {"name": self.name, "numerator": self.numerator, "denominator": self.denominator}


@dataclass(frozen=True)
class FeatureViewProjection:
    """A subset of a view's features, written ``view[["a", "b"]]`` (as in Feast).

    ``version=None`` follows the latest version; ``features=None`` means all of them.
    """

    view: str
    version: int | None
    features: tuple[str, ...] | None


@dataclass(frozen=True, kw_only=True, eq=False)
class FeatureView(Definition):
    """``FeatureView(name=, entities=, source=, schema=, ttl=)`` or ``(..., aggregations=[...])``.

    Args:
        entities: Entity objects, or entity names resolved when the repo is applied.
        source: the BatchSource or StreamSource the features are read from.
        schema: snapshot features, columns of the source (default: all its non-key columns).
        aggregations: windowed aggregations instead of a schema.
        ratios: features derived as a ratio of two aggregates, e.g. a click-through rate.
        ttl: snapshot values older than this are served (and joined) as missing.
        version: bump it for a change that alters values (removing a feature, changing a type or
            an aggregation); the old version stays readable as ``"name@v1:feature"``.
        online: materialize to / serve from the online store.
    """

    kind: ClassVar[str] = "feature_view"

    entities: Sequence[Entity | str]
    source: EventSource
    schema: Sequence[Field] | None = None
    aggregations: Sequence[Aggregation] = ()
    ratios: Sequence[Ratio] = ()
    ttl: str | timedelta | None = None
    version: int = 1  # type: ignore[assignment]
    online: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_version(self.version, label=self.label)
        if not isinstance(self.source, (BatchSource, StreamSource)):
            raise DefinitionError(
                f"{self.label}: source must be a BatchSource or StreamSource object, got {self.source!r}",
                hint="pass the source object itself; request values belong in an OnDemandFeatureView",
            )
        entities = (self.entities,) if isinstance(self.entities, (Entity, str)) else tuple(self.entities)
        if not entities or not all(isinstance(e, (Entity, str)) for e in entities):
            raise DefinitionError(f"{self.label}: entities must be a non-empty list of Entity objects or names")
        object.__setattr__(self, "entities", entities)
        object.__setattr__(self, "aggregations", tuple(self.aggregations))
        object.__setattr__(self, "ratios", tuple(self.ratios))
        if self.ttl is not None:
            object.__setattr__(self, "ttl", format_seconds(parse_seconds(self.ttl, where=f"{self.label}: ttl")))
        columns = self.source.columns
        if self.aggregations:
            if self.schema is not None:
                raise DefinitionError(
                    f"{self.label}: give either schema= or aggregations=, not both",
                    hint="an aggregation view's features are named by its aggregations",
                )
            features = self._aggregation_features(columns)
        else:
            if self.ratios:
                raise DefinitionError(f"{self.label}: ratios= needs aggregations=", hint="derive ratios from aggregates")
            features = self._snapshot_features(columns)
        object.__setattr__(self, "_features", features)
        if all(isinstance(e, Entity) for e in entities):
            self._check_join_keys()

    # -- construction helpers -------------------------------------------------------------

    def _snapshot_features(self, columns: Mapping[str, Any]) -> tuple[Field, ...]:
        excluded = {self.source.timestamp_field, self.source.created_timestamp_field} | {
            k for e in self.entities if isinstance(e, Entity) for k in e.join_keys
        }
        if self.schema is None:
            schema = tuple(f for f in self.source.schema if f.name not in excluded)
        else:
            schema = check_fields(self.schema, owner=self.label)
        for f in schema:
            if f.name not in columns:
                raise DefinitionError(
                    f"{self.label}: feature {f.name!r} is not a column of source {self.source.name!r}",
                    hint=f"choose from {', '.join(sorted(columns))}, or add the column to the source",
                )
            if columns[f.name] != f.dtype:
                raise DefinitionError(
                    f"{self.label}: type mismatch for {f.name!r}: the view says {f.dtype}, "
                    f"source {self.source.name!r} says {columns[f.name]}",
                    hint=f"declare Field(name={f.name!r}, dtype={columns[f.name]})",
                )
        if not schema:
            raise DefinitionError(f"{self.label}: has no features", hint="list them in schema=")
        if self.schema is not None:  # an inferred schema stays None: resolving entities may narrow it
            object.__setattr__(self, "schema", schema)
        return schema

    def _aggregation_features(self, columns: Mapping[str, Any]) -> tuple[Field, ...]:
        for agg in self.aggregations:
            if not isinstance(agg, Aggregation):
                raise DefinitionError(f"{self.label}: aggregations must be Aggregation objects, got {agg!r}")
        outputs = [o for agg in self.aggregations for o in agg.outputs(columns, owner=self.label)]
        fields = [Field(name=o.name, dtype=o.dtype) for o in outputs]
        by_name = {o.name: o for o in outputs}
        for ratio in self.ratios:
            if not isinstance(ratio, Ratio):
                raise DefinitionError(f"{self.label}: ratios must be Ratio objects, got {ratio!r}")
            for part in (ratio.numerator, ratio.denominator):
                if part not in by_name:
                    raise DefinitionError(
                        f"{self.label}: ratio {ratio.name!r} names {part!r}, which is not an aggregate of this view",
                        hint=f"use one of {', '.join(by_name)}",
                    )
                if not by_name[part].dtype.is_numeric:
                    raise DefinitionError(f"{self.label}: ratio {ratio.name!r}: type mismatch, {part!r} is not numeric")
            if by_name[ratio.numerator].window_seconds != by_name[ratio.denominator].window_seconds:
                raise DefinitionError(f"{self.label}: ratio {ratio.name!r} divides aggregates over different windows")
            fields.append(Field(name=ratio.name, dtype=Float64))
        return check_fields(fields, owner=self.label)

    def _check_join_keys(self) -> None:
        columns = self.source.columns
        for entity in self.entities:
            assert isinstance(entity, Entity)  # narrowed by the caller
            for key in entity.join_keys:
                if key not in columns:
                    raise DefinitionError(
                        f"{self.label}: entity {entity.name!r} joins on {key!r}, but source {self.source.name!r} has no such column",
                        hint=f"add Field(name={key!r}, dtype={entity.dtype}) to the source's schema",
                    )
                if columns[key] != entity.dtype:
                    raise DefinitionError(
                        f"{self.label}: type mismatch for join key {key!r}: entity {entity.name!r} says {entity.dtype}, "
                        f"source {self.source.name!r} says {columns[key]}",
                        hint="make the entity's dtype and the source column agree",
                    )

    # -- reading ----------------------------------------------------------------------------

    @property
    def features(self) -> tuple[Field, ...]:
        return self._features  # type: ignore[attr-defined, no-any-return]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def is_aggregation(self) -> bool:
        return bool(self.aggregations)

    @property
    def entity_names(self) -> tuple[str, ...]:
        return tuple(e if isinstance(e, str) else e.name for e in self.entities)

    @property
    def join_keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        for e in self.entities:
            if isinstance(e, str):
                raise DefinitionError(f"{self.label}: entity {e!r} is not resolved yet")
            keys.extend(e.join_keys)
        return tuple(keys)

    @property
    def ttl_seconds(self) -> int | None:
        return parse_seconds(self.ttl, where="ttl") if self.ttl is not None else None

    def aggregation_outputs(self) -> list[AggregationOutput]:
        return [o for agg in self.aggregations for o in agg.outputs(self.source.columns, owner=self.label)]

    def with_entities(self, entities: Sequence[Entity]) -> FeatureView:
        """This view with entity names replaced by objects (what the registry stores)."""
        return replace(self, entities=tuple(entities))

    def __getitem__(self, features: Sequence[str]) -> FeatureViewProjection:
        chosen = tuple([features] if isinstance(features, str) else features)
        for name in chosen:
            if name not in self.feature_names:
                raise DefinitionError(f"{self.label} has no feature {name!r}", hint=f"choose from {', '.join(self.feature_names)}")
        return FeatureViewProjection(self.name, self.version, chosen)

    # -- registry form ------------------------------------------------------------------------

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "entities": list(self.entity_names),
            "source": self.source.name,
            "schema": None if self.is_aggregation else fields_spec(self.features),
            "aggregations": [a.to_spec() for a in self.aggregations],
            "ratios": [r.to_spec() for r in self.ratios],
            "ttl": self.ttl,
            "online": self.online,
            **self.metadata_spec(),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], *, entities: Mapping[str, Entity], sources: Mapping[str, EventSource]) -> FeatureView:
        """Rebuild a view; entity names not in ``entities`` stay names for the catalog to report."""
        if spec["source"] not in sources:
            raise DefinitionError(
                f"feature view {spec['name']!r}: unknown source {spec['source']!r}",
                hint="define the source, or keep it while a view reads it",
            )
        return cls(
            name=spec["name"],
            version=spec["version"],
            entities=[entities.get(e, e) for e in spec["entities"]],
            source=sources[spec["source"]],
            schema=None if spec["schema"] is None else fields_from_spec(spec["schema"]),
            aggregations=[Aggregation.from_spec(a) for a in spec["aggregations"]],
            ratios=[Ratio(**r) for r in spec["ratios"]],
            ttl=spec["ttl"],
            online=spec["online"],
            description=spec.get("description", ""),
            owner=spec.get("owner", ""),
            tags=spec.get("tags", {}),
        )
