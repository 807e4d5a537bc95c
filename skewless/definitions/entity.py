"""Entities: the things features describe (a user, an article), identified by join keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from skewless.definitions.base import Definition, check_identifier
from skewless.definitions.types import DType, Scalar, String, as_dtype, parse_dtype
from skewless.errors import DefinitionError


@dataclass(frozen=True, kw_only=True, eq=False)
class Entity(Definition):
    """``Entity(name="user", join_keys=["user_id"], dtype=Int64)``.

    ``join_keys`` defaults to ``[name]`` as in Feast; ``dtype`` is the type of the key values.
    """

    kind: ClassVar[str] = "entity"

    join_keys: Sequence[str] = ()
    dtype: DType = String

    def __post_init__(self) -> None:
        super().__post_init__()
        keys = (self.name,) if not self.join_keys else self.join_keys
        if isinstance(keys, str):
            raise DefinitionError(f"{self.label}: join_keys must be a list", hint=f"join_keys=[{keys!r}]")
        keys = tuple(check_identifier(k, what=f"{self.label} join key") for k in keys)
        if len(set(keys)) != len(keys):
            raise DefinitionError(f"{self.label}: join_keys {list(keys)} repeat a key")
        object.__setattr__(self, "join_keys", keys)
        dtype = as_dtype(self.dtype, where=self.label)
        if not isinstance(dtype, Scalar) or dtype.name not in ("Int64", "String"):
            raise DefinitionError(
                f"{self.label}: join key type {dtype} is not supported",
                hint="entity keys are Int64 or String",
            )
        object.__setattr__(self, "dtype", dtype)

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, "join_keys": list(self.join_keys), "dtype": str(self.dtype), **self.metadata_spec()}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Entity:
        return cls(
            name=spec["name"],
            join_keys=spec["join_keys"],
            dtype=parse_dtype(spec["dtype"]),
            description=spec.get("description", ""),
            owner=spec.get("owner", ""),
            tags=spec.get("tags", {}),
        )
