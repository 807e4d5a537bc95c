"""``skewless.yaml``: typed, with embedded defaults for everything but the project name.

The smallest valid file is ``project: my_project``; it keeps the registry in a SQLite file, the
offline store in Delta tables under ``data/offline`` and the online store embedded, all inside
the repo. ``${VAR}`` in a value is replaced by that environment variable (for secrets in URLs).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from skewless.errors import ConfigError

CONFIG_FILE = "skewless.yaml"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistryConfig(_Config):
    """Where definitions live: a SQLite file (``path``) or a shared database (``url``)."""

    path: str = "data/registry.db"
    url: str | None = None
    poll_interval_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        # `registry: postgresql://...` or `registry: path/to/file.db` as a shorthand.
        if isinstance(value, str):
            return {"url": value} if "://" in value else {"path": value}
        return value


class DuckDBConfig(_Config):
    """What DuckDB may use to build training sets (``offline_store.engine: duckdb``).

    ``memory_limit``: DuckDB's buffer limit, as a size (``12GB``, ``500MiB``) or a share of RAM
    (``50%``). Past it, sorts, joins and aggregates spill to ``temp_directory`` (relative to the
    repo unless absolute) instead of growing until the process is killed. The finished training
    set (an Arrow table) and Python are outside the limit, hence 50% and not DuckDB's own 80%.
    ``threads``: default one per core.
    """

    memory_limit: str = Field(default="50%", pattern=r"^\s*\d+(\.\d+)?\s*(%|[KMGT]i?B|B)\s*$")
    temp_directory: str = "data/tmp/duckdb"
    threads: int | None = Field(default=None, ge=1)


class OfflineStoreConfig(_Config):
    """Delta tables, one per source, under ``path`` (relative to the repo).

    ``time_travel_hours``: how long replaced files are kept, so older versions stay readable;
    ``vacuum`` deletes files unreferenced for longer than this. ``duckdb``: see :class:`DuckDBConfig`.
    """

    path: str = "data/offline"
    engine: Literal["duckdb", "spark"] = "duckdb"
    time_travel_hours: int = Field(default=168, ge=0)
    duckdb: DuckDBConfig = DuckDBConfig()


class EmbeddedOnlineStoreConfig(_Config):
    """An LMDB file under ``path`` (relative to the repo).

    ``prefault``: a process's first read maps the whole file into its page tables, so no later read
    takes a page fault (0.15-1.8 s for an 8.3 GB file in the page cache; what is not in it is read
    first, sequentially, unless it is more than the available memory: then the file is left alone,
    with a warning). Turn it off for a process that reads a few keys of a large store once.

    ``read_cache_entries``: values a process keeps from one read to the next while no write has
    committed. Any commit, by any process, empties it, so it never gives a value the file no
    longer holds. A slate's hot articles are then dict lookups instead of B-tree walks. Rows are
    ~1.5 KB, so the default holds up to ~100 MB. 0 turns it off.
    """

    type: Literal["embedded"] = "embedded"
    path: str = "data/online"
    prefault: bool = True
    read_cache_entries: int = Field(default=65_536, ge=0)


class RedisOnlineStoreConfig(_Config):
    type: Literal["redis"]
    url: str = "redis://127.0.0.1:6379/0"


class RedisClusterOnlineStoreConfig(_Config):
    type: Literal["redis-cluster"]
    addresses: list[str] = Field(min_length=1, description="host:port of one or more cluster nodes")

    @field_validator("addresses")
    @classmethod
    def _host_port(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            if not re.fullmatch(r"[^:\s]+:\d{1,5}", address):
                raise ValueError(f"{address!r} is not host:port, e.g. '127.0.0.1:7000'")
        return addresses


OnlineStoreConfig = Annotated[
    EmbeddedOnlineStoreConfig | RedisOnlineStoreConfig | RedisClusterOnlineStoreConfig, Field(discriminator="type")
]


class ServingConfig(_Config):
    """``skewless serve``. Reads wait at most ``store_timeout_ms``; a store that failed is retried after
    ``store_retry_ms``. The cache serves rows read less than ``cache_staleness_ms`` ago (0: off), and,
    while the store is unavailable, rows read less than ``cache_fallback_ms`` ago with status CACHED.
    ``POST /rank`` scores candidates with the model pickled at ``rank_model`` (relative to the repo)
    on the features of ``rank_service``. ``log_sample_rate`` of the responses are logged, off the
    request path, to ``<offline>/_feature_log/<service or views>`` (training data from served values)."""

    host: str = "127.0.0.1"
    port: int = Field(default=6566, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    store_timeout_ms: int = Field(default=50, ge=1)
    store_retry_ms: int = Field(default=500, ge=1)
    cache_staleness_ms: int = Field(default=0, ge=0)
    cache_fallback_ms: int = Field(default=0, ge=0)
    cache_max_entries: int = Field(default=100_000, ge=1)
    max_rows: int = Field(default=1000, ge=1)
    rank_model: str | None = Field(default=None, description="a pickled model with predict(columns) -> scores, for POST /rank")
    rank_service: str = "ranker"
    log_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="share of responses logged to <offline>/_feature_log")


class StreamingConfig(_Config):
    """Events pushed or read from a bus, applied to the online tiles and the offline log.

    ``tile_history_seconds``: how far in the past windowed features can be read online with an
    explicit ``now`` (skew checks, replays); tiles are kept that much longer. Events more than
    ``max_future_seconds`` ahead of the clock, or larger than ``max_event_bytes`` as JSON, are
    dead letters. ``bus_url``: the Redis holding the event streams (Redis Streams), and
    ``partitions``: how many streams per source, the unit of parallelism of stream workers.
    ``batch_size``: the most events a worker takes from the bus at once. A worker takes what is
    waiting, so at a modest rate batches stay small; a large cap lets a worker that fell behind
    catch up, since each batch also pays a fixed ~100 ms (an offline log commit, a store commit).
    One worker measured 10k events/s with 1,000, 42k with 20,000 (docs/benchmarks.md).
    """

    tile_history_seconds: int = Field(default=3_600, ge=0)
    max_future_seconds: int = Field(default=300, ge=0)
    max_event_bytes: int = Field(default=64 * 1024, ge=256)
    bus_url: str = "redis://127.0.0.1:6379/0"
    partitions: int = Field(default=4, ge=1, le=1024)
    batch_size: int = Field(default=20_000, ge=1)


class RepoConfig(_Config):
    project: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    registry: RegistryConfig = RegistryConfig()
    offline_store: OfflineStoreConfig = OfflineStoreConfig()
    online_store: OnlineStoreConfig = EmbeddedOnlineStoreConfig()
    serving: ServingConfig = ServingConfig()
    streaming: StreamingConfig = StreamingConfig()


def load_config(path: str | Path) -> RepoConfig:
    """Read and validate a ``skewless.yaml``; errors name the file, the key and what is allowed."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"no {CONFIG_FILE} at {path.parent}", hint="run `skewless init NAME` to create a feature repo")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(raw).__name__}", hint="start with `project: my_project`")
    return parse_config(_expand_env(raw, path), source=str(path))


def parse_config(raw: dict[str, Any], *, source: str = CONFIG_FILE) -> RepoConfig:
    try:
        return RepoConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_explain(error, raw) for error in exc.errors()]
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(f"  - {line}" for line in lines)) from None


def _explain(error: Any, raw: dict[str, Any]) -> str:
    loc = [str(p) for p in error["loc"] if p not in ("embedded", "redis", "redis-cluster")]
    key = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], raw)
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{key}: unknown key{guess}; allowed keys here: {', '.join(allowed)}"
    if error["type"] == "union_tag_invalid":
        ctx = error["ctx"]
        return f"{key}.{ctx['discriminator'].strip(chr(39))}: {ctx['tag']!r} is not one of {ctx['expected_tags']}"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {error['msg']} (got {error.get('input')!r})"


def _allowed_keys(loc: list[str], raw: dict[str, Any]) -> list[str]:
    model: type[BaseModel] = RepoConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        if part == "online_store":
            kind = (raw.get("online_store") or {}).get("type", "embedded")
            annotation = {"redis": RedisOnlineStoreConfig, "redis-cluster": RedisClusterOnlineStoreConfig}.get(
                kind, EmbeddedOnlineStoreConfig
            )
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: Any, path: Path) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, path) for v in value]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"{path}: environment variable {name} is not set", hint=f"export {name}=... or edit the file")
            return os.environ[name]

        return _ENV.sub(substitute, value)
    return value
