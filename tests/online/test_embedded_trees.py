"""The embedded store's trees: a store written in the one-tree layout is split on open, losing nothing."""

from __future__ import annotations

from pathlib import Path

import lmdb
import msgpack
import pytest

from skewless.online import embedded_trees
from skewless.online.embedded import EXPIRY, EmbeddedOnlineStore
from skewless.online.embedded_trees import tree_of
from skewless.online.protocol import FieldSet

LIVE = EXPIRY.pack(0)


def test_keys_go_to_the_tree_read_the_way_they_are_read() -> None:
    assert tree_of(b"sk:p:user_profile@v1:42") == "main"
    assert tree_of(b"{sk:p:activity@v1:42}:s") == "main"  # a summary: read whole, per slate
    assert tree_of(b"{sk:p:activity@v1:42}:w") == "hashes"
    assert tree_of(b"{sk:p:activity@v1:42}:ids:e-17") == "guards"
    assert tree_of(b"sk:p:claim:events:e-17") == "guards"
    # a row key that merely ends like a state, or holds ':ids:' outside a tag, stays a row
    assert tree_of(b"sk:p:user@v1:w") == "main"
    assert tree_of(b"sk:p:user@v1:a:ids:b") == "main"
    assert tree_of(b"sk:p:user@v1:a:claim:b") == "main"


def _old_layout(path: Path) -> dict[str, dict[bytes, bytes]]:
    """A store as written before the split, every key in the main tree; returned by the tree each key
    belongs in, as the layout defines it (written out here, not asked of ``tree_of``)."""
    rows = {b"sk:p:user_profile@v1:%d" % i: LIVE + b"row %d" % i for i in range(7)}
    rows[b"sk:p:user_profile@v1:a:claim:b"] = LIVE + b"a row whose key looks like a claim's"
    summaries = {b"{sk:p:activity@v1:%d}:s" % i: LIVE + b"summary %d" % i for i in range(7)}
    states = {b"{sk:p:activity@v1:%d}:w" % i: LIVE + msgpack.packb({b"t:300:0": b"tile %d" % i}) for i in range(7)}
    guards = {b"{sk:p:activity@v1:%d}:ids:e%d" % (i, j): LIVE for i in range(7) for j in range(3)}
    claims = {b"sk:p:claim:events:e%d" % j: LIVE + b"%d" % j for j in range(5)}
    trees = {"main": rows | summaries, "hashes": states, "guards": guards | claims}
    env = lmdb.open(str(path), map_size=1 << 26, max_dbs=1, subdir=True)
    with env.begin(write=True) as txn:
        for key, value in (item for tree in trees.values() for item in tree.items()):
            txn.put(key, value)
    env.close()
    return trees


@pytest.mark.parametrize("step", [3, 100_000])
def test_an_old_store_is_split_on_open_and_keeps_every_value(tmp_path: Path, step: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_trees, "_MOVED_PER_STEP", step)  # 3: the scan stops and resumes many times
    written = _old_layout(tmp_path / "online")
    store = EmbeddedOnlineStore(tmp_path / "online", prefault=False)
    try:
        with store.env.begin() as txn:
            found = {
                "main": {k: v for k, v in txn.cursor() if k not in (b"hashes", b"guards")},
                "hashes": dict(txn.cursor(db=store.trees.hashes)),
                "guards": dict(txn.cursor(db=store.trees.guards)),
            }
        assert found == written
        # and the store reads them where it looks: rows and summaries by key, states by field
        assert store.get_many([b"sk:p:user_profile@v1:3", b"{sk:p:activity@v1:3}:s"]) == [b"row 3", b"summary 3"]
        assert store.read([], [([b"{sk:p:activity@v1:3}:w"], FieldSet([b"t:300:0"]))])[1] == [[b"tile 3"]]
    finally:
        store.close()
    reopened = EmbeddedOnlineStore(tmp_path / "online", prefault=False)  # split once: nothing moves again
    try:
        with reopened.env.begin() as txn:
            assert dict(txn.cursor(db=reopened.trees.guards)) == written["guards"]
    finally:
        reopened.close()


def test_a_new_store_starts_with_empty_trees(tmp_path: Path) -> None:
    store = EmbeddedOnlineStore(tmp_path / "online", prefault=False)
    try:
        store.put_many([(b"sk:p:v@v1:1", b"x")])
        with store.env.begin() as txn:
            assert [k for k, _ in txn.cursor()] == [b"guards", b"hashes", b"sk:p:v@v1:1"]
            assert list(txn.cursor(db=store.trees.hashes)) == list(txn.cursor(db=store.trees.guards)) == []
    finally:
        store.close()
