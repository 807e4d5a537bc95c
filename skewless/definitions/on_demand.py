"""On-demand features: a vectorized Python function over request values and other features.

The function receives a mapping from input name to a NumPy array (one element per row;
embeddings as 2-D float32 arrays) and returns a mapping from output name to an array. The same
function runs for training sets and for serving, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import inspect
import sys
import sysconfig
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import cloudpickle

from skewless.definitions.base import Definition, check_version
from skewless.definitions.feature_view import FeatureView, FeatureViewProjection
from skewless.definitions.field import Field, check_fields, fields_from_spec, fields_spec
from skewless.definitions.reference import FeatureRef
from skewless.definitions.source import RequestSource
from skewless.errors import DefinitionError

Udf = Callable[[Mapping[str, Any]], Mapping[str, Any]]
OnDemandInput = FeatureView | FeatureViewProjection | RequestSource | str


@dataclass(frozen=True, kw_only=True, eq=False)
class OnDemandFeatureView(Definition):
    """Features computed at request time (and identically at training time).

    Args:
        sources: RequestSource objects, FeatureView objects (all their features), ``view[["a"]]``
            projections, or ``"view:feature"`` references.
        schema: the output features.
        udf: ``f(inputs: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]``.
    """

    kind: ClassVar[str] = "on_demand_feature_view"

    sources: Sequence[OnDemandInput]
    schema: Sequence[Field]
    udf: Udf
    version: int = 1  # type: ignore[assignment]
    udf_source: str = ""  # read from the function when empty; kept as text so plans can diff it

    def __post_init__(self) -> None:
        super().__post_init__()
        check_version(self.version, label=self.label)
        if not callable(self.udf):
            raise DefinitionError(f"{self.label}: udf must be a function, got {self.udf!r}")
        if not self.udf_source:
            object.__setattr__(self, "udf_source", _source_of(self.udf))
        object.__setattr__(self, "schema", check_fields(self.schema, owner=self.label))
        if not self.schema:
            raise DefinitionError(f"{self.label}: schema is empty", hint="list the output features as Field objects")
        sources = tuple(self.sources) if isinstance(self.sources, (list, tuple)) else (self.sources,)
        request: list[RequestSource] = []
        refs: list[FeatureRef] = []
        for item in sources:
            if isinstance(item, RequestSource):
                request.append(item)
            elif isinstance(item, FeatureView):
                refs.extend(FeatureRef(item.name, f, item.version) for f in item.feature_names)
            elif isinstance(item, FeatureViewProjection) and item.features is not None:
                refs.extend(FeatureRef(item.view, f, item.version) for f in item.features)
            elif isinstance(item, str):
                refs.append(FeatureRef.parse(item))
            else:
                raise DefinitionError(
                    f"{self.label}: unsupported source {item!r}",
                    hint="use RequestSource or FeatureView objects, view[['a']], or 'view:feature' strings",
                )
        if not sources:
            raise DefinitionError(f"{self.label}: sources is empty", hint="name the request values and features it reads")
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "_request_sources", tuple(request))
        object.__setattr__(self, "_feature_refs", tuple(dict.fromkeys(refs)))

    @property
    def request_sources(self) -> tuple[RequestSource, ...]:
        return self._request_sources  # type: ignore[attr-defined, no-any-return]

    @property
    def feature_refs(self) -> tuple[FeatureRef, ...]:
        return self._feature_refs  # type: ignore[attr-defined, no-any-return]

    @property
    def features(self) -> tuple[Field, ...]:
        return tuple(self.schema)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema)

    def __getitem__(self, features: Sequence[str]) -> FeatureViewProjection:
        chosen = tuple([features] if isinstance(features, str) else features)
        for name in chosen:
            if name not in self.feature_names:
                raise DefinitionError(f"{self.label} has no feature {name!r}", hint=f"choose from {', '.join(self.feature_names)}")
        return FeatureViewProjection(self.name, self.version, chosen)

    def comparable_spec(self) -> dict[str, Any]:
        """The spec without the pickled code, whose bytes vary between interpreters."""
        return self.to_spec(include_code=False)

    def to_spec(self, *, include_code: bool = True) -> dict[str, Any]:
        udf: dict[str, Any] = {"name": getattr(self.udf, "__name__", "udf"), "source": self.udf_source}
        if include_code:
            udf["pickle"] = base64.b64encode(_pickle_by_value(self.udf)).decode("ascii")
        return {
            "name": self.name,
            "version": self.version,
            "request_sources": [s.name for s in self.request_sources],
            "features": [str(r) for r in self.feature_refs],
            "schema": fields_spec(self.schema),
            "udf": udf,
            **self.metadata_spec(),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], *, request_sources: Mapping[str, RequestSource]) -> OnDemandFeatureView:
        missing = [n for n in spec["request_sources"] if n not in request_sources]
        if missing:
            raise DefinitionError(
                f"on demand feature view {spec['name']!r}: unknown request source {missing[0]!r}",
                hint="define the RequestSource, or keep it while a view reads it",
            )
        udf = cloudpickle.loads(base64.b64decode(spec["udf"]["pickle"]))
        return cls(
            name=spec["name"],
            version=spec["version"],
            sources=[request_sources[n] for n in spec["request_sources"]] + list(spec["features"]),
            schema=fields_from_spec(spec["schema"]),
            udf=udf,
            udf_source=spec["udf"]["source"],
            description=spec.get("description", ""),
            owner=spec.get("owner", ""),
            tags=spec.get("tags", {}),
        )


def on_demand_feature_view(
    *,
    sources: Sequence[OnDemandInput],
    schema: Sequence[Field],
    name: str | None = None,
    version: int = 1,
    description: str = "",
    owner: str = "",
    tags: Mapping[str, str] | None = None,
) -> Callable[[Udf], OnDemandFeatureView]:
    """Decorator form, as in Feast: ``@on_demand_feature_view(sources=[...], schema=[...])``."""

    def wrap(udf: Udf) -> OnDemandFeatureView:
        return OnDemandFeatureView(
            name=name or udf.__name__,
            sources=sources,
            schema=schema,
            udf=udf,
            version=version,
            description=description or (inspect.getdoc(udf) or ""),
            owner=owner,
            tags=tags or {},
        )

    return wrap


def _source_of(udf: Udf) -> str:
    try:
        return textwrap.dedent(inspect.getsource(udf))
    except (OSError, TypeError):
        return f"<source unavailable: {getattr(udf, '__qualname__', repr(udf))}>"


def _pickle_by_value(udf: Udf) -> bytes:
    """Pickle user code by value so servers can run it without the repo on their path."""
    module = sys.modules.get(getattr(udf, "__module__", "") or "")
    by_value = module is not None and module.__name__ != "__main__" and not _is_installed(module)
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        payload: bytes = cloudpickle.dumps(udf)
        return payload
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _is_installed(module: Any) -> bool:
    path = getattr(module, "__file__", None) or ""
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
    return not path or any(path.startswith(root) for root in roots)
