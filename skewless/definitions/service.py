"""Feature services: the exact set of features one model asks for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from skewless.definitions.base import Definition
from skewless.definitions.feature_view import FeatureView, FeatureViewProjection
from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.reference import FeatureRef
from skewless.errors import DefinitionError

ServiceItem = FeatureView | OnDemandFeatureView | FeatureViewProjection | str


@dataclass(frozen=True)
class ServiceEntry:
    """Features of one view in a service; ``features=None`` means all of them."""

    view: str
    version: int | None
    features: tuple[str, ...] | None

    def to_spec(self) -> dict[str, Any]:
        return {"view": self.view, "version": self.version, "features": None if self.features is None else list(self.features)}


@dataclass(frozen=True, kw_only=True, eq=False)
class FeatureService(Definition):
    """``FeatureService(name="ranker_v1", features=[user_stats, article_meta[["category"]], "ctx:hour"])``.

    Views given as objects are pinned to their version; ``"view:feature"`` strings follow the
    latest version unless written ``"view@v2:feature"``.
    """

    kind: ClassVar[str] = "feature_service"

    features: Sequence[ServiceItem]

    def __post_init__(self) -> None:
        super().__post_init__()
        items = (self.features,) if isinstance(self.features, (str, FeatureView, OnDemandFeatureView)) else tuple(self.features)
        if not items:
            raise DefinitionError(f"{self.label}: features is empty", hint="list the views or 'view:feature' names the model uses")
        entries: list[ServiceEntry] = []
        for item in items:
            if isinstance(item, (FeatureView, OnDemandFeatureView)):
                entries.append(ServiceEntry(item.name, item.version, None))
            elif isinstance(item, FeatureViewProjection):
                entries.append(ServiceEntry(item.view, item.version, item.features))
            elif isinstance(item, str):
                ref = FeatureRef.parse(item)
                entries.append(ServiceEntry(ref.view, ref.version, (ref.feature,)))
            else:
                raise DefinitionError(
                    f"{self.label}: unsupported entry {item!r}",
                    hint="use FeatureView objects, view[['a', 'b']] or 'view:feature' strings",
                )
        object.__setattr__(self, "features", items)
        object.__setattr__(self, "_entries", _merge(entries))

    @property
    def entries(self) -> tuple[ServiceEntry, ...]:
        return self._entries  # type: ignore[attr-defined, no-any-return]

    def to_spec(self) -> dict[str, Any]:
        return {"name": self.name, "features": [e.to_spec() for e in self.entries], **self.metadata_spec()}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureService:
        items = [
            FeatureViewProjection(e["view"], e["version"], None if e["features"] is None else tuple(e["features"]))
            for e in spec["features"]
        ]
        return cls(
            name=spec["name"],
            features=items,
            description=spec.get("description", ""),
            owner=spec.get("owner", ""),
            tags=spec.get("tags", {}),
        )


def _merge(entries: list[ServiceEntry]) -> tuple[ServiceEntry, ...]:
    """Group per (view, version), keeping first-seen order and dropping repeats."""
    merged: dict[tuple[str, int | None], tuple[str, ...] | None] = {}
    for e in entries:
        key = (e.view, e.version)
        if e.features is None or merged.get(key, ()) is None:
            merged[key] = None
        else:
            merged[key] = tuple(dict.fromkeys((merged.get(key) or ()) + (e.features or ())))
    return tuple(ServiceEntry(view, version, feats) for (view, version), feats in merged.items())
