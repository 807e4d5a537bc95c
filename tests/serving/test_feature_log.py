"""Served feature vectors, logged off the hot path, come back as training data joined to labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from skewless.errors import OfflineStoreError
from skewless.serving.feature_log import FeatureLogger, read_feature_log, training_data_from_log


def test_logged_responses_are_written_and_joined_to_labels(tmp_path: Path) -> None:
    logger = FeatureLogger(tmp_path, sample_rate=1.0)
    ids = []
    for r in range(3):
        columns = {
            "user_id": [r, r, r],
            "article_id": [10, 11, 12],
            "clicks_1h": [r, None, 2 * r],
            "embedding": np.arange(6, dtype=np.float32).reshape(3, 2) + r,
        }
        ids.append(logger.log("ranker", columns))
    logger.log("other", {"user_id": [5], "score": [0.5]})
    logger.flush()
    assert None not in ids and logger.dropped == 0 and logger.logged_rows == 10
    logged = read_feature_log(tmp_path, "ranker")
    assert logged.num_rows == 9 and sorted(set(logged.column("request_id").to_pylist())) == sorted(ids)
    labels = pa.table({"request_id": [ids[1], ids[2]], "user_id": [1, 2], "article_id": [12, 10], "clicked": [1, 0]})
    data = training_data_from_log(tmp_path, "ranker", labels, on=["user_id", "article_id"]).sort_by("user_id").to_pylist()
    assert [(d["clicked"], d["clicks_1h"], d["embedding"]) for d in data] == [(1, 2, [5.0, 6.0]), (0, 2, [2.0, 3.0])]


def test_sampling_and_a_full_queue_never_block(tmp_path: Path) -> None:
    assert FeatureLogger(tmp_path, sample_rate=0.0).log("ranker", {"user_id": [1]}) is None
    logger = FeatureLogger(tmp_path, sample_rate=1.0, queue_size=1, flush_seconds=60)
    results = [logger.log("ranker", {"user_id": [i]}) for i in range(200)]
    assert logger.dropped > 0 and results.count(None) == logger.dropped  # dropped, not waited for
    logger.flush()


def test_reading_a_log_that_does_not_exist_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(OfflineStoreError, match="log_sample_rate"):
        read_feature_log(tmp_path, "ranker")


def test_the_server_logs_sampled_responses_off_the_request_path(serve) -> None:  # type: ignore[no-untyped-def]
    store, client = serve(serving={"log_sample_rate": 1.0})
    body = {"feature_service": "ranker", "entities": {"user_id": [1, 1], "article_id": [100, 200]}, "request_context": {"local_hour": 3}}
    for rid in ("r1", "r2"):
        assert client.post("/get-online-features", json=body, headers={"x-request-id": rid}).status_code == 200
    client.__exit__(None, None, None)  # shutdown flushes the log
    logged = read_feature_log(store.offline_tables.root, "ranker")
    assert sorted(logged.column("request_id").to_pylist()) == ["r1", "r1", "r2", "r2"]
    assert set(logged.column("country").to_pylist()) == {"DE"}
    labels = pa.table({"request_id": ["r2"], "user_id": [1], "article_id": [200], "clicked": [1]})
    row = training_data_from_log(store.offline_tables.root, "ranker", labels, on=["user_id", "article_id"]).to_pylist()
    assert len(row) == 1 and row[0]["clicked"] == 1 and row[0]["ctr_10m"] == 0.0
