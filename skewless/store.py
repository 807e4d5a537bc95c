"""``FeatureStore``: the thin facade a data scientist starts from.

It only wires components together (config, registry, and in later layers the offline and online
stores); each capability lives in its own module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from skewless.config import CONFIG_FILE, RepoConfig, load_config
from skewless.definitions.base import Definition
from skewless.definitions.catalog import AnyView, ObjectKey
from skewless.definitions.entity import Entity
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.service import FeatureService
from skewless.definitions.source import Source
from skewless.errors import DefinitionError
from skewless.registry.plan import Mode, Plan
from skewless.registry.registry import ApplyResult, Registry
from skewless.registry.sql import SqlRegistryStore, sqlalchemy_url
from skewless.repo import load_definitions

if TYPE_CHECKING:
    from skewless.offline.tables import OfflineTables, WriteResult
    from skewless.offline.training_sets import TrainingSet, TrainingSets
    from skewless.online.client import OnlineFeatures
    from skewless.online.materialize import MaterializeResult
    from skewless.online.retrieval import OnlineResponse
    from skewless.online.skew_check import FeatureSkew
    from skewless.streaming.backfill import BackfillResult
    from skewless.streaming.push import EventSink, PushResult
    from skewless.streaming.redis_bus import RedisStreamBus
    from skewless.streaming.worker import StreamWorker


def convert_table(table: Any, output: str) -> Any:
    """An Arrow table as pandas (default), Arrow or polars."""
    if output == "arrow":
        return table
    if output == "polars":
        import polars

        return polars.from_arrow(table)
    if output == "pandas":
        return table.to_pandas()
    raise DefinitionError(f"unknown output {output!r}", hint="use 'pandas', 'arrow' or 'polars'")


_VERSIONED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)@v(\d+)$")


class FeatureStore:
    """A feature repo: ``FeatureStore("path/to/repo")`` reads its ``skewless.yaml``.

    >>> store = FeatureStore("examples/newsfeed")   # doctest: +SKIP
    >>> store.apply()                               # doctest: +SKIP
    """

    def __init__(self, repo_path: str | Path = ".", *, config: RepoConfig | None = None) -> None:
        self.repo_path = Path(repo_path).resolve()
        self.config = config if config is not None else load_config(self.repo_path / CONFIG_FILE)
        self._registry: Registry | None = None
        self._offline_tables: OfflineTables | None = None
        self._online: OnlineFeatures | None = None

    @property
    def project(self) -> str:
        return self.config.project

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            settings = self.config.registry
            url = sqlalchemy_url(settings.url or settings.path, base=self.repo_path)
            self._registry = Registry(SqlRegistryStore(url), self.project)
        return self._registry

    # -- definitions ----------------------------------------------------------------------

    def definitions(self) -> list[Definition]:
        """The definitions declared in the repo's Python files."""
        return load_definitions(self.repo_path)

    def plan(self, objects: Iterable[Definition] | None = None, *, delete: Iterable[str | ObjectKey] = ()) -> Plan:
        """What :meth:`apply` would change. ``objects=None`` plans the whole repo (objects it no
        longer declares are deleted); given objects are only added or updated."""
        mode: Mode = "sync" if objects is None else "upsert"
        return self.registry.plan(self.definitions() if objects is None else objects, mode=mode, delete=self._keys(delete))

    def apply(self, objects: Iterable[Definition] | None = None, *, delete: Iterable[str | ObjectKey] = ()) -> ApplyResult:
        """Commit the plan. Incompatible changes are refused with a hint on how to version them."""
        mode: Mode = "sync" if objects is None else "upsert"
        return self.registry.apply(self.definitions() if objects is None else objects, mode=mode, delete=self._keys(delete))

    def _keys(self, refs: Iterable[str | ObjectKey]) -> list[ObjectKey]:
        return [ref if isinstance(ref, ObjectKey) else self.object_key(ref) for ref in refs]

    def object_key(self, ref: str) -> ObjectKey:
        """``"view@v1"`` -> the registered view (or on-demand view) at that version."""
        match = _VERSIONED.match(ref)
        if not match:
            raise DefinitionError(f"{ref!r} does not name a version", hint="write NAME@vN, e.g. user_engagement@v1")
        view = self.registry.snapshot().catalog.view(match.group(1), int(match.group(2)))
        return ObjectKey(view.kind, view.name, view.version)

    # -- reading the registry ------------------------------------------------------------------

    def list_entities(self) -> list[Entity]:
        return self.registry.snapshot().catalog.entities()

    def list_sources(self) -> list[Source]:
        return self.registry.snapshot().catalog.sources()

    def list_feature_views(self) -> list[FeatureView]:
        return self.registry.snapshot().catalog.feature_views()

    def list_on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self.registry.snapshot().catalog.on_demand_views()

    def list_feature_services(self) -> list[FeatureService]:
        return self.registry.snapshot().catalog.services()

    def get_feature_view(self, name: str, version: int | None = None) -> AnyView:
        return self.registry.snapshot().catalog.view(name, version)

    def get_feature_service(self, name: str) -> FeatureService:
        return self.registry.snapshot().catalog.service(name)

    def get_entity(self, name: str) -> Entity:
        return self.registry.snapshot().catalog.entity(name)

    # -- offline store ---------------------------------------------------------------------------

    @property
    def offline_tables(self) -> OfflineTables:
        """The Delta tables of the sources, under ``offline_store.path``."""
        if self._offline_tables is None:
            from skewless.offline.tables import OfflineTables

            settings = self.config.offline_store
            self._offline_tables = OfflineTables(self.repo_path / settings.path, time_travel_hours=settings.time_travel_hours)
        return self._offline_tables

    def write_to_offline_store(self, source: str | Source, data: Any) -> WriteResult:
        """Validate rows of a registered source and append them in one atomic commit.

        ``data`` is a pandas or polars DataFrame or a pyarrow Table with the source's columns.
        Join keys of the entities read from the source, and its timestamp and event id, must
        not be null; a :class:`~skewless.errors.DataValidationError` lists the rows that are.
        """
        from skewless.offline.ingest import resolve_write_target

        target, key_columns = resolve_write_target(self.registry.snapshot().catalog, source)
        return self.offline_tables.append(target, data, key_columns=key_columns)

    def get_historical_features(
        self,
        entity_df: Any,
        features: Sequence[str] | FeatureService | str,
        *,
        full_feature_names: bool = False,
        output: Literal["pandas", "arrow", "polars"] = "pandas",
    ) -> Any:
        """Point-in-time-correct features for each row of ``entity_df``.

        ``entity_df`` holds the join keys, an ``event_timestamp`` (the time each row's features are
        wanted as of) and anything else, e.g. labels; it comes back with its rows, order and
        duplicates kept and one column per feature. ``features`` are ``"view:feature"`` names or a
        feature service. See docs/offline.md for the exact semantics.
        """
        from skewless.offline.retrieval import historical_features

        table = historical_features(
            self.registry.snapshot().catalog,
            self.offline_tables,
            self._offline_engine(),
            entity_df,
            features,
            full_feature_names=full_feature_names,
        )
        return convert_table(table, output)

    @property
    def training_sets(self) -> TrainingSets:
        """Create, list, read and rebuild reproducible training sets."""
        from skewless.offline.training_sets import TrainingSets

        return TrainingSets(self.offline_tables, self.registry, self._offline_engine())

    def create_training_set(
        self,
        name: str,
        entity_df: Any,
        features: Sequence[str] | FeatureService | str,
        *,
        full_feature_names: bool = False,
        overwrite: bool = False,
        progress: bool = False,
    ) -> TrainingSet:
        """Compute features for ``entity_df``, store them as a table, and record how to rebuild them
        exactly; ``progress=True`` draws a bar per source read (``skewless training-set create`` does)."""
        return self.training_sets.create(
            name, entity_df, features, full_feature_names=full_feature_names, overwrite=overwrite, progress=progress
        )

    # -- online store ----------------------------------------------------------------------------

    @property
    def online(self) -> OnlineFeatures:
        """Online retrieval over the configured online store (embedded by default)."""
        if self._online is None:
            from skewless.online.client import OnlineFeatures, open_online_store

            store = open_online_store(self.config.online_store, repo_path=self.repo_path, timeout_ms=self.config.serving.store_timeout_ms)
            self._online = OnlineFeatures(self.registry, store, refresh_seconds=self.config.registry.poll_interval_seconds)
        return self._online

    def get_online_features(
        self,
        features: Sequence[str] | FeatureService | str,
        entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        request_context: Mapping[str, Any] | None = None,
        *,
        full_feature_names: bool = False,
    ) -> OnlineResponse:
        """Latest feature values for entity rows, e.g. one user and 50 candidate articles:

        >>> store.get_online_features("ranker", [{"user_id": 7, "article_id": a} for a in slate],  # doctest: +SKIP
        ...                           request_context={"device": "ios"}).to_dict()
        """
        return self.online.get(features, entity_rows, request_context, full_feature_names=full_feature_names)

    def materialize(
        self, start: datetime, end: datetime, *, views: Sequence[str] | None = None, progress: bool = True
    ) -> list[MaterializeResult]:
        """Load the online store with the latest values from ``[start, end)`` of the offline store."""
        from skewless.online.materialize import to_us

        return self._materialize(lambda view: to_us(start), to_us(end), views, progress)

    def materialize_incremental(
        self, end: datetime | None = None, *, views: Sequence[str] | None = None, progress: bool = True
    ) -> list[MaterializeResult]:
        """Materialize each view from where its last run ended (its watermark) up to ``end`` (now)."""
        from skewless.online.materialize import to_us, watermark_us

        end_us = to_us(end or datetime.now(UTC))
        return self._materialize(lambda view: watermark_us(self.registry, view) or 0, end_us, views, progress)

    def _materialize(self, start_of: Any, end_us: int, views: Sequence[str] | None, progress: bool) -> list[MaterializeResult]:
        """Rows of snapshot views; tiles (a backfill) of windowed views."""
        from rich.progress import Progress

        from skewless.online.materialize import MaterializeResult, materialize_view, online_views
        from skewless.streaming.backfill import backfill

        catalog = self.registry.snapshot().catalog
        selected = online_views(catalog, views)
        results = []
        with Progress(disable=not progress) as bar:
            for view in selected:
                if view.is_aggregation:
                    continue
                results.append(
                    materialize_view(
                        view,
                        project=self.project,
                        catalog=catalog,
                        tables=self.offline_tables,
                        online=self.online.store,
                        registry=self.registry,
                        start_us=start_of(view),
                        end_us=end_us,
                        progress=bar,
                    )
                )
            windowed = [v.name for v in selected if v.is_aggregation]
            if windowed:
                for done in backfill(self.event_sink(), views=windowed, progress=bar):
                    results.append(MaterializeResult(f"{done.view}@v{done.version}", done.applied, 0, end_us))
        return results

    # -- streaming -------------------------------------------------------------------------------

    def push(self, source: str | Source, events: Any) -> PushResult:
        """Apply events of a stream source now: logged offline, then in the online tiles, so the next
        read sees them. Invalid and late events become dead letters (in the result and in
        ``<offline>/_dead_letters``); the valid events of the same call are still applied.

        >>> store.push("engagement", [{"user_id": 7, "article_id": 3, "clicked": 1, ...}])  # doctest: +SKIP
        """
        from skewless.streaming.push import push_events

        return push_events(self.event_sink(), source, events)

    def event_sink(self) -> EventSink:
        """Where events go: the offline tables, the online tiles and the dead-letter table."""
        from skewless.streaming.push import EventSink

        return EventSink.of(self)

    def backfill(self, *, views: Sequence[str] | None = None, progress: bool = True) -> list[BackfillResult]:
        """Build the online tiles of windowed views from the history in the offline store.

        Safe while stream workers run: an event counts once whichever applies it first.
        """
        from rich.progress import Progress

        from skewless.streaming.backfill import backfill

        with Progress(disable=not progress) as bar:
            return backfill(self.event_sink(), views=views, progress=bar)

    def skew_check(self, *, samples: int = 200, seed: int = 0, views: Sequence[str] | None = None) -> list[FeatureSkew]:
        """Online windowed values vs ``get_historical_features`` at sampled keys and times, per feature."""
        from skewless.online.skew_check import skew_check

        return skew_check(self, samples=samples, seed=seed, views=views)

    def event_bus(self, *, timeout_seconds: float = 30.0) -> RedisStreamBus:
        """The bus of ``streaming.bus_url`` (Redis Streams)."""
        from skewless.streaming.redis_bus import RedisStreamBus

        settings = self.config.streaming
        return RedisStreamBus(settings.bus_url, project=self.project, partitions=settings.partitions, timeout_seconds=timeout_seconds)

    def publish(self, source: str, events: Any) -> int:
        """Send events of a stream source to the bus, for ``skewless stream`` workers; returns the entries sent."""
        from skewless.streaming.push import as_records

        target = self.registry.snapshot().catalog.source(source)
        event_id = getattr(target, "event_id_field", None)
        bus = self.event_bus()
        try:
            return bus.publish(source, as_records(events), event_id_field=event_id)
        finally:
            bus.close()

    def stream_worker(self, source: str, partitions: Sequence[int]) -> StreamWorker:
        from skewless.streaming.worker import StreamWorker

        self.registry.snapshot().catalog.source(source)  # an unknown name fails here, with did-you-mean
        return StreamWorker(self.event_sink, self.event_bus(), source, partitions, batch_size=self.config.streaming.batch_size)

    def stream_status(self, *, timeout_seconds: float = 30.0) -> dict[str, list[dict[str, Any]]]:
        """Per stream source and partition: lag, worker counters, freshness, dead letters."""
        from skewless.streaming.status import stream_status

        return stream_status(self, timeout_seconds=timeout_seconds)

    def _offline_engine(self) -> Any:
        """The engine ``offline_store.engine`` names: DuckDB in-process, or Spark (``skewless[spark]``)."""
        if self.config.offline_store.engine == "spark":
            from skewless.offline.spark_engine import SparkEngine

            return SparkEngine()  # raises ConfigError naming the extra when pyspark is missing
        from skewless.offline.duckdb_engine import DuckDBEngine

        return DuckDBEngine.from_config(self.config.offline_store.duckdb, self.repo_path)

    def close(self) -> None:
        if self._online is not None:
            self._online.store.close()
            self._online = None
        if self._registry is not None:
            self._registry.store.close()
            self._registry = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
