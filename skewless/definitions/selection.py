"""What a retrieval asks for, resolved against a catalog: the one plan offline and online share.

``select_features(catalog, ["user_engagement:clicks_1h", "user_article_cross:embedding_cosine"])``
names every view to read, the features each must produce (including the inputs on-demand
features need but nobody asked to see), the join keys and request values the caller must send,
and the output column of each requested feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skewless.definitions.catalog import Catalog
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.reference import FeatureRef
from skewless.definitions.service import FeatureService
from skewless.definitions.types import DType
from skewless.errors import DefinitionError


@dataclass(frozen=True)
class ViewSelection:
    view: FeatureView
    features: tuple[str, ...]  # every feature to compute, requested or needed by an on-demand view

    @property
    def internal_prefix(self) -> str:
        return f"{self.view.name}_v{self.view.version}"

    def column(self, feature: str) -> str:
        """The engine-internal column name of a feature, unique across views and versions."""
        return f"{self.internal_prefix}__{feature}"


@dataclass(frozen=True)
class OnDemandInput:
    """A feature an on-demand function reads: its argument name, engine column and type."""

    name: str
    internal: str
    dtype: DType


@dataclass(frozen=True)
class OnDemandSelection:
    view: OnDemandFeatureView
    features: tuple[str, ...]
    inputs: tuple[OnDemandInput, ...]

    def column(self, feature: str) -> str:
        return f"{self.view.name}_v{self.view.version}__{feature}"


@dataclass(frozen=True)
class OutputColumn:
    ref: FeatureRef  # pinned to a version
    name: str  # the column the caller sees
    internal: str  # the engine's column
    dtype: DType


@dataclass(frozen=True)
class FeatureSelection:
    views: tuple[ViewSelection, ...]
    on_demand: tuple[OnDemandSelection, ...]
    outputs: tuple[OutputColumn, ...]
    join_keys: dict[str, DType]
    request_fields: dict[str, DType]

    def view_column(self, ref: FeatureRef) -> str:
        for selection in self.views:
            if selection.view.name == ref.view and selection.view.version == ref.version:
                return selection.column(ref.feature)
        raise KeyError(str(ref))


def select_features(
    catalog: Catalog, features: Sequence[str] | FeatureService | str, *, full_feature_names: bool = False
) -> FeatureSelection:
    """Resolve ``features`` (``"view:feature"`` names or a service) into a :class:`FeatureSelection`."""
    if isinstance(features, str):
        refs = catalog.service_refs(features) if ":" not in features else [FeatureRef.parse(features)]
    elif isinstance(features, FeatureService):
        refs = catalog.service_refs(features)
    else:
        if not features:
            raise DefinitionError("no features requested", hint="pass 'view:feature' names or a feature service")
        refs = [FeatureRef.parse(f) for f in features]
    pinned: list[tuple[FeatureRef, DType]] = []
    for ref in refs:
        view, field = catalog.resolve(ref)
        pinned.append((FeatureRef(view.name, ref.feature, view.version), field.dtype))
    pinned = list(dict.fromkeys(pinned))

    needed: dict[tuple[str, int], dict[str, None]] = {}
    on_demand: dict[tuple[str, int], dict[str, None]] = {}
    request_fields: dict[str, DType] = {}
    for ref, _ in pinned:
        view = catalog.view(ref.view, ref.version)
        if isinstance(view, OnDemandFeatureView):
            on_demand.setdefault((view.name, view.version), {})[ref.feature] = None
            for source in view.request_sources:
                request_fields.update(source.columns)
            for dep in view.feature_refs:
                dep_view, _ = catalog.resolve(dep)
                needed.setdefault((dep_view.name, dep_view.version), {})[dep.feature] = None
        else:
            needed.setdefault((view.name, view.version), {})[ref.feature] = None

    views = []
    join_keys: dict[str, DType] = {}
    for (name, version), feats in needed.items():
        view = catalog.view(name, version)
        if not isinstance(view, FeatureView):
            raise DefinitionError(f"on-demand view {name!r} reads another on-demand view", hint="read feature views only")
        views.append(ViewSelection(view, tuple(feats)))
        for entity in view.entities:
            assert not isinstance(entity, str)  # catalogs hold resolved entities
            join_keys.update({key: entity.dtype for key in entity.join_keys})
    odfvs = []
    for (name, version), feats in on_demand.items():
        odfv = catalog.view(name, version)
        assert isinstance(odfv, OnDemandFeatureView)  # keyed from on-demand views above
        inputs = []
        for dep in odfv.feature_refs:
            dep_view, field = catalog.resolve(dep)
            inputs.append(OnDemandInput(dep.feature, f"{dep_view.name}_v{dep_view.version}__{dep.feature}", field.dtype))
        odfvs.append(OnDemandSelection(odfv, tuple(feats), tuple(inputs)))

    outputs = []
    seen: dict[str, FeatureRef] = {}
    for ref, dtype in pinned:
        name = f"{ref.view}__{ref.feature}" if full_feature_names else ref.feature
        if name in seen:
            raise DefinitionError(
                f"two requested features would both be named {name!r}: {seen[name]} and {ref}",
                hint="pass full_feature_names=True to name columns view__feature",
            )
        seen[name] = ref
        internal = f"{ref.view}_v{ref.version}__{ref.feature}"
        outputs.append(OutputColumn(ref, name, internal, dtype))
    return FeatureSelection(tuple(views), tuple(odfvs), tuple(outputs), join_keys, request_fields)
