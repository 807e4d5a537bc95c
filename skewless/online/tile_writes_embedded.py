"""Tile writes on the embedded (LMDB) store: one write transaction for all updates.

LMDB has one writer at a time, so a transaction is the atomic step: its guard checks and tile
merges commit together or not at all. The guard is one key per (entity, event id) holding the
id's expiry, in the store's own value format (expiry header + bytes), so reads skip expired ids
exactly as they skip expired values. An entity's state is one value, a msgpack map of field ->
bytes (what :meth:`~skewless.online.embedded.EmbeddedOnlineStore.read` reads); fields expire as
on Redis (:class:`~skewless.online.tile_writes.StateSpec`). Guards, states and summaries each live
in their tree (:mod:`skewless.online.embedded_trees`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgpack

from skewless.aggregation import summaries
from skewless.aggregation.tiles import merger
from skewless.online.embedded import EXPIRY, EmbeddedOnlineStore
from skewless.online.tile_keys import guard_key, state_key, summary_key
from skewless.online.tile_writes import EntityUpdate


class EmbeddedTileWriter:
    def __init__(self, store: EmbeddedOnlineStore) -> None:
        self.store = store

    def merge_tiles(self, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        now = time.time_ns() // 1000
        mergers = {codes: merger(codes) for codes in {u.spec.codes for u in updates}}
        pack, unpack, expiry = msgpack.packb, msgpack.unpackb, EXPIRY.pack
        result: list[list[bytes]] = []
        trees = self.store.trees
        with self.store.env.begin(write=True) as txn:
            # The keys of one call are distinct (one update per view and entity): read them all with
            # one getmulti per tree, write them all with one putmulti, instead of a call per key.
            summaries_at, states_at, guards_at = txn.cursor(), txn.cursor(db=trees.hashes), txn.cursor(db=trees.guards)
            id_keys = [[guard_key(u.tag) + b":" + i for i in u.ids] for u in updates]
            seen_keys = {k for k, v in guards_at.getmulti([k for keys in id_keys for k in keys]) if _live(v, now) is not None}
            fresh = []
            for update, keys in zip(updates, id_keys, strict=True):
                seen = [i for i, k in zip(update.ids, keys, strict=True) if k in seen_keys] if seen_keys else []
                result.append(seen)
                if not seen:
                    fresh.append((update, keys))
            states = dict(states_at.getmulti([state_key(u.tag) for u, _ in fresh]))
            stored_summaries = dict(summaries_at.getmulti([summary_key(u.tag) for u, _ in fresh if u.summary]))
            guards: list[tuple[bytes, bytes]] = []
            new_states: list[tuple[bytes, bytes]] = []
            for update, keys in fresh:
                guards += [(k, expiry(ts + update.keep_ids_us)) for k, ts in zip(keys, update.ids_ts_us, strict=True)]
                spec, at = update.spec, state_key(update.tag)
                raw = states.get(at)
                live = _live(raw, now)
                state: dict[bytes, bytes] = {} if live is None else unpack(live)
                kept_until = EXPIRY.unpack_from(raw)[0] if live is not None else 0  # type: ignore[arg-type]
                merge, latest = mergers[spec.codes], 0
                for writes, merged in ((update.tiles, True), (update.raws, False)):
                    for field, payload in writes:
                        old = state.get(field)
                        expires = spec.expires_us(field)
                        if old is None or expires <= now:  # new, or expired: written afresh, as an expired key would be
                            state[field], latest = payload, max(latest, expires)
                        else:  # a tile merges; raw records append
                            state[field] = pack(merge(unpack(old), unpack(payload))) if merged else old + payload
                if latest and len(state) > spec.prune_above:
                    state = {f: v for f, v in state.items() if spec.expires_us(f) > now}
                new_states.append((at, expiry(max(kept_until, latest)) + pack(state)))
            guards_at.putmulti(guards)
            states_at.putmulti(new_states)
            summaries_at.putmulti(_summary_puts([u for u, _ in fresh], stored_summaries, now))
        return result


def _summary_puts(updates: Sequence[EntityUpdate], stored: dict[bytes, bytes], now_us: int) -> list[tuple[bytes, bytes]]:
    """The updated entities' summaries, merged per view in one pass; each is kept until its latest
    event leaves every window."""
    by_layout: dict[summaries.SummaryLayout, list[EntityUpdate]] = {}
    for update in updates:
        if update.summary and update.spec.summary is not None:
            by_layout.setdefault(update.spec.summary, []).append(update)
    puts = []
    for layout, group in by_layout.items():
        keys = [summary_key(u.tag) for u in group]
        merged = summaries.merge_many(layout, [_live(stored.get(k), now_us) for k in keys], [u.summary for u in group], now_us)
        puts += [(k, EXPIRY.pack(summaries.max_ts(m) + layout.keep_us) + m) for k, m in zip(keys, merged, strict=True)]
    return puts


def _live(raw: bytes | None, now_us: int) -> bytes | None:
    if raw is None:
        return None
    (expires,) = EXPIRY.unpack_from(raw)
    return raw[8:] if expires == 0 or expires > now_us else None
