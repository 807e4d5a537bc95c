"""Where an entity's tiles live: every key of one (view version, entity) shares a hash tag.

``{sk:<project>:<view>@v<version>:<key>}`` is the tag; after it come ``:t:<level>:<start µs>``
(a tile), ``:r:<start µs>`` (the raw events of a base tile) and ``:ids`` (the guard of event ids).
One tag per entity keeps a tile update in one Redis Cluster slot (one atomic script), while the
entities of a slate still spread over the cluster.
"""

from __future__ import annotations


def tile_tag(entity_key: bytes) -> bytes:
    """The hash tag of an entity, from its row key (:func:`skewless.online.keys.entity_key`)."""
    return b"{" + entity_key + b"}"


def tile_key(tag: bytes, level_seconds: int, start_us: int) -> bytes:
    return b"%s:t:%d:%d" % (tag, level_seconds, start_us)


def raw_key(tag: bytes, start_us: int) -> bytes:
    return b"%s:r:%d" % (tag, start_us)


def guard_key(tag: bytes) -> bytes:
    return tag + b":ids"
