"""A consistent set of definitions: names unique, every reference resolved and type-checked.

:meth:`Catalog.build` is what ``apply`` validates a feature repo with, and what the registry
rebuilds from stored specs; both paths meet the same checks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from skewless.definitions.base import Definition
from skewless.definitions.entity import Entity
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.field import Field
from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.reference import FeatureRef
from skewless.definitions.service import FeatureService
from skewless.definitions.source import Source
from skewless.errors import DefinitionError, NotFoundError

KINDS: tuple[str, ...] = ("entity", "source", "feature_view", "on_demand_feature_view", "feature_service")
AnyView = FeatureView | OnDemandFeatureView


@dataclass(frozen=True, order=True)
class ObjectKey:
    kind: str
    name: str
    version: int = 1

    def __str__(self) -> str:
        suffix = f"@v{self.version}" if self.kind in ("feature_view", "on_demand_feature_view") else ""
        return f"{self.kind.replace('_', ' ')} {self.name}{suffix}"


def key_of(obj: Definition) -> ObjectKey:
    return ObjectKey(obj.kind, obj.name, obj.version)


class Catalog:
    """Definitions by kind; build one with :meth:`build`."""

    def __init__(self, objects: dict[ObjectKey, Definition]) -> None:
        self._objects = dict(sorted(objects.items()))

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def build(cls, objects: Iterable[Definition]) -> Catalog:
        """Collect, resolve and check ``objects`` (and the objects they embed)."""
        problems: list[DefinitionError] = []
        collected = collect(objects, problems)
        entities = {k.name: o for k, o in collected.items() if isinstance(o, Entity)}
        for key, obj in list(collected.items()):
            if isinstance(obj, FeatureView) and any(isinstance(e, str) for e in obj.entities):
                try:
                    collected[key] = obj.with_entities([_entity(obj, e, entities) for e in obj.entities])
                except DefinitionError as exc:
                    problems.append(exc)
        catalog = cls(collected)
        problems.extend(catalog._check_references())
        if problems:
            if len(problems) == 1:
                raise problems[0]
            details = "\n".join(f"  - {p}" for p in problems)
            raise DefinitionError(f"{len(problems)} problems in the definitions:\n{details}")
        return catalog

    def _check_references(self) -> list[DefinitionError]:
        problems: list[DefinitionError] = []
        view_names = {k.name for k in self._objects if k.kind == "feature_view"}
        for key in self._objects:
            if key.kind == "on_demand_feature_view" and key.name in view_names:
                problems.append(
                    DefinitionError(
                        f"duplicate name: {key.name!r} is both a feature view and an on-demand feature view",
                        hint="feature references 'view:feature' need view names to be unique; rename one",
                    )
                )
        for odfv in self.on_demand_views():
            inputs: dict[str, str] = {f.name: f"request source {s.name!r}" for s in odfv.request_sources for f in s.schema}
            for ref in odfv.feature_refs:
                try:
                    self.resolve(ref)
                except (DefinitionError, NotFoundError) as exc:
                    problems.append(DefinitionError(f"{odfv.label}: {exc.message}", hint=exc.hint))
                    continue
                if ref.feature in inputs and inputs[ref.feature] != str(ref):
                    problems.append(
                        DefinitionError(
                            f"{odfv.label}: input {ref.feature!r} comes from both {inputs[ref.feature]} and {str(ref)!r}",
                            hint="read one of them; inputs are passed to the function by bare name",
                        )
                    )
                inputs[ref.feature] = str(ref)
        for service in self.services():
            for entry in service.entries:
                try:
                    view = self.view(entry.view, entry.version)
                except NotFoundError as exc:
                    problems.append(DefinitionError(f"{service.label}: {exc.message}", hint=exc.hint))
                    continue
                for feature in entry.features or ():
                    if feature not in view.feature_names:
                        problems.append(
                            DefinitionError(
                                f"{service.label}: {view.label} v{view.version} has no feature {feature!r}",
                                hint=_suggest(feature, view.feature_names),
                            )
                        )
        return problems

    # -- reading ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Definition]:
        return iter(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    def items(self) -> Iterator[tuple[ObjectKey, Definition]]:
        return iter(self._objects.items())

    def get(self, key: ObjectKey) -> Definition | None:
        return self._objects.get(key)

    def entities(self) -> list[Entity]:
        return [o for o in self._objects.values() if isinstance(o, Entity)]

    def sources(self) -> list[Source]:
        return [o for o in self._objects.values() if o.kind == "source"]  # type: ignore[misc]

    def feature_views(self) -> list[FeatureView]:
        return [o for o in self._objects.values() if isinstance(o, FeatureView)]

    def on_demand_views(self) -> list[OnDemandFeatureView]:
        return [o for o in self._objects.values() if isinstance(o, OnDemandFeatureView)]

    def services(self) -> list[FeatureService]:
        return [o for o in self._objects.values() if isinstance(o, FeatureService)]

    def versions(self, name: str) -> list[int]:
        return sorted(k.version for k in self._objects if k.name == name and k.kind in ("feature_view", "on_demand_feature_view"))

    def view(self, name: str, version: int | None = None) -> AnyView:
        """A feature view or on-demand view; ``version=None`` means the latest."""
        versions = self.versions(name)
        if not versions:
            names = sorted({k.name for k in self._objects if k.kind in ("feature_view", "on_demand_feature_view")})
            raise NotFoundError(f"no feature view named {name!r}", hint=_suggest(name, names))
        chosen = versions[-1] if version is None else version
        if chosen not in versions:
            raise NotFoundError(
                f"feature view {name!r} has no version {version}",
                hint=f"registered versions: {', '.join(f'v{v}' for v in versions)}",
            )
        kind = "feature_view" if ObjectKey("feature_view", name, chosen) in self._objects else "on_demand_feature_view"
        return self._objects[ObjectKey(kind, name, chosen)]  # type: ignore[return-value]

    def entity(self, name: str) -> Entity:
        obj = self._objects.get(ObjectKey("entity", name))
        if not isinstance(obj, Entity):
            raise NotFoundError(f"no entity named {name!r}", hint=_suggest(name, [e.name for e in self.entities()]))
        return obj

    def source(self, name: str) -> Source:
        obj = self._objects.get(ObjectKey("source", name))
        if obj is None:
            raise NotFoundError(f"no source named {name!r}", hint=_suggest(name, [s.name for s in self.sources()]))
        return obj  # type: ignore[return-value]

    def service(self, name: str) -> FeatureService:
        obj = self._objects.get(ObjectKey("feature_service", name))
        if not isinstance(obj, FeatureService):
            raise NotFoundError(f"no feature service named {name!r}", hint=_suggest(name, [s.name for s in self.services()]))
        return obj

    def resolve(self, ref: FeatureRef | str) -> tuple[AnyView, Field]:
        """The view (at its resolved version) and field a reference names."""
        ref = FeatureRef.parse(ref) if isinstance(ref, str) else ref
        view = self.view(ref.view, ref.version)
        for f in view.features:
            if f.name == ref.feature:
                return view, f
        raise NotFoundError(f"{view.label} v{view.version} has no feature {ref.feature!r}", hint=_suggest(ref.feature, view.feature_names))

    def service_refs(self, service: FeatureService | str) -> list[FeatureRef]:
        """Every feature of a service, pinned to the version it resolves to now."""
        service = self.service(service) if isinstance(service, str) else service
        refs: list[FeatureRef] = []
        for entry in service.entries:
            view = self.view(entry.view, entry.version)
            refs.extend(FeatureRef(view.name, f, view.version) for f in (entry.features or view.feature_names))
        return refs

    def dependents(self, view: AnyView) -> list[Definition]:
        """On-demand views and services that read ``view`` (at its version)."""
        users: list[Definition] = []
        for odfv in self.on_demand_views():
            if any(self.view(r.view, r.version) is view for r in odfv.feature_refs):
                users.append(odfv)
        for service in self.services():
            if any(self.view(e.view, e.version) is view for e in service.entries):
                users.append(service)
        return users


def collect(objects: Iterable[Definition], problems: list[DefinitionError]) -> dict[ObjectKey, Definition]:
    """Every object given, plus the entities, sources and views embedded in them, de-duplicated."""
    collected: dict[ObjectKey, Definition] = {}

    def add(obj: Definition) -> None:
        key = key_of(obj)
        existing = collected.get(key)
        if existing is None:
            collected[key] = obj
        elif existing is not obj and existing.comparable_spec() != obj.comparable_spec():
            problems.append(
                DefinitionError(
                    f"duplicate name: two different definitions of {key}",
                    hint="give each object its own name, or bump `version=` to keep both versions of a view",
                )
            )
            return
        for inner in _embedded(obj):
            add(inner)

    for obj in objects:
        if isinstance(obj, Definition):
            add(obj)
        else:
            problems.append(DefinitionError(f"{obj!r} is not a Skewless definition"))
    return collected


def _embedded(obj: Definition) -> list[Definition]:
    if isinstance(obj, FeatureView):
        return [*(e for e in obj.entities if isinstance(e, Entity)), obj.source]
    if isinstance(obj, OnDemandFeatureView):
        return [*obj.request_sources, *(s for s in obj.sources if isinstance(s, FeatureView))]
    if isinstance(obj, FeatureService):
        return [s for s in obj.features if isinstance(s, (FeatureView, OnDemandFeatureView))]
    return []


def _entity(view: FeatureView, entity: Entity | str, entities: Mapping[str, Definition]) -> Entity:
    if isinstance(entity, Entity):
        return entity
    found = entities.get(entity)
    if not isinstance(found, Entity):
        raise DefinitionError(f"{view.label}: unknown entity {entity!r}", hint=_suggest(entity, list(entities), what="an entity"))
    return found


def _suggest(name: str, choices: Iterable[str], *, what: str = "") -> str:
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    if not choices:
        return f"define {what or 'it'} first" if what else "nothing of that kind is defined yet"
    return f"choose from {', '.join(choices)}"
