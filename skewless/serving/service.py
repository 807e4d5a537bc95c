"""What the HTTP routes call: read plans kept current by a registry watcher, and guarded, cached reads.

No request touches the registry: a :class:`~skewless.registry.watch.RegistryWatcher` thread polls
the revision and, when it moves, swaps in the new snapshot with an empty plan table, so
definitions applied while the server runs are served by the next request that names them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from skewless.config import ServingConfig
from skewless.definitions.selection import select_features
from skewless.errors import InvalidRequestError
from skewless.online.protocol import OnlineStore
from skewless.online.read_plan import ReadPlan, compile_read_plan
from skewless.online.retrieval import OnlineResponse, PendingRead
from skewless.registry.registry import Registry, RegistrySnapshot
from skewless.registry.watch import RegistryWatcher
from skewless.serving import openapi
from skewless.serving.cache import CachedRead, RowCache
from skewless.serving.feast_format import FeatureRequest
from skewless.serving.guard import GuardedStore
from skewless.serving.metrics import Metrics
from skewless.serving.statuses import mark_degraded

MAX_PLANS: Final = 1024  # distinct feature lists kept compiled; the table starts over beyond
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
READY_PROBE_KEY: Final = b"sk:__ready__"


@dataclass(frozen=True)
class ServedPlan:
    plan: ReadPlan
    feature_set: str  # the metrics label: the service, or the views read
    columns: frozenset[str]  # the entity columns the request may send
    dtypes: dict[str, Any]  # output column -> DType
    latency: Any  # the histogram child of ``feature_set``


@dataclass(frozen=True)
class _State:
    snapshot: RegistrySnapshot
    plans: dict[tuple[Any, ...], ServedPlan]


class FeatureServer:
    def __init__(
        self,
        registry: Registry,
        store: OnlineStore,
        config: ServingConfig,
        *,
        metrics: Metrics,
        threaded_reads: bool,
        poll_interval_seconds: float = 1.0,
        version: str = "",
    ) -> None:
        self.project = registry.project
        self.config = config
        self.metrics = metrics
        self.version = version
        self.watcher = RegistryWatcher(registry, interval_seconds=poll_interval_seconds)
        self._state = _State(self.watcher.snapshot, {})
        self._openapi: tuple[int, dict[str, Any]] | None = None
        self.watcher.on_change(self._on_change)
        metrics.revision.set(self._state.snapshot.revision)
        self.store = GuardedStore(
            store,
            timeout_seconds=config.store_timeout_ms / 1000,
            retry_seconds=config.store_retry_ms / 1000,
            threaded=threaded_reads,
            on_error=metrics.store_error,
        )
        caching = config.cache_staleness_ms > 0 or config.cache_fallback_ms > 0
        self.cache = (
            RowCache(
                max_entries=config.cache_max_entries,
                staleness_seconds=config.cache_staleness_ms / 1000,
                fallback_seconds=config.cache_fallback_ms / 1000,
            )
            if caching
            else None
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        self.store.close()

    def _on_change(self, snapshot: RegistrySnapshot) -> None:  # on the watcher thread
        self._state = _State(snapshot, {})
        self.metrics.revision.set(snapshot.revision)

    @property
    def revision(self) -> int:
        return self._state.snapshot.revision

    # -- reading ---------------------------------------------------------------------------

    def plan(self, request: FeatureRequest) -> ServedPlan:
        state = self._state
        key = (request.feature_service, request.features, request.full_feature_names)
        served = state.plans.get(key)
        if served is None:
            catalog = state.snapshot.catalog
            wanted = catalog.service(request.feature_service) if request.feature_service is not None else list(request.features or ())
            selection = select_features(catalog, wanted, full_feature_names=request.full_feature_names)
            plan = compile_read_plan(self.project, selection)
            views = sorted({v.view.name for v in plan.views} | {o.view.name for o in selection.on_demand})
            label = request.feature_service or ",".join(views)
            served = ServedPlan(
                plan,
                label,
                frozenset(selection.join_keys) | frozenset(selection.request_fields),
                {o.name: o.dtype for o in selection.outputs},
                self.metrics.request_latency(label),
            )
            if len(state.plans) >= MAX_PLANS:
                state.plans.clear()
            state.plans[key] = served
        return served

    def read(self, request: FeatureRequest, *, now_us: int | None = None) -> tuple[ServedPlan, OnlineResponse]:
        served, pending, reader = self._begin(request, now_us)
        fetched = reader.read(pending.keys, pending.field_reads)
        more = pending.tile_reads(fetched)
        tiles = reader.read([], more)[1] if more else None
        return served, _marked(served, request, pending.finish(fetched, request.request_context, tiles), reader)

    async def read_async(self, request: FeatureRequest, *, now_us: int | None = None) -> tuple[ServedPlan, OnlineResponse]:
        """:meth:`read` for the event loop: while Redis answers, the worker serves other requests."""
        served, pending, reader = self._begin(request, now_us)
        fetched = await reader.read_async(pending.keys, pending.field_reads)
        more = pending.tile_reads(fetched)
        tiles = (await reader.read_async([], more))[1] if more else None
        return served, _marked(served, request, pending.finish(fetched, request.request_context, tiles), reader)

    def _begin(self, request: FeatureRequest, now_us: int | None) -> tuple[ServedPlan, PendingRead, CachedRead]:
        served = self.plan(request)
        _check_columns(served, request)
        reader = CachedRead(self.store, self.cache, on_lookup=self.metrics.cache_lookup, on_read=self.metrics.store_latency.observe)
        now = time.time_ns() // 1000 if now_us is None else now_us
        return served, PendingRead.of(served.plan, request.entities, now_us=now), reader

    def ready(self) -> str | None:
        """None when ready, else why not."""
        if not self.store.available:
            return "the online store failed recently; it is being retried"
        try:
            self.store.get_many([READY_PROBE_KEY])
        except Exception as exc:
            return f"the online store does not answer: {exc}"
        return None

    def openapi(self) -> dict[str, Any]:
        state, cached = self._state, self._openapi
        if cached is None or cached[0] != state.snapshot.revision:
            doc = openapi.document(
                state.snapshot.catalog, revision=state.snapshot.revision, max_rows=self.config.max_rows, version=self.version
            )
            self._openapi = cached = (state.snapshot.revision, doc)
        return cached[1]


def _marked(served: ServedPlan, request: FeatureRequest, response: OnlineResponse, reader: CachedRead) -> OnlineResponse:
    """Statuses of what the store could not give (see :mod:`skewless.serving.statuses`)."""
    if reader.degraded:
        mark_degraded(served.plan, request.entities, response, reader.cached, reader.unavailable)
    return response


def _check_columns(served: ServedPlan, request: FeatureRequest) -> None:
    """Entity columns the selection does not use are refused (a typo must not pass silently), and
    integers must fit Int64 (they are echoed back, and no stored key can be larger)."""
    plan = served.plan
    for name, column in request.entities.items():
        if name not in served.columns:
            expected = ", ".join(repr(c) for c in sorted(served.columns)) or "none"
            raise InvalidRequestError(f"unknown entity column {name!r} for these features", hint=f"columns these features use: {expected}")
        _check_ints(column, f"entities[{name!r}]")
    context = request.request_context or {}
    for name, value in context.items():
        dtype = plan.selection.request_fields.get(name)
        if dtype is None:
            fields = ", ".join(repr(f) for f in plan.selection.request_fields) or "none"
            raise InvalidRequestError(
                f"unknown request value {name!r} for these features", hint=f"request values these features use: {fields}"
            )
        if isinstance(value, list) and dtype.is_scalar and len(value) != request.rows:
            raise InvalidRequestError(
                f"request_context[{name!r}] has {len(value)} values for {request.rows} rows", hint="give one value, or one per row"
            )
        _check_ints(value, f"request_context[{name!r}]")


def _check_ints(value: Any, where: str) -> None:
    items = value if isinstance(value, list) else [value]
    types = set(map(type, items))  # a column at a time, in C: a per-value test cost ~40 µs a slate
    if int not in types and list not in types:
        return
    if list not in types:
        ints = items if len(types) == 1 else [item for item in items if type(item) is int]
        if min(ints) >= INT64_MIN and max(ints) <= INT64_MAX:
            return
    for i, item in enumerate(items):  # the first offender, in order
        if type(item) is int and not INT64_MIN <= item <= INT64_MAX:
            raise InvalidRequestError(f"{where} value {item} in row {i} does not fit a 64-bit integer")
        if isinstance(item, list):
            _check_ints(item, where)
