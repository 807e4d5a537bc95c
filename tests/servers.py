"""Real, throw-away PostgreSQL and Redis servers for the test suite.

Each server listens on 127.0.0.1 on a free port, keeps its files in a
temporary directory, and is tuned for speed over durability (no fsync, no
persistence): the data only has to outlive one test session. Nothing relies on
a system service (apt's postgresql/redis units may be absent or stopped), so
the same code works on a developer machine, in CI, and on a fresh box after
``scripts/setup.sh``.

This module deliberately imports neither pytest nor any client library, so it
can also be used from benchmarks or a REPL.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

HOST = "127.0.0.1"
PG_USER = "skewless"
PG_DATABASE = "skewless"

# PostgreSQL refuses to run as root; when the tests run as root (CI does) the
# server runs as this OS user, which the Debian package creates.
PG_OS_USER = "postgres"

_START_TIMEOUT = 60.0

# Ports handed out by this process; the probe socket is closed before the
# server binds, so without this two servers started back to back could be
# given the same port.
_handed_out_ports: set[int] = set()


class ServerStartError(RuntimeError):
    pass


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _free_port(*, with_bus_offset: int | None = None) -> int:
    """A port that is free right now (and, if asked, port + offset too)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port in _handed_out_ports:
            continue
        if with_bus_offset is not None:
            bus = port + with_bus_offset
            if bus > 65535 or bus in _handed_out_ports or not _port_is_free(bus):
                continue
            _handed_out_ports.add(bus)
        _handed_out_ports.add(port)
        return port
    raise ServerStartError("could not find a free port on 127.0.0.1")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# Looked up now, not in the forked child: loading a library between fork and
# exec can deadlock if another thread held the loader lock.
_prctl: Callable[..., int] | None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    """preexec_fn: have the kernel SIGTERM the child if the test process dies.

    Fixtures and atexit stop servers on a normal exit, but not when pytest is
    SIGKILLed (e.g. a CI timeout); this keeps such a run from leaking servers.
    """
    if _prctl is not None:
        pr_set_pdeathsig = 1
        _prctl(pr_set_pdeathsig, signal.SIGTERM)


def _is_root() -> bool:
    return os.geteuid() == 0


def _runuser() -> str | None:
    return shutil.which("runuser") or next((p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.path.exists(p)), None)


# ---------------------------------------------------------------------------
# Finding binaries
# ---------------------------------------------------------------------------

_PG_BINARIES = ("initdb", "pg_ctl", "postgres", "createdb")


def _pg_bindir_ok(bindir: str | Path) -> bool:
    return all(os.access(Path(bindir) / name, os.X_OK) for name in _PG_BINARIES)


def find_pg_bindir() -> Path | None:
    """Directory holding initdb/pg_ctl/postgres, or None.

    Debian keeps the server binaries off PATH (/usr/lib/postgresql/N/bin), so
    PATH is the last place looked, not the first.
    """
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            bindir = out.stdout.strip()
            if bindir and _pg_bindir_ok(bindir):
                return Path(bindir)
        except (OSError, subprocess.SubprocessError):
            pass

    def version_key(path: str) -> tuple[int, ...]:
        version = Path(path).parent.name
        return tuple(int(p) for p in version.split(".") if p.isdigit())

    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key, reverse=True):
        if _pg_bindir_ok(bindir):
            return Path(bindir)

    initdb = shutil.which("initdb")
    if initdb and _pg_bindir_ok(Path(initdb).parent):
        return Path(initdb).parent
    return None


def binary_missing(name: str) -> str | None:
    """Why the server ``name`` can't be started here, or None if it can.

    ``name`` is "postgres", "redis" (server and redis-cli, as the cluster
    needs both) or any executable looked up on PATH.
    """
    hint = "run scripts/setup.sh (or `make setup`) to install it"
    if name in ("postgres", "postgresql"):
        if find_pg_bindir() is None:
            return (
                f"PostgreSQL server binaries ({', '.join(_PG_BINARIES)}) not found via pg_config, /usr/lib/postgresql/*/bin or PATH; {hint}"
            )
        if _is_root():
            try:
                pwd.getpwnam(PG_OS_USER)
            except KeyError:
                return f"running as root, and PostgreSQL refuses root: it needs an OS user {PG_OS_USER!r}, which does not exist"
            if _runuser() is None:
                return "running as root, and PostgreSQL refuses root: `runuser` (util-linux) is needed to drop privileges"
        return None
    if name in ("redis", "redis-server"):
        missing = [b for b in ("redis-server", "redis-cli") if shutil.which(b) is None]
        if missing:
            return f"{' and '.join(missing)} not found on PATH (Debian package redis-server); {hint}"
        return None
    if shutil.which(name) is None:
        return f"{name} not found on PATH; {hint}"
    return None


def servers_required() -> bool:
    """True when a missing server must fail tests instead of skipping them (scripts/test.sh, CI)."""
    return os.environ.get("SKEWLESS_REQUIRE_SERVERS", "").strip().lower() in ("1", "true", "yes")


def require_server(name: str) -> None:
    """In a test: skip if server ``name`` can't be started here -- or fail, when servers are required."""
    reason = binary_missing(name)
    if reason is None:
        return
    import pytest  # here, so the module stays usable outside pytest

    if servers_required():
        pytest.fail(f"{reason} (SKEWLESS_REQUIRE_SERVERS=1, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


@dataclass
class PostgresServer:
    port: int
    url: str  # SQLAlchemy URL (psycopg 3 driver)
    data_dir: Path
    log_file: Path
    bindir: Path = field(repr=False)
    _base_dir: Path = field(repr=False)
    _owns_base_dir: bool = field(repr=False)
    _keep_log_at: Path = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def libpq_url(self) -> str:
        """Plain ``postgresql://`` URL for psycopg/libpq (no SQLAlchemy driver)."""
        return f"postgresql://{PG_USER}@{HOST}:{self.port}/{PG_DATABASE}"

    def create_database(self, name: str) -> str:
        """Create another database (e.g. one per test module); returns its SQLAlchemy URL."""
        _run_pg(self.bindir, ["createdb", "-h", HOST, "-p", str(self.port), "-U", PG_USER, name], cwd=self._base_dir)
        return f"postgresql+psycopg://{PG_USER}@{HOST}:{self.port}/{name}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        # -m immediate: no checkpoint, nothing in it is worth keeping.
        with contextlib.suppress(ServerStartError, subprocess.SubprocessError):
            _run_pg(self.bindir, ["pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"], cwd=self._base_dir)
        if self._owns_base_dir:
            # Keep the server log where the caller's tmpdir is, for debugging.
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_file, self._keep_log_at)
            shutil.rmtree(self._base_dir, ignore_errors=True)


def _pg_command(bindir: Path, argv: list[str]) -> list[str]:
    cmd = [str(bindir / argv[0]), *argv[1:]]
    if _is_root():
        runuser = _runuser()
        if runuser is None:
            raise ServerStartError(binary_missing("postgres") or "runuser not found")
        cmd = [runuser, "-u", PG_OS_USER, "--", *cmd]
    return cmd


def _run_pg(bindir: Path, argv: list[str], *, cwd: Path, timeout: float = _START_TIMEOUT) -> str:
    cmd = _pg_command(bindir, argv)
    # cwd: as the postgres user, a root-owned cwd like /root is unreadable and
    # initdb complains about it.
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise ServerStartError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def start_postgres(tmpdir: str | os.PathLike[str]) -> PostgresServer:
    """initdb + start a private PostgreSQL on 127.0.0.1, with database ``skewless``."""
    reason = binary_missing("postgres")
    if reason:
        raise ServerStartError(reason)
    bindir = find_pg_bindir()
    assert bindir is not None
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)

    if _is_root():
        # The server runs as `postgres`, which can't enter pytest's 0700
        # /tmp/pytest-of-root, so its files live in a directory of its own.
        base = Path(tempfile.mkdtemp(prefix="skewless-pg-"))
        os.chmod(base, 0o700)
        pw = pwd.getpwnam(PG_OS_USER)
        os.chown(base, pw.pw_uid, pw.pw_gid)
        owns_base = True
    else:
        base = tmpdir / "pg"
        base.mkdir()
        owns_base = False
    data_dir = base / "data"
    log_file = base / "postgres.log"

    # trust auth + fixed superuser name: tests connect without a password.
    # --locale=C: initdb fails on machines whose $LANG locale isn't generated.
    _run_pg(
        bindir,
        ["initdb", "-D", str(data_dir), "-A", "trust", "-U", PG_USER, "--no-sync", "-E", "UTF8", "--locale=C"],
        cwd=base,
    )

    # fsync & co. off: a test database never needs to survive a crash, and
    # durability costs seconds per test run on a slow CI disk.
    last_error: ServerStartError | None = None
    for _ in range(3):
        port = _free_port()
        options = f"-p {port} -k {base} -c listen_addresses={HOST} -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        pg_ctl_start = ["pg_ctl", "-D", str(data_dir), "-l", str(log_file), "-w", "-t", "60", "-o", options, "start"]
        try:
            _run_pg(bindir, pg_ctl_start, cwd=base)
        except ServerStartError as exc:
            log = _tail(log_file)
            last_error = ServerStartError(f"{exc}\n--- {log_file} ---\n{log}")
            # Another process took the port between probe and bind: retry
            # with a new one; anything else is a real error.
            if "could not bind" in log or "Address already in use" in log:
                continue
            break
        server = PostgresServer(
            port=port,
            url=f"postgresql+psycopg://{PG_USER}@{HOST}:{port}/{PG_DATABASE}",
            data_dir=data_dir,
            log_file=log_file,
            bindir=bindir,
            _base_dir=base,
            _owns_base_dir=owns_base,
            _keep_log_at=tmpdir / "postgres.log",
        )
        # Safety net for runs that skip fixture teardown (e.g. Ctrl-C twice).
        atexit.register(server.stop)
        try:
            _run_pg(bindir, ["createdb", "-h", HOST, "-p", str(port), "-U", PG_USER, PG_DATABASE], cwd=base)
        except BaseException:
            server.stop()
            raise
        return server

    if owns_base:
        shutil.rmtree(base, ignore_errors=True)
    assert last_error is not None
    raise last_error


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------


RespValue = bytes | int | None | list["RespValue"]


def _redis_command(port: int, *args: str, timeout: float = 2.0) -> RespValue:
    """Send one command over raw RESP2 and return the decoded reply.

    Raw sockets rather than redis-py: this module must work before (and
    without) any client library, and it only needs a handful of commands.
    An error reply raises ConnectionError (an OSError, like a refused socket).
    """
    payload = f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload)
        return _read_resp(sock.makefile("rb"))


def _read_resp(f: BinaryIO) -> RespValue:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed mid-reply")
    kind, value = line[:1], line[1:-2]
    if kind == b"+":
        return value
    if kind == b"-":
        raise ConnectionError(value.decode(errors="replace"))
    if kind == b":":
        return int(value)
    if kind == b"$":
        size = int(value)
        return None if size < 0 else f.read(size + 2)[:-2]
    if kind == b"*":
        size = int(value)
        return None if size < 0 else [_read_resp(f) for _ in range(size)]
    raise ConnectionError(f"unexpected RESP reply {line!r}")


def _redis_text(port: int, *args: str) -> str:
    reply = _redis_command(port, *args)
    if not isinstance(reply, bytes):
        raise ConnectionError(f"{' '.join(args)}: expected a string reply, got {reply!r}")
    return reply.decode()


def _redis_ping(port: int) -> bool:
    try:
        return _redis_command(port, "PING", timeout=0.5) == b"PONG"
    except OSError:  # refused, reset, timeout, or -LOADING
        return False


@dataclass
class RedisServer:
    port: int
    url: str
    dir: Path
    log_file: Path
    _extra_args: list[str] = field(repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    host: str = HOST

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("redis server is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self) -> None:
        cmd = [
            "redis-server",
            "--port", str(self.port),
            "--bind", HOST,
            "--dir", str(self.dir),
            "--logfile", str(self.log_file),
            "--daemonize", "no",
            *self._extra_args,
        ]  # fmt: skip
        # A child process (not --daemonize) so tests get its pid and can
        # SIGKILL it to simulate a crash.
        self._proc = subprocess.Popen(
            cmd,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not _redis_ping(self.port):
            if self._proc.poll() is not None:
                self._proc = None
                raise ServerStartError(f"redis-server exited during start-up:\n--- {self.log_file} ---\n{_tail(self.log_file)}")
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError(f"redis-server did not answer PING within {_START_TIMEOUT}s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM); nothing is saved (persistence is off)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, to simulate a crash."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Start again on the same port (stopping first if still running); it comes back empty."""
        self.stop()
        self._spawn()


def _start_redis_node(node_dir: Path, extra_args: list[str], *, bus_offset: int | None = None) -> RedisServer:
    node_dir.mkdir(parents=True, exist_ok=True)
    last_error: ServerStartError | None = None
    for _ in range(3):
        port = _free_port(with_bus_offset=bus_offset)
        server = RedisServer(
            port=port,
            url=f"redis://{HOST}:{port}/0",
            dir=node_dir,
            log_file=node_dir / f"redis-{port}.log",
            _extra_args=extra_args,
        )
        try:
            server._spawn()
        except ServerStartError as exc:
            last_error = exc
            # Lost a race for the port: try another; anything else is real.
            if "Address already in use" in str(exc):
                continue
            raise
        atexit.register(server.stop)
        return server
    assert last_error is not None
    raise last_error


# Hashes past 64 fields as hash tables, as docs/online.md recommends for
# skewless' entity states: a listpack is scanned per field, and an HMGET of 25
# fields from a 150-field state took 27 µs instead of 5.
REDIS_SETTINGS = ["--hash-max-listpack-entries", "64"]
# No persistence: test data must not survive a restart, and RDB/AOF writes
# only cost time.
_NO_PERSISTENCE = ["--save", "", "--appendonly", "no", *REDIS_SETTINGS]


def start_redis(tmpdir: str | os.PathLike[str]) -> RedisServer:
    """A standalone redis-server on 127.0.0.1 with persistence off."""
    reason = binary_missing("redis")
    if reason:
        raise ServerStartError(reason)
    base = Path(tempfile.mkdtemp(prefix="redis-", dir=Path(tmpdir)))
    return _start_redis_node(base, list(_NO_PERSISTENCE))


@dataclass
class RedisClusterServer:
    nodes: list[RedisServer]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(n.host, n.port) for n in self.nodes]

    @property
    def url(self) -> str:
        """``redis://`` URL of one node; cluster clients discover the rest."""
        return self.nodes[0].url

    def stop(self) -> None:
        # Signal every node first, then wait: one by one, each primary would
        # first wait for its replicas and the teardown takes seconds.
        for node in self.nodes:
            if node.running:
                assert node._proc is not None
                node._proc.terminate()
        for node in self.nodes:
            node.stop()


def _cluster_info(port: int) -> dict[str, str]:
    text = _redis_text(port, "CLUSTER", "INFO")
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _cluster_ready(nodes: list[RedisServer], replicas: int) -> bool:
    for node in nodes:
        try:
            info = _cluster_info(node.port)
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != len(nodes):
                return False
            if replicas:
                replication = _redis_text(node.port, "INFO", "replication")
                # Replicas must have finished their initial sync, or a test
                # that reads from one (or fails over to it) sees nothing.
                if "role:slave" in replication and "master_link_status:up" not in replication:
                    return False
                # CLUSTER SLOTS (what clients use to find nodes) leaves out a
                # replica until its replication offset, gossiped between
                # nodes, is non-zero; wait, or clients see no replicas.
                slots = _redis_command(node.port, "CLUSTER", "SLOTS")
                assert isinstance(slots, list)
                if any(not isinstance(r, list) or len(r) - 3 != replicas for r in slots):
                    return False
        except OSError:
            return False
    return True


def start_redis_cluster(
    tmpdir: str | os.PathLike[str], primaries: int = 3, replicas: int = 1, *, node_timeout_ms: int = 5000
) -> RedisClusterServer:
    """A Redis Cluster of ``primaries * (1 + replicas)`` nodes, all slots assigned, all nodes agreeing."""
    if primaries < 3:
        raise ValueError("Redis Cluster needs at least 3 primaries")
    reason = binary_missing("redis")
    if reason:
        raise ServerStartError(reason)
    base = Path(tempfile.mkdtemp(prefix="redis-cluster-", dir=Path(tmpdir)))
    node_args = [
        *_NO_PERSISTENCE,
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        # Shorter than the 15 s default so failover tests don't crawl; long
        # enough that a busy 2-core CI box doesn't trigger spurious failovers.
        "--cluster-node-timeout", str(node_timeout_ms),
        # Default 5 s delay before a diskless full sync would make every
        # replica (and so the start-up) wait 5 s for nothing.
        "--repl-diskless-sync-delay", "0",
        # A replica's offset only moves when its primary sends something; on
        # an idle cluster that is the 10 s default ping, and until then
        # CLUSTER SLOTS hides the replica (see _cluster_ready).
        "--repl-ping-replica-period", "1",
    ]  # fmt: skip
    nodes: list[RedisServer] = []
    cluster = RedisClusterServer(nodes)
    try:
        for i in range(primaries * (1 + replicas)):
            # The cluster bus listens on port + 10000; portable across Redis
            # versions (only >= 7 has --cluster-port), so both must be free.
            nodes.append(_start_redis_node(base / f"node{i}", node_args, bus_offset=10000))
        cmd = [
            "redis-cli", "--cluster", "create",
            *(f"{HOST}:{n.port}" for n in nodes),
            "--cluster-replicas", str(replicas),
            "--cluster-yes",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_START_TIMEOUT, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or "[OK] All 16384 slots covered" not in proc.stdout:
            raise ServerStartError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        # `--cluster create` returns once the config is consistent, but nodes
        # learn about each other and replicas sync asynchronously after that.
        deadline = time.monotonic() + _START_TIMEOUT
        while not _cluster_ready(nodes, replicas):
            if time.monotonic() > deadline:
                states = {n.port: _safe_cluster_state(n.port) for n in nodes}
                raise ServerStartError(f"redis cluster not ready within {_START_TIMEOUT}s: {states}")
            time.sleep(0.05)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _safe_cluster_state(port: int) -> str:
    try:
        return _cluster_info(port).get("cluster_state", "?")
    except OSError as exc:
        return f"error: {exc}"
