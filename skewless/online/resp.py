"""Redis commands packed by hand (RESP), sent in one write per node, replies read in order.

redis-py builds a command object per command and parses arguments in Python. A slate asks ~50
rows and ~50 hashes of ~25 fields each; a stream batch claims thousands of event ids: that
bookkeeping cost more than Redis took to answer (claims: 4 s of a 9 s run at 100k events).
Here the commands are written in RESP directly, the fields of a :class:`FieldSet` once per plan
(every hash of a read asks the same ones), and grouped by the node owning each key on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.protocol import FieldRead, FieldSet, Values


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def command(name: bytes, key: bytes, tail: Sequence[bytes] = ()) -> bytes:
    return b"*%d\r\n%s%s" % (2 + len(tail), bulk(name), bulk(key)) + b"".join(map(bulk, tail))


def _hmget(key: bytes, fields: FieldSet) -> bytes:
    packed = fields.encoded.get("resp")
    if packed is None:
        packed = fields.encoded["resp"] = b"".join(map(bulk, fields.names))
    return b"*%d\r\n$5\r\nHMGET\r\n%s%s" % (2 + len(fields.names), bulk(key), packed)


# A command's destination in the result: ("k", position) for a row, ("f", read, hash) for a hash's fields.
Target = tuple[Any, ...]


def plan_commands(keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> list[tuple[bytes, bytes, Target]]:
    """Every command of a read as (key it touches, RESP bytes, target): GETs of ``keys`` and one HMGET per hash."""
    commands: list[tuple[bytes, bytes, Target]] = [(key, command(b"GET", key), ("k", i)) for i, key in enumerate(keys)]
    for r, (hashes, fields) in enumerate(field_reads):
        commands += [(h, _hmget(h, fields), ("f", r, j)) for j, h in enumerate(hashes)]
    return commands


def standalone_read(client: Any, keys: Sequence[bytes], field_reads: Sequence[FieldRead], what: str) -> tuple[Values, list[Values]]:
    """One MGET for the rows and one HMGET per hash, in one write and one round trip."""
    return standalone_replies(exchange(client, standalone_commands(keys, field_reads), what), keys, field_reads)


def standalone_commands(keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> list[bytes]:
    packed = [command(b"MGET", keys[0], keys[1:])] if keys else []
    for hashes, fields in field_reads:
        packed += [_hmget(h, fields) for h in hashes]
    return packed


def standalone_replies(replies: Sequence[Any], keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
    """The replies to :func:`standalone_commands`, as :meth:`~skewless.online.protocol.OnlineStore.read` returns them."""
    values: Values = replies[0] if keys else []
    at = 1 if keys else 0
    out: list[Values] = []
    for hashes, _ in field_reads:
        flat: Values = []
        for reply in replies[at : at + len(hashes)]:
            flat += reply
        out.append(flat)
        at += len(hashes)
    return values, out


def place(
    replies: Sequence[Any], targets: Sequence[Target], keys: Sequence[bytes], field_reads: Sequence[FieldRead]
) -> tuple[Values, list[Values]]:
    """Replies of :func:`plan_commands`' commands (in any grouping) put back in request order."""
    values: Values = [None] * len(keys)
    grouped: list[list[Values]] = [[[] for _ in hashes] for hashes, _ in field_reads]
    for reply, target in zip(replies, targets, strict=True):
        if target[0] == "k":
            values[target[1]] = reply
        else:
            grouped[target[1]][target[2]] = reply
    return values, [[v for reply in per_hash for v in reply] for per_hash in grouped]


def run_keyed(
    client: Any, commands: Sequence[tuple[bytes, bytes]], what: str, *, node_client: Callable[[Any], Any] | None = None
) -> list[Any]:
    """Replies to (key, command) pairs, in order: on a cluster each command goes to the node
    owning its key's slot (through ``node_client(node)`` when given, e.g. a client with a longer
    timeout for bulk writes), all nodes written to before any reply is read."""
    if not isinstance(client, redis.RedisCluster):
        return exchange(client, [c for _, c in commands], what)
    cluster: Any = client  # redis-py's cluster methods are untyped
    by_node: dict[str, tuple[Any, list[bytes], list[int]]] = {}
    for i, (key, packed) in enumerate(commands):
        node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(key))
        _, packed_of_node, positions = by_node.setdefault(node.name, (node, [], []))
        packed_of_node.append(packed)
        positions.append(i)
    groups = list(by_node.values())
    replies: list[Any] = [None] * len(commands)
    of_node = node_client or cluster.get_redis_connection
    answered = exchange_all([(of_node(node), packed) for node, packed, _ in groups], what)
    for (_, _, positions), answers in zip(groups, answered, strict=True):
        for i, answer in zip(positions, answers, strict=True):
            replies[i] = answer
    return replies


def exchange(client: Any, commands: Sequence[bytes], what: str) -> list[Any]:
    """Send ``commands`` in one write on one of ``client``'s connections and read every reply."""
    return exchange_all([(client, commands)], what)[0]


def exchange_all(batches: Sequence[tuple[Any, Sequence[bytes]]], what: str) -> list[list[Any]]:
    """Each batch of commands written to its client's server, all before any reply is read (so
    the nodes of a cluster work at the same time), then every reply read."""
    opened: list[tuple[Any, Any]] = []
    try:
        for client, commands in batches:
            if commands:
                pool = client.connection_pool
                opened.append((pool, pool.get_connection()))
                opened[-1][1].send_packed_command([b"".join(commands)], check_health=False)
        replies: list[list[Any]] = []
        connections = iter(opened)
        for _, commands in batches:
            connection = next(connections)[1] if commands else None
            replies.append([connection.read_response() for _ in commands] if connection is not None else [])
        return replies
    except BaseException as exc:
        for _, connection in opened:
            connection.disconnect()  # replies may be left unread: the connection is out of step
        if isinstance(exc, redis.RedisError):
            raise OnlineStoreUnavailableError(f"{what} failed: {exc}") from exc
        raise
    finally:
        for pool, connection in opened:
            pool.release(connection)
