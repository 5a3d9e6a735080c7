"""Versioned schema migrations, applied at start-up.

``MIGRATIONS[i]`` upgrades the schema from version ``i`` to ``i + 1``; the version reached is kept
in the one-row table ``stepca_schema``. Several instances may start at once: each takes a
database-wide lock first (PostgreSQL session advisory lock, MySQL ``GET_LOCK``, SQLite's write
lock), reads the version and applies only what is missing, so exactly one of them migrates and
the others find the work done. PostgreSQL and SQLite run DDL inside the transaction; MySQL commits
each DDL statement implicitly, so every migration must be idempotent (``checkfirst`` and the like)
to survive a crash half-way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from sqlalchemy import Connection, Engine, select

from stepca.db import schema
from stepca.db.migrations import v1, v2, v3, v4, v5, v6, v7

log = logging.getLogger("stepca.db")

#: how long an instance waits for another instance's migration before giving up
LOCK_TIMEOUT = 120.0
_PG_LOCK_ID = 0x57E9CA  # arbitrary and stable; advisory locks are per database in PostgreSQL


class MigrationError(RuntimeError):
    """The schema could not be brought to the version this stepca needs."""


#: ``MIGRATIONS[i]`` upgrades version ``i`` to ``i + 1`` (frozen modules, see ``stepca.db.migrations``)
MIGRATIONS: list[Callable[[Connection], None]] = [
    v1.upgrade,
    v2.upgrade,
    v3.upgrade,
    v4.upgrade,
    v5.upgrade,
    v6.upgrade,
    v7.upgrade,
]
assert len(MIGRATIONS) == schema.SCHEMA_VERSION, "add the migration and bump schema.SCHEMA_VERSION together"


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, schema.schema_version.name):
        return 0
    t = schema.schema_version
    row = conn.execute(select(t.c.version).where(t.c.id == 1)).first()
    return int(row[0]) if row else 0


def _set_version(conn: Connection, version: int) -> None:
    t = schema.schema_version
    if conn.execute(select(t.c.id).where(t.c.id == 1)).first() is None:
        conn.execute(t.insert().values(id=1, version=version))
    else:
        conn.execute(t.update().where(t.c.id == 1).values(version=version))


@contextlib.contextmanager
def _server_lock(conn: Connection, timeout: float) -> Iterator[None]:
    """A session-level lock shared by every instance using this database (PostgreSQL/MySQL)."""
    if conn.dialect.name == "postgresql":
        lock: tuple[str, tuple[object, ...]] = (f"SELECT pg_try_advisory_lock({_PG_LOCK_ID})", ())
        unlock: tuple[str, tuple[object, ...]] = (f"SELECT pg_advisory_unlock({_PG_LOCK_ID})", ())
        deadline = time.monotonic() + timeout
        while not conn.exec_driver_sql(*lock).scalar():
            conn.rollback()
            if time.monotonic() > deadline:
                raise MigrationError(f"another instance held the migration lock for more than {timeout:.0f}s")
            time.sleep(0.1)
    else:
        # GET_LOCK names are server-wide: include the database so unrelated databases don't wait
        name = f"stepca_migrate.{conn.engine.url.database}"[:64]
        if conn.exec_driver_sql("SELECT GET_LOCK(%s, %s)", (name, int(timeout))).scalar() != 1:
            raise MigrationError(f"another instance held the migration lock for more than {timeout:.0f}s")
        unlock = ("SELECT RELEASE_LOCK(%s)", (name,))
    conn.commit()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # a lost connection releases the lock anyway
            if conn.in_transaction():
                conn.rollback()
            conn.exec_driver_sql(*unlock)
            conn.commit()


def _upgrade(conn: Connection, migrations: list[Callable[[Connection], None]]) -> int:
    target = len(migrations)
    found = current_version(conn)
    if found > target:
        raise MigrationError(f"the database schema is version {found}, newer than this stepca's ({target})")
    for version in range(found, target):
        log.info("migrating the database schema to version %d", version + 1)
        migrations[version](conn)
    if found != target:
        _set_version(conn, target)
    return found


def migrate(engine: Engine, *, timeout: float = LOCK_TIMEOUT, target: int | None = None) -> int:
    """Bring the schema to ``len(MIGRATIONS)`` (or ``target``, for tests of old versions);
    returns the version found before migrating."""
    migrations = list(MIGRATIONS)[:target]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's write lock serializes migrators
            try:
                found = _upgrade(conn, migrations)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            return found
        with _server_lock(conn, timeout), conn.begin():
            return _upgrade(conn, migrations)
