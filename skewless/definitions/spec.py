"""Rebuild definitions from the JSON specs the registry stores."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from skewless.definitions.base import Definition
from skewless.definitions.catalog import KINDS
from skewless.definitions.entity import Entity
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.service import FeatureService
from skewless.definitions.source import BatchSource, RequestSource, StreamSource, source_from_spec


def objects_from_specs(specs: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Definition]:
    """Definitions from ``(kind, spec)`` pairs, built in dependency order."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind in KINDS}
    for kind, spec in specs:
        by_kind[kind].append(spec)
    entities = {s["name"]: Entity.from_spec(s) for s in by_kind["entity"]}
    sources = {s["name"]: source_from_spec(s) for s in by_kind["source"]}
    event_sources = {n: s for n, s in sources.items() if isinstance(s, (BatchSource, StreamSource))}
    request_sources = {n: s for n, s in sources.items() if isinstance(s, RequestSource)}
    views = [FeatureView.from_spec(s, entities=entities, sources=event_sources) for s in by_kind["feature_view"]]
    odfvs = [OnDemandFeatureView.from_spec(s, request_sources=request_sources) for s in by_kind["on_demand_feature_view"]]
    services = [FeatureService.from_spec(s) for s in by_kind["feature_service"]]
    return [*entities.values(), *sources.values(), *views, *odfvs, *services]
