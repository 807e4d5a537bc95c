"""A named, typed column: a feature, a source column or a request value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from skewless.definitions.base import check_identifier
from skewless.definitions.types import DType, as_dtype, parse_dtype
from skewless.errors import DefinitionError


@dataclass(frozen=True)
class Field:
    """``Field(name="clicks_1h", dtype=Int64)``, as in Feast."""

    name: str
    dtype: DType
    description: str = ""

    def __post_init__(self) -> None:
        check_identifier(self.name, what="field")
        object.__setattr__(self, "dtype", as_dtype(self.dtype, where=f"field {self.name!r}"))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "dtype": str(self.dtype)}
        if self.description:
            spec["description"] = self.description
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Field:
        return cls(name=spec["name"], dtype=parse_dtype(spec["dtype"]), description=spec.get("description", ""))


def check_fields(fields: Iterable[object], *, owner: str) -> tuple[Field, ...]:
    """Validate a schema: a sequence of distinct :class:`Field`s."""
    if isinstance(fields, (str, bytes)) or not isinstance(fields, Iterable):
        raise DefinitionError(f"{owner}: schema must be a list of Field, got {fields!r}")
    result: list[Field] = []
    seen: set[str] = set()
    for item in fields:
        if not isinstance(item, Field):
            raise DefinitionError(
                f"{owner}: schema entries must be Field objects, got {item!r}",
                hint="e.g. Field(name='clicks', dtype=Int64)",
            )
        if item.name in seen:
            raise DefinitionError(f"{owner}: field {item.name!r} is listed twice", hint="give each field once")
        seen.add(item.name)
        result.append(item)
    return tuple(result)


def fields_spec(fields: Sequence[Field]) -> list[dict[str, Any]]:
    return [f.to_spec() for f in fields]


def fields_from_spec(specs: Sequence[dict[str, Any]]) -> tuple[Field, ...]:
    return tuple(Field.from_spec(s) for s in specs)
