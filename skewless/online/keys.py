"""Where an entity's features live: one key per (view version, entity key values).

``sk:{project}:{view}@v{version}:{key values}``. Keys carry no hash tag, so in a Redis Cluster the
entities of a slate spread over every node and a slate read costs one round trip per node, in
parallel, rather than pinning a whole view to one node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

_SEPARATOR = "\x1f"  # unit separator: cannot appear in an integer and is rare in string keys


def key_prefix(project: str, view: str, version: int) -> bytes:
    return f"sk:{project}:{view}@v{version}:".encode()


def entity_key(prefix: bytes, values: Sequence[object]) -> bytes:
    """The key of one entity: ``values`` are its join key values, in the view's join key order."""
    if len(values) == 1:
        return prefix + str(values[0]).encode()
    return prefix + _SEPARATOR.join(str(v) for v in values).encode()


def entity_keys(prefix: bytes, join_keys: Sequence[str], columns: Mapping[str, Sequence[object]]) -> list[bytes]:
    """The keys of many entities, from columns of join key values (one per row)."""
    if len(join_keys) == 1:
        return [prefix + str(v).encode() for v in columns[join_keys[0]]]
    return [prefix + _SEPARATOR.join(map(str, values)).encode() for values in zip(*(columns[k] for k in join_keys), strict=True)]
