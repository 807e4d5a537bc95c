"""Where an entity's tiles live: one hash per (view version, entity), its fields the tiles.

``{sk:<project>:<view>@v<version>:<key>}`` is the entity's tag. Under it:

- ``<tag>:w`` — the entity's window state, a hash (one LMDB value holding a map on the embedded
  store) whose fields are its tiles, ``t:<level>:<start µs>``, and the raw events of its base
  tiles, ``r:<start µs>``. A read asks each entity of a slate for the same fields (they depend
  only on the read time), one HMGET per entity: ~50 reads a slate instead of one per tile (~1,300).
  Hash fields have no TTL of their own: a field's expiry follows from its name (its start plus
  how long its level is kept, :class:`~skewless.online.tile_writes.StateSpec`); a write treats an
  expired field as absent and, once the hash holds clearly more fields than can be live, drops
  the expired ones. A read never asks for an expired field (only for tiles its windows still
  cover), so dropping can wait. The hash itself expires with its latest field.
- ``<tag>:s`` — the entity's window summary (:mod:`skewless.aggregation.summaries`): its events
  per hop bucket in one value, written with the tiles, so a read at the current time fetches
  one small value per entity and falls back to the tiles only for reads further back.
- ``<tag>:ids`` — the guard of event ids.

One tag per entity keeps a tile update in one Redis Cluster slot (one atomic script), while the
entities of a slate still spread over the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable


def tile_tag(entity_key: bytes) -> bytes:
    """The hash tag of an entity, from its row key (:func:`skewless.online.keys.entity_key`)."""
    return b"{" + entity_key + b"}"


def state_key(tag: bytes) -> bytes:
    return tag + b":w"


def summary_key(tag: bytes) -> bytes:
    return tag + b":s"


def entity_summary_keys(entity_keys: Iterable[bytes]) -> list[bytes]:
    """``summary_key(tile_tag(k))`` of each row key, in one step (a slate has 50)."""
    return [b"{%s}:s" % k for k in entity_keys]


def guard_key(tag: bytes) -> bytes:
    return tag + b":ids"


def tile_field(level_seconds: int, start_us: int) -> bytes:
    return b"t:%d:%d" % (level_seconds, start_us)


def raw_field(start_us: int) -> bytes:
    return b"r:%d" % start_us
