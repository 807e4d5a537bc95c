"""The registry: definitions at a revision, planned and applied with optimistic concurrency."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass

from skewless.definitions.base import Definition
from skewless.definitions.catalog import Catalog, ObjectKey
from skewless.definitions.spec import objects_from_specs
from skewless.errors import RegistryError, RevisionConflictError
from skewless.registry.plan import Mode, Plan, make_plan
from skewless.registry.protocol import HistoryEntry, ObjectChange, RegistryStore, StoredObject

MAX_APPLY_ATTEMPTS = 50


@dataclass(frozen=True)
class RegistrySnapshot:
    """Every definition at one revision, with when each was created and last changed."""

    project: str
    revision: int
    catalog: Catalog
    records: dict[ObjectKey, StoredObject]


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    revision: int
    attempts: int


class Registry:
    """One project's definitions in a :class:`RegistryStore`."""

    def __init__(self, store: RegistryStore, project: str) -> None:
        self.store = store
        self.project = project
        self._cached: RegistrySnapshot | None = None

    def revision(self) -> int:
        return self.store.revision(self.project)

    def snapshot(self) -> RegistrySnapshot:
        """The current definitions; reuses the last snapshot while the revision is unchanged."""
        cached = self._cached
        if cached is not None and cached.revision == self.revision():
            return cached
        stored = self.store.load(self.project)
        try:
            catalog = Catalog.build(objects_from_specs((o.key.kind, o.spec) for o in stored.objects))
        except Exception as exc:  # a registry written by a newer Skewless, or edited by hand
            raise RegistryError(f"the registry of {self.project!r} at revision {stored.revision} cannot be read: {exc}") from exc
        snapshot = RegistrySnapshot(self.project, stored.revision, catalog, {o.key: o for o in stored.objects})
        self._cached = snapshot
        return snapshot

    def plan(self, objects: Iterable[Definition], *, mode: Mode = "sync", delete: Iterable[ObjectKey] = ()) -> Plan:
        snapshot = self.snapshot()
        return make_plan(snapshot.catalog, objects, base_revision=snapshot.revision, mode=mode, delete=delete)

    def apply(self, objects: Iterable[Definition], *, mode: Mode = "sync", delete: Iterable[ObjectKey] = ()) -> ApplyResult:
        """Plan against the latest revision and commit; on a concurrent commit, re-plan and retry.

        Raises IncompatibleChangeError (nothing written) when a change needs a new version.
        """
        objects, delete = list(objects), list(delete)
        for attempt in range(1, MAX_APPLY_ATTEMPTS + 1):
            plan = self.plan(objects, mode=mode, delete=delete)
            plan.check_compatible()
            if not plan.has_changes:
                return ApplyResult(plan, plan.base_revision, attempt)
            changes = [ObjectChange(c.key, c.after) for c in plan.pending]
            try:
                revision = self.store.commit(self.project, plan.base_revision, changes, summary=_summary(plan))
            except RevisionConflictError:
                time.sleep(random.uniform(0, 0.005 * attempt))  # jitter so racing writers spread out
                continue
            return ApplyResult(plan, revision, attempt)
        raise RevisionConflictError(
            f"gave up applying after {MAX_APPLY_ATTEMPTS} concurrent commits got in first",
            hint="retry; if it persists, something is applying in a tight loop",
        )

    def history(self, *, limit: int = 20) -> list[HistoryEntry]:
        return self.store.history(self.project, limit=limit)


def _summary(plan: Plan) -> str:
    marks = {"add": "+", "update": "~", "delete": "-"}
    return "; ".join(f"{marks[c.action]}{c.key}" for c in plan.pending)
