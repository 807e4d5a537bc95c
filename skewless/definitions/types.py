"""Value types of features, with their Arrow types.

Scalars are module-level singletons (``Int64``, ``Float32``, ...); ``Array(T)`` and
``Embedding(dim)`` are parameterised. Every type has a canonical text form (``str(t)``) that
round-trips through :func:`parse_dtype`, which is how the registry stores them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from skewless.errors import DefinitionError


class DType:
    """A feature value type."""

    __slots__ = ()

    def to_arrow(self) -> pa.DataType:
        raise NotImplementedError

    @property
    def is_numeric(self) -> bool:
        return False

    @property
    def is_scalar(self) -> bool:
        return True

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True, eq=False, repr=False)
class Scalar(DType):
    name: str
    arrow: pa.DataType
    numeric: bool = False

    # A scalar is its name. Serving compares types per column of every request: a dataclass' field
    # tuples (and pyarrow's type comparison) cost ~1 µs a comparison, this an identity test.
    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Scalar) and self.name == other.name)

    def __hash__(self) -> int:
        return hash(self.name)

    def to_arrow(self) -> pa.DataType:
        return self.arrow

    @property
    def is_numeric(self) -> bool:
        return self.numeric

    def __str__(self) -> str:
        return self.name


Int64: Final = Scalar("Int64", pa.int64(), numeric=True)
Float32: Final = Scalar("Float32", pa.float32(), numeric=True)
Float64: Final = Scalar("Float64", pa.float64(), numeric=True)
String: Final = Scalar("String", pa.string())
Bool: Final = Scalar("Bool", pa.bool_())
Timestamp: Final = Scalar("Timestamp", pa.timestamp("us", tz="UTC"))

SCALARS: Final[dict[str, Scalar]] = {t.name: t for t in (Int64, Float32, Float64, String, Bool, Timestamp)}


@dataclass(frozen=True, repr=False)
class Array(DType):
    """A variable-length list of scalars, e.g. ``Array(String)`` for named entities."""

    element: DType

    def __post_init__(self) -> None:
        if not isinstance(self.element, Scalar):
            raise DefinitionError(
                f"Array({self.element!r}) is not supported: arrays hold scalars",
                hint="use Array(Int64), Array(String), ... or Embedding(dim) for vectors",
            )

    def to_arrow(self) -> pa.DataType:
        return pa.list_(self.element.to_arrow())

    @property
    def is_scalar(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"Array({self.element})"


MAX_EMBEDDING_DIM: Final = 65_536


@dataclass(frozen=True, repr=False)
class Embedding(DType):
    """A dense float32 vector of fixed dimension, e.g. ``Embedding(384)``."""

    dim: int

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or isinstance(self.dim, bool) or not 1 <= self.dim <= MAX_EMBEDDING_DIM:
            raise DefinitionError(
                f"Embedding({self.dim!r}) has an invalid dimension",
                hint=f"give a whole number from 1 to {MAX_EMBEDDING_DIM}, e.g. Embedding(384)",
            )

    def to_arrow(self) -> pa.DataType:
        return pa.list_(pa.float32(), self.dim)

    @property
    def is_scalar(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"Embedding({self.dim})"


_ARRAY = re.compile(r"^Array\((\w+)\)$")
_EMBEDDING = re.compile(r"^Embedding\((\d+)\)$")


def parse_dtype(text: str) -> DType:
    """Parse the canonical text form of a type, e.g. ``"Array(String)"`` or ``"Embedding(384)"``."""
    text = text.strip()
    if text in SCALARS:
        return SCALARS[text]
    if match := _ARRAY.match(text):
        return Array(parse_dtype(match.group(1)))
    if match := _EMBEDDING.match(text):
        return Embedding(int(match.group(1)))
    raise DefinitionError(
        f"unknown type {text!r}",
        hint=f"use one of {', '.join(SCALARS)}, Array(T) or Embedding(dim)",
    )


def as_dtype(value: object, *, where: str) -> DType:
    """Accept a DType, or its text form, for a field described by ``where``."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        try:
            return parse_dtype(value)
        except DefinitionError as exc:
            raise DefinitionError(f"{where}: {exc.message}", hint=exc.hint) from None
    raise DefinitionError(
        f"{where}: dtype must be a Skewless type, got {value!r}",
        hint="import the types from skewless, e.g. `from skewless import Int64, Embedding`",
    )
