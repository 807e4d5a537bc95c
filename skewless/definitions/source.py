"""Where feature data comes from.

- :class:`BatchSource`: rows written through the store (``write_to_offline_store``, ``skewless ingest``).
- :class:`StreamSource`: events pushed (``push``, ``POST /push``) or read from an event bus.
- :class:`RequestSource`: values that arrive with the request (device, country, local time).

Batch and stream sources are both tables in the offline store: every accepted stream event is
logged there too, so training reads exactly what serving saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from skewless.definitions.base import Definition, check_identifier
from skewless.definitions.field import Field, check_fields, fields_from_spec, fields_spec
from skewless.definitions.types import DType, Int64, String, Timestamp
from skewless.errors import DefinitionError


@dataclass(frozen=True, kw_only=True, eq=False)
class _TimedSource(Definition):
    kind: ClassVar[str] = "source"
    source_type: ClassVar[str] = ""

    schema: Sequence[Field]
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None
    event_id_field: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        schema = check_fields(self.schema, owner=self.label)
        names = {f.name: f.dtype for f in schema}
        check_identifier(self.timestamp_field, what=f"{self.label} timestamp_field")
        for role, column in (
            ("timestamp_field", self.timestamp_field),
            ("created_timestamp_field", self.created_timestamp_field),
        ):
            if column is None:
                continue
            check_identifier(column, what=f"{self.label} {role}")
            if column in names and names[column] != Timestamp:
                raise DefinitionError(
                    f"{self.label}: {role} {column!r} is declared as {names[column]}, not Timestamp",
                    hint=f"drop {column!r} from the schema (it is a Timestamp implicitly) or declare it Timestamp",
                )
        # Timestamp columns are implicit; keep them out of the stored schema so specs compare equal.
        schema = tuple(f for f in schema if f.name not in (self.timestamp_field, self.created_timestamp_field))
        if self.event_id_field is not None:
            dtype = names.get(self.event_id_field)
            if dtype not in (Int64, String):
                raise DefinitionError(
                    f"{self.label}: event_id_field {self.event_id_field!r} must be an Int64 or String column of the schema",
                    hint=f"add Field(name={self.event_id_field!r}, dtype=String) to the schema",
                )
        if not schema:
            raise DefinitionError(f"{self.label}: schema is empty", hint="list the source's columns as Field objects")
        object.__setattr__(self, "schema", schema)

    @property
    def columns(self) -> dict[str, DType]:
        """Every column of the source's table, timestamps included."""
        cols: dict[str, DType] = {f.name: f.dtype for f in self.schema}
        cols[self.timestamp_field] = Timestamp
        if self.created_timestamp_field:
            cols[self.created_timestamp_field] = Timestamp
        return cols

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.source_type,
            "schema": fields_spec(self.schema),
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "event_id_field": self.event_id_field,
            **self.metadata_spec(),
        }


@dataclass(frozen=True, kw_only=True, eq=False)
class BatchSource(_TimedSource):
    """Rows written through the store, e.g. article metadata or daily user embeddings."""

    source_type: ClassVar[str] = "batch"


@dataclass(frozen=True, kw_only=True, eq=False)
class StreamSource(_TimedSource):
    """Events pushed to the store or read from an event bus, e.g. impressions and clicks."""

    source_type: ClassVar[str] = "stream"


@dataclass(frozen=True, kw_only=True, eq=False)
class RequestSource(Definition):
    """Values that arrive with each request and are never stored, e.g. device and country."""

    kind: ClassVar[str] = "source"
    source_type: ClassVar[str] = "request"

    schema: Sequence[Field]

    def __post_init__(self) -> None:
        super().__post_init__()
        schema = check_fields(self.schema, owner=self.label)
        if not schema:
            raise DefinitionError(f"{self.label}: schema is empty", hint="list the request values as Field objects")
        object.__setattr__(self, "schema", schema)

    @property
    def columns(self) -> dict[str, DType]:
        return {f.name: f.dtype for f in self.schema}

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.source_type, "schema": fields_spec(self.schema), **self.metadata_spec()}


EventSource = BatchSource | StreamSource
Source = BatchSource | StreamSource | RequestSource

_SOURCE_TYPES: dict[str, type[BatchSource] | type[StreamSource]] = {"batch": BatchSource, "stream": StreamSource}


def source_from_spec(spec: Mapping[str, Any]) -> Source:
    meta = {"description": spec.get("description", ""), "owner": spec.get("owner", ""), "tags": spec.get("tags", {})}
    schema = fields_from_spec(spec["schema"])
    if spec["type"] == "request":
        return RequestSource(name=spec["name"], schema=schema, **meta)
    return _SOURCE_TYPES[spec["type"]](
        name=spec["name"],
        schema=schema,
        timestamp_field=spec["timestamp_field"],
        created_timestamp_field=spec.get("created_timestamp_field"),
        event_id_field=spec.get("event_id_field"),
        **meta,
    )
