"""What differs between sqlite, postgresql and mysql/mariadb, in one place.

"Insert unless the key exists" statements, the driver-level SQL of the hot path (with each
driver's parameter style), which errors mean "the database is unavailable, retry" and which mean
"this database cannot record writes now", SQLite's connection pragmas, and SQLite's cross-process
writers' lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, Table, event
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError

#: SQLite result codes that mean the file cannot take writes now (not a property of one operation)
_SQLITE_UNAVAILABLE = (
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_READONLY",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
)


class Dialect:
    """The dialect facts of one engine."""

    def __init__(self, engine: Engine) -> None:
        self.name = engine.dialect.name
        self.is_mysql = self.name in ("mysql", "mariadb")
        dbapi = engine.dialect.loaded_dbapi
        #: every error a statement can raise, through SQLAlchemy or from the driver directly
        self.errors: tuple[type[Exception], ...] = (SQLAlchemyError, dbapi.Error)
        self.integrity_errors: tuple[type[Exception], ...] = (IntegrityError, dbapi.IntegrityError)
        self.transient_errors: tuple[type[Exception], ...] = ()
        if self.name != "sqlite":  # SQLite waits on its own locks (flock + busy_timeout)
            self.transient_errors = (
                OperationalError,
                InterfaceError,
                dbapi.OperationalError,
                dbapi.InterfaceError,
            )
        if self.name == "sqlite":
            event.listen(engine, "connect", sqlite_pragmas)
            self._insert_ignore: Callable[[Table], Any] = lambda t: sqlite_dialect.insert(
                t
            ).on_conflict_do_nothing()
        elif self.name == "postgresql":
            self._insert_ignore = lambda t: pg_dialect.insert(t).on_conflict_do_nothing()
        elif self.is_mysql:
            self._insert_ignore = lambda t: mysql_dialect.insert(t).prefix_with("IGNORE")
        else:
            raise ValueError(f"unsupported database dialect {self.name}")
        self._ignore_stmts: dict[str, Any] = {}
        self._driver_sql: dict[tuple[str, tuple[str, ...], bool], str] = {}
        self._rows_sql: dict[tuple[str, tuple[str, ...], bool, int], str] = {}
        self.placeholder = "?" if self.name == "sqlite" else "%s"
        #: SQLite: transactions are begun explicitly on the writer's driver connection
        self.begin_write = "BEGIN IMMEDIATE" if self.name == "sqlite" else None

    def insert_ignore(self, table: Table) -> Any:
        """``INSERT ... unless the key exists`` for ``table``; its rowcount says if it inserted."""
        stmt = self._ignore_stmts.get(table.name)
        if stmt is None:
            # preserve_rowcount: SQLAlchemy 2.1 reports rowcount only for UPDATE/DELETE otherwise
            stmt = self._insert_ignore(table).execution_options(preserve_rowcount=True)
            self._ignore_stmts[table.name] = stmt
        return stmt

    def driver_insert(self, table: str, columns: tuple[str, ...], *, ignore: bool = False) -> str:
        """Driver-level INSERT text (for ``executemany`` on the hot path), made once."""
        key = (table, columns, ignore)
        text = self._driver_sql.get(key)
        if text is None:
            text = self._driver_sql[key] = self._make_insert(table, columns, ignore)
        return text

    def insert_rows(
        self,
        cursor: Any,
        table: str,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        ignore: bool = False,
    ) -> int:
        """Insert ``rows`` on a driver cursor (the hot path); returns how many were inserted.

        SQLite: multi-row ``VALUES`` statements of 2^k rows (one per set bit of ``len(rows)``),
        not ``executemany``: the sqlite3 module releases the GIL around every statement step, so
        one step per row meant one hand-off between the writer thread and the event loop per
        row, each waiting for the loop to yield (up to the 5 ms switch interval) under load.
        Power-of-two sizes keep the distinct texts few (the driver's statement cache holds
        them). PostgreSQL (pipelined) and MySQL (rewritten to one INSERT) batch ``executemany``
        themselves."""
        if self.name != "sqlite":
            cursor.executemany(self.driver_insert(table, columns, ignore=ignore), rows)
            return int(cursor.rowcount)
        inserted = 0
        start = 0
        remaining = len(rows)
        while remaining:
            size = 1 << (remaining.bit_length() - 1)
            size = min(size, SQLITE_ROWS_PER_STATEMENT)
            params = [value for r in rows[start : start + size] for value in r]
            cursor.execute(self._sqlite_rows(table, columns, size, ignore), params)
            inserted += cursor.rowcount
            start += size
            remaining -= size
        return inserted

    def _sqlite_rows(self, table: str, columns: tuple[str, ...], size: int, ignore: bool) -> str:
        key = (table, columns, ignore, size)
        text = self._rows_sql.get(key)
        if text is None:
            one = self.driver_insert(table, columns, ignore=ignore)
            group = "(" + ", ".join(["?"] * len(columns)) + ")"
            text = self._rows_sql[key] = one + (", " + group) * (size - 1)
        return text

    def _make_insert(self, table: str, columns: tuple[str, ...], ignore: bool) -> str:
        cols = ", ".join(columns)
        values = ", ".join([self.placeholder] * len(columns))
        if not ignore:
            return f"INSERT INTO {table} ({cols}) VALUES ({values})"
        if self.name == "sqlite":
            return f"INSERT OR IGNORE INTO {table} ({cols}) VALUES ({values})"
        if self.name == "postgresql":
            return f"INSERT INTO {table} ({cols}) VALUES ({values}) ON CONFLICT DO NOTHING"
        return f"INSERT IGNORE INTO {table} ({cols}) VALUES ({values})"

    def cannot_write(self, exc: BaseException) -> bool:
        """True when ``exc`` says the database cannot take writes at all now (disk full, file
        gone, I/O error), as opposed to a fault of the operations that were running."""
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        name = str(getattr(orig, "sqlite_errorname", ""))
        return name.startswith(_SQLITE_UNAVAILABLE)


#: rows per multi-row INSERT on SQLite (a power of two; 128 x ~15 columns stays far below the
#: 32,766 bound parameters SQLite 3.32+ accepts)
SQLITE_ROWS_PER_STATEMENT = 128

#: WAL pages after which a commit checkpoints by itself: only a safety net (~400 MB), since the
#: ``checkpoint`` job copies the WAL back every second off the write path
WAL_AUTOCHECKPOINT_PAGES = 100_000


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL with a full sync at each commit (durable before the answer). Checkpoints are not left
    to the committing writer (SQLite's default, every 1,000 pages): a worker job copies the WAL
    back every second (``SQLStore.checkpoint``), so no batch of requests waits for a checkpoint,
    whose cost grows with the database (the index pages random serials touch are spread over a
    bigger file: p99 +55 % at 1,000,000 certificates when the writer checkpointed)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.execute("PRAGMA cache_size=-16384")
    cur.close()


class WriteLock:
    """SQLite: writers of all processes queue on an flock instead of SQLite's busy handler, whose
    sleeps (1, 2, 5, 10... ms) would turn lock contention into latency spikes. Other databases:
    a no-op (their own row locks serialize writers)."""

    def __init__(self, database_path: str | None) -> None:
        self.path = f"{database_path}.writelock" if database_path else None
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600) if self.path else None

    def lock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def unlock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def held_elsewhere(self) -> Iterator[None]:
        """The lock taken through a descriptor of its own, for a thread beside the writer (flock
        locks belong to an open file description, so the writer's would not exclude it)."""
        if self.path is None:
            yield
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
