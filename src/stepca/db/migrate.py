"""Versioned schema migrations, applied at start-up under a database-wide lock so several
instances starting at once do not race: PostgreSQL advisory lock, MySQL GET_LOCK, SQLite's
write lock (BEGIN IMMEDIATE)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, select

from stepca.db import schema

log = logging.getLogger("stepca.db")

_LOCK_ID = 0x57E9CA  # arbitrary, stable
_LOCK_NAME = "stepca_migrations"


def _v1(conn: Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)


#: MIGRATIONS[i] upgrades from version i to i + 1
MIGRATIONS: list[Callable[[Connection], None]] = [_v1]
assert len(MIGRATIONS) == schema.SCHEMA_VERSION


def _current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, schema.schema_version.name):
        return 0
    row = conn.execute(select(schema.schema_version.c.version).where(schema.schema_version.c.id == 1)).first()
    return int(row[0]) if row else 0


def _set_version(conn: Connection, version: int) -> None:
    t = schema.schema_version
    if conn.execute(select(t.c.id).where(t.c.id == 1)).first() is None:
        conn.execute(t.insert().values(id=1, version=version))
    else:
        conn.execute(t.update().where(t.c.id == 1).values(version=version))


def migrate(engine: Engine) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before migrating."""
    dialect = engine.dialect.name
    with engine.connect() as conn:
        if dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_LOCK_ID})")
        elif dialect in ("mysql", "mariadb"):
            conn.exec_driver_sql(f"SELECT GET_LOCK('{_LOCK_NAME}', 60)")
        try:
            if dialect != "sqlite":
                conn.begin()
            found = _current_version(conn)
            if found > schema.SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database schema is version {found}, newer than this stepca ({schema.SCHEMA_VERSION})"
                )
            for version in range(found, schema.SCHEMA_VERSION):
                log.info("migrating database schema to version %d", version + 1)
                MIGRATIONS[version](conn)
            if found != schema.SCHEMA_VERSION:
                _set_version(conn, schema.SCHEMA_VERSION)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            if dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_ID})")
                conn.commit()
            elif dialect in ("mysql", "mariadb"):
                conn.exec_driver_sql(f"SELECT RELEASE_LOCK('{_LOCK_NAME}')")
                conn.commit()
    return found
