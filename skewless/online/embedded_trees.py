"""The embedded store's three B-trees (LMDB databases of one file), by how they are read.

- the main tree: values read whole by key, a slate's ~100 lookups: entity rows and window
  summaries (``<tag>:s``);
- ``hashes``: entities' window states (``<tag>:w``), read by field only for reads further back;
- ``guards``: event-id guards (``<tag>:ids:<id>``) and claims, written by streams, never served.

In one tree, the 1M-user benchmark store held 13.4M entries of which 2.1M are served: a lookup
walked 5 levels of 39k branch pages, past leaves mostly of guards and states. A copy of the served
keys alone has 8k branch pages, and read slates in p50 0.615-0.658 ms against 0.676-0.737 for the
original (alternated; docs/benchmarks.md).

Stores written before the split held everything in the main tree: opening one moves its states
and guards to their trees, in the transaction that creates them (all or nothing).
"""

from __future__ import annotations

from typing import NamedTuple

import lmdb

HASHES, GUARDS = b"hashes", b"guards"
TREES = 3  # LMDB's max_dbs counts the named ones; the main tree is always there
_MOVED_PER_STEP = 100_000  # keys gathered before they are moved: bounds the memory of a migration


class Trees(NamedTuple):
    hashes: lmdb._Database
    guards: lmdb._Database


def open_trees(env: lmdb.Environment) -> Trees:
    """The named trees of ``env``, created (and the old layout split) on first use. LMDB opens a
    named tree for later transactions only from a write transaction: opening waits for a write in
    progress in another process (a stream batch, a materialization step), once per process."""
    with env.begin(write=True) as txn:
        created = txn.get(HASHES) is None  # a named tree is a record of the main tree
        trees = Trees(env.open_db(HASHES, txn=txn), env.open_db(GUARDS, txn=txn))
        if created:
            _split_old_layout(txn, trees)
    return trees


def tree_of(key: bytes) -> str:
    """Which tree a key of the layout before the split belongs in: ``main``, ``hashes`` or ``guards``."""
    if key.startswith(b"{"):  # an entity's tag (skewless.online.tile_keys)
        return "hashes" if key.endswith(b"}:w") else "guards" if b"}:ids:" in key else "main"
    parts = key.split(b":", 3)  # sk:<project>:claim:<source>:<id> (skewless.online.id_claims)
    return "guards" if len(parts) == 4 and parts[2] == b"claim" else "main"


def _split_old_layout(txn: lmdb.Transaction, trees: Trees) -> None:
    """Move the keys of other trees out of the main tree, a step at a time: the scan stops before
    it moves (no cursor walks a tree it changes) and goes on after the last key moved."""
    after = b""
    while True:
        moving: list[tuple[bytes, bytes, str]] = []
        cursor = txn.cursor()
        if not cursor.set_range(after):
            return
        for key, value in cursor.iternext():
            where = tree_of(bytes(key))
            if where != "main":
                moving.append((bytes(key), bytes(value), where))
                if len(moving) >= _MOVED_PER_STEP:
                    break
        for key, value, where in moving:
            txn.put(key, value, db=trees.hashes if where == "hashes" else trees.guards)
            txn.delete(key)
        if len(moving) < _MOVED_PER_STEP:
            return
        after = moving[-1][0]
