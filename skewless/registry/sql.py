"""Registry storage in SQL through SQLAlchemy: a SQLite file (embedded default) or PostgreSQL (shared).

Concurrency: every commit runs ``UPDATE projects SET revision = r + 1 WHERE revision = r`` in the
same transaction as its object writes. Two concurrent applies cannot both succeed on ``r``: the
loser gets RevisionConflictError with nothing written, re-plans on the new state and retries, so
no update is lost (unlike a registry rewritten as one blob).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from skewless.definitions.catalog import ObjectKey
from skewless.errors import RegistryError, RevisionConflictError
from skewless.registry.protocol import HistoryEntry, ObjectChange, Record, StoredObject, StoredRegistry

_metadata = sa.MetaData()
_projects = sa.Table(
    "skewless_projects",
    _metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
_objects = sa.Table(
    "skewless_objects",
    _metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_revision", sa.BigInteger, nullable=False),
    sa.Column("updated_revision", sa.BigInteger, nullable=False),
)
_history = sa.Table(
    "skewless_history",
    _metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("revision", sa.BigInteger, primary_key=True),
    sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
)

_records = sa.Table(
    "skewless_records",
    _metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def sqlalchemy_url(url_or_path: str, *, base: Path | None = None) -> str:
    """``postgresql://...`` -> psycopg 3 driver; a plain path -> a SQLite file URL."""
    if url_or_path.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url_or_path.split("://", 1)[1]
    if "://" in url_or_path:
        return url_or_path
    path = Path(url_or_path).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


class SqlRegistryStore:
    """A :class:`~skewless.registry.protocol.RegistryStore` on any SQLAlchemy database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite = url.startswith("sqlite")
        connect_args: dict[str, Any] = {"timeout": 60} if self._sqlite else {"connect_timeout": 10}
        try:
            self._engine: Engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=not self._sqlite)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise RegistryError(f"cannot open registry {url!r}: {exc}", hint="use a file path or postgresql://user@host/db") from exc
        if self._sqlite:
            _serialize_sqlite_writers(self._engine)
        self._create_tables()

    def _create_tables(self) -> None:
        # Two processes opening a fresh database may both try to create the tables. SQLite answers the
        # loser "database is locked" at once, without its busy timeout (a read lock cannot wait to become
        # a write lock without risking a deadlock), so wait a little and look again.
        attempts = 40
        for attempt in range(attempts):
            try:
                _metadata.create_all(self._engine, checkfirst=True)
                return
            except (IntegrityError, ProgrammingError, OperationalError) as exc:
                if attempt == attempts - 1:
                    raise RegistryError(f"cannot create the registry tables at {self._engine.url!r}: {exc}") from exc
                time.sleep(0.05 + 0.05 * random.random())

    def revision(self, project: str) -> int:
        with self._read() as conn:
            value = conn.execute(sa.select(_projects.c.revision).where(_projects.c.project == project)).scalar()
        return int(value or 0)

    def load(self, project: str) -> StoredRegistry:
        with self._read() as conn:
            revision = conn.execute(sa.select(_projects.c.revision).where(_projects.c.project == project)).scalar()
            rows = conn.execute(sa.select(_objects).where(_objects.c.project == project)).mappings().all()
        objects = tuple(
            StoredObject(
                key=ObjectKey(r["kind"], r["name"], r["version"]),
                spec=json.loads(r["spec"]),
                created_at=_utc(r["created_at"]),
                updated_at=_utc(r["updated_at"]),
                created_revision=r["created_revision"],
                updated_revision=r["updated_revision"],
            )
            for r in rows
        )
        return StoredRegistry(int(revision or 0), objects)

    def commit(self, project: str, expected_revision: int, changes: Sequence[ObjectChange], *, summary: str) -> int:
        new_revision = expected_revision + 1
        now = datetime.now(UTC)
        try:
            with self._engine.connect() as conn:
                conn.info["immediate"] = True
                with conn.begin():
                    self._advance(conn, project, expected_revision, now)
                    for change in changes:
                        self._write(conn, project, change, new_revision, now)
                    conn.execute(_history.insert().values(project=project, revision=new_revision, committed_at=now, summary=summary))
        except IntegrityError as exc:
            # A concurrent first commit created the project row (or history entry) first.
            raise RevisionConflictError(f"registry of {project!r} moved past revision {expected_revision}") from exc
        return new_revision

    def _advance(self, conn: Connection, project: str, expected: int, now: datetime) -> None:
        if expected == 0:
            exists = conn.execute(sa.select(_projects.c.revision).where(_projects.c.project == project)).scalar()
            if exists is not None:
                raise RevisionConflictError(f"registry of {project!r} moved past revision 0")
            conn.execute(_projects.insert().values(project=project, revision=1, updated_at=now))
            return
        result = conn.execute(
            _projects.update()
            .where(_projects.c.project == project, _projects.c.revision == expected)
            .values(revision=expected + 1, updated_at=now)
        )
        if result.rowcount != 1:
            raise RevisionConflictError(f"registry of {project!r} moved past revision {expected}")

    @staticmethod
    def _write(conn: Connection, project: str, change: ObjectChange, revision: int, now: datetime) -> None:
        k = change.key
        where = sa.and_(
            _objects.c.project == project, _objects.c.kind == k.kind, _objects.c.name == k.name, _objects.c.version == k.version
        )
        if change.spec is None:
            conn.execute(_objects.delete().where(where))
            return
        text = json.dumps(change.spec, sort_keys=True)
        updated = conn.execute(_objects.update().where(where).values(spec=text, updated_at=now, updated_revision=revision))
        if updated.rowcount == 0:
            conn.execute(
                _objects.insert().values(
                    project=project,
                    kind=k.kind,
                    name=k.name,
                    version=k.version,
                    spec=text,
                    created_at=now,
                    updated_at=now,
                    created_revision=revision,
                    updated_revision=revision,
                )
            )

    def history(self, project: str, *, limit: int = 20) -> list[HistoryEntry]:
        with self._read() as conn:
            rows = (
                conn.execute(sa.select(_history).where(_history.c.project == project).order_by(_history.c.revision.desc()).limit(limit))
                .mappings()
                .all()
            )
        return [HistoryEntry(r["revision"], _utc(r["committed_at"]), r["summary"]) for r in rows]

    def put_record(self, project: str, kind: str, name: str, payload: dict[str, Any]) -> Record:
        now = datetime.now(UTC)
        text = json.dumps(payload, sort_keys=True)
        where = sa.and_(_records.c.project == project, _records.c.kind == kind, _records.c.name == name)
        for attempt in range(2):
            try:
                with self._engine.connect() as conn:
                    conn.info["immediate"] = True
                    with conn.begin():
                        if conn.execute(_records.update().where(where).values(payload=text, updated_at=now)).rowcount == 0:
                            conn.execute(
                                _records.insert().values(
                                    project=project, kind=kind, name=name, payload=text, created_at=now, updated_at=now
                                )
                            )
                break
            except IntegrityError:
                if attempt:  # a concurrent first write of the same record: the update path wins now
                    raise
        record = self.get_record(project, kind, name)
        assert record is not None  # written just above
        return record

    def get_record(self, project: str, kind: str, name: str) -> Record | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(_records).where(_records.c.project == project, _records.c.kind == kind, _records.c.name == name))
                .mappings()
                .first()
            )
        return None if row is None else _record(row)

    def list_records(self, project: str, kind: str) -> list[Record]:
        with self._read() as conn:
            rows = (
                conn.execute(sa.select(_records).where(_records.c.project == project, _records.c.kind == kind).order_by(_records.c.name))
                .mappings()
                .all()
            )
        return [_record(r) for r in rows]

    def _read(self) -> Any:
        try:
            return self._engine.connect()
        except OperationalError as exc:
            raise RegistryError(
                f"cannot reach the registry at {self._engine.url!r}: {exc.orig}",
                hint="check the registry URL in skewless.yaml and that the database is up",
            ) from exc

    def close(self) -> None:
        self._engine.dispose()


def _serialize_sqlite_writers(engine: Engine) -> None:
    """Take SQLite's write lock at BEGIN for commits, so concurrent writers queue instead of deadlocking."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the 'begin' hook below issue BEGIN itself
        dbapi_connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.pop("immediate", False) else "BEGIN")


def _record(row: Any) -> Record:
    return Record(row["kind"], row["name"], json.loads(row["payload"]), _utc(row["created_at"]), _utc(row["updated_at"]))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
