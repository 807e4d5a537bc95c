"""The registry's storage contract: versioned object specs under a per-project revision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from skewless.definitions.catalog import ObjectKey


@dataclass(frozen=True)
class StoredObject:
    key: ObjectKey
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    created_revision: int
    updated_revision: int


@dataclass(frozen=True)
class StoredRegistry:
    revision: int
    objects: tuple[StoredObject, ...]


@dataclass(frozen=True)
class ObjectChange:
    """Write ``spec`` under ``key``, or delete the key when ``spec`` is None."""

    key: ObjectKey
    spec: dict[str, Any] | None


@dataclass(frozen=True)
class HistoryEntry:
    revision: int
    committed_at: datetime
    summary: str


@dataclass(frozen=True)
class Record:
    """Operational state kept beside the definitions (training sets, watermarks); not versioned."""

    kind: str
    name: str
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RegistryStore(Protocol):
    """Storage for registry objects; every commit is checked against the revision it was planned on."""

    def revision(self, project: str) -> int:
        """The project's current revision; 0 before its first commit. Cheap: watchers poll it."""
        ...

    def load(self, project: str) -> StoredRegistry:
        """Every object of the project at one consistent revision."""
        ...

    def commit(self, project: str, expected_revision: int, changes: Sequence[ObjectChange], *, summary: str) -> int:
        """Apply ``changes`` atomically and return the new revision.

        Raises RevisionConflictError, changing nothing, when the revision is no longer ``expected_revision``.
        """
        ...

    def history(self, project: str, *, limit: int = 20) -> list[HistoryEntry]:
        """The latest commits, newest first."""
        ...

    def put_record(self, project: str, kind: str, name: str, payload: dict[str, Any]) -> Record:
        """Create or replace a record; records do not move the revision."""
        ...

    def get_record(self, project: str, kind: str, name: str) -> Record | None: ...

    def list_records(self, project: str, kind: str) -> list[Record]:
        """Records of one kind, by name."""
        ...

    def close(self) -> None: ...
