from pathlib import Path

import pytest

from skewless.config import RedisClusterOnlineStoreConfig, load_config
from skewless.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "skewless.yaml"
    path.write_text(text)
    return path


def test_project_alone_is_a_valid_file_with_embedded_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "project: news\n"))
    assert config.project == "news"
    assert config.registry.path == "data/registry.db" and config.registry.url is None
    assert config.online_store.type == "embedded"
    assert config.offline_store.engine == "duckdb"


def test_full_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASS", "s3cret")
    config = load_config(
        write(
            tmp_path,
            """
project: news
registry: postgresql://feast:${PGPASS}@db:5432/registry
offline_store: {path: /lake, engine: spark}
online_store:
  type: redis-cluster
  addresses: ["10.0.0.1:7000", "10.0.0.2:7000"]
serving: {port: 8080, workers: 4, store_timeout_ms: 20, cache_staleness_ms: 500}
""",
        )
    )
    assert config.registry.url == "postgresql://feast:s3cret@db:5432/registry"
    assert isinstance(config.online_store, RedisClusterOnlineStoreConfig)
    assert config.online_store.addresses == ["10.0.0.1:7000", "10.0.0.2:7000"]
    assert config.serving.workers == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("project: news\nonlin_store: {}\n", ["onlin_store: unknown key (did you mean 'online_store'?)", "allowed keys here:"]),
        (
            "project: news\nonline_store: {type: mongo}\n",
            ["online_store.type: 'mongo' is not one of 'embedded', 'redis', 'redis-cluster'"],
        ),
        ("project: news\nonline_store: {type: redis, adresses: []}\n", ["online_store.adresses: unknown key", "url"]),
        ("project: news\noffline_store: {engine: pandas}\n", ["offline_store.engine", "'duckdb' or 'spark'"]),
        ("project: news\nonline_store: {type: redis-cluster, addresses: [localhost]}\n", ["not host:port"]),
        ("project: news\nserving: {port: 0}\n", ["serving.port"]),
        ("registry: x.db\n", ["project: required key is missing"]),
        ("project: my-news\n", ["project: String should match pattern"]),
        ("project: [unclosed\n", ["not valid YAML"]),
        ("- just\n- a list\n", ["expected a mapping"]),
        ("project: news\nregistry: ${NOT_SET_ANYWHERE}\n", ["environment variable NOT_SET_ANYWHERE is not set"]),
    ],
)
def test_malformed_files_name_the_file_key_and_allowed_values(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, message


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="skewless init"):
        load_config(tmp_path)
