"""What every registered definition shares: a name and descriptive metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from skewless.errors import DefinitionError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: object, *, what: str) -> str:
    """Names become column names and SQL identifiers, so they must be plain identifiers."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise DefinitionError(
            f"{what} name {name!r} is not a valid identifier",
            hint="use letters, digits and underscores, starting with a letter, e.g. 'user_engagement'",
        )
    return name


@dataclass(frozen=True, kw_only=True)
class Definition:
    """Base of the objects a feature repo declares and the registry stores.

    ``kind`` names the registry namespace; ``version`` is 1 except for versioned kinds.
    """

    kind: ClassVar[str] = "definition"

    name: str
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_identifier(self.name, what=self.kind.replace("_", " "))
        if not isinstance(self.tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in self.tags.items()):
            raise DefinitionError(
                f"{self.label}: tags must map strings to strings, got {self.tags!r}",
                hint="e.g. tags={'team': 'ranking'}",
            )
        object.__setattr__(self, "tags", dict(self.tags))

    @property
    def version(self) -> int:
        return 1

    @property
    def label(self) -> str:
        """How errors and the CLI name this object, e.g. ``feature view 'user_engagement'``."""
        return f"{self.kind.replace('_', ' ')} {self.name!r}"

    def metadata_spec(self) -> dict[str, Any]:
        return {"description": self.description, "owner": self.owner, "tags": dict(sorted(self.tags.items()))}

    def to_spec(self) -> dict[str, Any]:
        """A JSON-able description that :func:`skewless.definitions.spec.from_spec` reverses."""
        raise NotImplementedError

    def comparable_spec(self) -> dict[str, Any]:
        """What plan compares: the spec minus anything that varies without a change of meaning."""
        return self.to_spec()

    def __hash__(self) -> int:
        return hash((self.kind, self.name, self.version))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.comparable_spec() == other.comparable_spec()  # type: ignore[attr-defined]


def check_version(version: object, *, label: str) -> int:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DefinitionError(f"{label}: version must be a whole number ≥ 1, got {version!r}", hint="e.g. version=2")
    return version
