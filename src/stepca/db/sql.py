"""The SQLAlchemy Core store: the same schema on sqlite, postgresql and mysql/mariadb.

``SQLStore`` is synchronous and thread-safe; the async face the CA uses is
``stepca.db.batch.AsyncStore`` (the ``Store`` Protocol). This module owns transactions only:
what each operation writes is in its query module (``stepca.db.queries``), dialect differences
are in ``stepca.db.dialect``, the reconnect policy in ``stepca.db.retry``.

Uniqueness (token ids, serials) is a database constraint, never a read-then-write. ``apply`` runs
a batch of operations in one transaction (group commit). If that transaction fails for any
reason tied to its operations (a serial collision, a value the column cannot hold), each
operation runs again alone, so only the faulty one fails. If the database cannot take writes at
all (unreachable past the retry window, disk full, the SQLite file removed or replaced under the
running CA), ``StoreUnavailable`` is raised for the batch, ``failure`` says why (``/health``), and
nothing is claimed to be stored; the failure clears when a write succeeds again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, update
from sqlalchemy.exc import DBAPIError

from stepca.db import queries, schema
from stepca.db.dialect import Dialect, WriteLock
from stepca.db.engine import describe
from stepca.db.operations import Operation, Outcome
from stepca.db.records import StoreUnavailable
from stepca.db.retry import RECONNECT_WINDOW, Retry

log = logging.getLogger("stepca.db")
T = TypeVar("T")

__all__ = ["RECONNECT_WINDOW", "SQLStore"]


class SQLStore:
    """Synchronous store over one SQLAlchemy engine (the engine pools connections).

    PostgreSQL and MySQL: a transaction that fails because the database is unavailable (restart,
    dropped connection, deadlock victim) is retried on a new connection for up to
    ``reconnect_window`` seconds. A write whose commit was cut off is first looked up, so a
    transaction that did commit is not applied twice.
    """

    def __init__(self, engine: Engine, *, reconnect_window: float = RECONNECT_WINDOW) -> None:
        self.engine = engine
        self.dialect = Dialect(engine)
        self.retry = Retry(self.dialect.transient_errors, reconnect_window)
        database = engine.url.database
        self._file = (
            database if self.dialect.name == "sqlite" and database and database != ":memory:" else None
        )
        self.lock = WriteLock(self._file)
        self._pin: int | None = None
        self._identity = self._pin_file()
        #: why writes cannot be recorded now (None: they can)
        self.failure: str | None = None
        self._failure_lock = threading.Lock()
        self._writer: Any = None
        self._writer_fairy: Any = None
        self._probe_errors: tuple[type[BaseException], ...] = (
            *self.dialect.errors,
            StoreUnavailable,
            OSError,
        )

    @property
    def reconnect_window(self) -> float:
        return self.retry.window

    # ---------------------------------------------------------------- migrations

    def migrate(self) -> None:
        """Create or upgrade the schema; safe when several instances start at once."""
        from stepca.db.engine import DatabaseError
        from stepca.db.migrate import migrate

        try:
            migrate(self.engine)
        except DBAPIError as exc:
            raise DatabaseError(f"cannot migrate the schema: {describe(exc)}") from None
        self._identity = self._pin_file()

    # ---------------------------------------------------------------- transactions

    def apply(self, ops: Sequence[Operation]) -> list[Outcome]:
        """Run ``ops`` in one transaction; on a failure tied to the operations, each op alone.

        Returns one outcome per op (None, an expected error, or for an op that fails alone the
        database's error); raises ``StoreUnavailable`` when the database takes no writes."""
        try:
            results = self._run(ops)
        except StoreUnavailable:
            raise
        except Exception as exc:  # any error tied to the batch: each op alone
            if self._cannot_write(exc):
                raise self._unavailable(describe(exc)) from None
            if len(ops) == 1:
                log.error("database write failed: %s", describe(exc))
                return [exc]
            log.warning("a batch of %d writes failed (%s): applying them one by one", len(ops), describe(exc))
            results = []
            for op in ops:
                try:
                    results.extend(self._run([op], fast=False))
                except Exception as one:
                    if self._cannot_write(one):
                        raise self._unavailable(describe(one)) from None
                    log.error("database write failed: %s", describe(one))
                    results.append(one)
        self._clear_failure()
        return results

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log back into the database file (PASSIVE: never waits
        for, nor blocks, the writer or readers), on a pooled connection, off the write path.
        Other databases: nothing to do."""
        if self.dialect.name != "sqlite":
            return
        try:
            conn = self.engine.raw_connection()
            try:
                cur = conn.cursor()
                cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cur.fetchall()
                cur.close()
            finally:
                conn.close()
        except Exception as exc:  # harmless: the next one (or a commit's safety net) catches up
            log.debug("checkpoint failed: %s", describe(exc))

    def health(self) -> str | None:
        """Why the store cannot take writes, or None. Also checks, without a write, that the
        SQLite path still names the opened file (so every worker's /health sees a removed or
        replaced file, not only the one whose writer tried to commit)."""
        failure = self.failure
        if (
            failure is None
            and self._file is not None
            and self._identity is not None
            and _file_identity(self._file) != self._identity  # a stat: no side effect on the writer
        ):
            return f"the database file {self._file} was removed or replaced: restart step-ca"
        return failure

    def probe(self) -> bool:
        """One empty write transaction (while ``failure`` is set): True when writes work again."""
        try:
            t = schema.schema_version
            self._locked_transaction(
                lambda conn: conn.execute(update(t).where(t.c.id == 1).values(version=t.c.version))
            )
        except self._probe_errors as exc:
            log.debug("database still unavailable: %s", exc)
            return False
        self._clear_failure()
        return True

    def _run(self, ops: Sequence[Operation], *, fast: bool = True) -> list[Outcome]:
        """One transaction for ``ops``: the batch hot path of their type when they share one,
        else each op's executor on a SQLAlchemy connection."""
        kinds = {type(op) for op in ops}
        ex = queries.EXECUTORS[next(iter(kinds))] if fast and len(kinds) == 1 else None
        batch = ex.batch if ex is not None else None
        if batch is not None:
            outcomes = self._unless_committed(ops, lambda: self._driver_batch(batch, list(ops)))
            if outcomes is not None:
                return outcomes
        return self._unless_committed(
            ops,
            lambda: self._locked_transaction(
                lambda conn: [queries.EXECUTORS[type(op)].run(self.dialect, conn, op) for op in ops]
            ),
        )

    def _unless_committed(self, ops: Sequence[Operation], transaction: Callable[[], T]) -> T:
        """Run ``transaction``, again while the database is unavailable; before running it again,
        look for its effect: a commit whose acknowledgement was lost did happen, and its outcomes
        are read back rather than the operations applied twice."""

        def attempt(retrying: bool) -> T:
            if retrying:
                done = self._outcomes_if_committed(ops)
                if done is not None:
                    log.warning("the interrupted transaction had been committed")
                    return done  # type: ignore[return-value]
            return transaction()

        return self.retry.run(attempt, self._drop_writer)

    def _locked_transaction(self, body: Callable[[Connection], T]) -> T:
        # every op starts with a write, so SQLite takes its write lock at the first statement
        # (no read-to-write lock upgrade that could deadlock between processes)
        self.lock.lock()
        try:
            self._check_file()
            with self.engine.begin() as conn:
                result = body(conn)
            self._check_file()
            return result
        finally:
            self.lock.unlock()

    def _driver_batch(
        self, batch: Callable[[Dialect, Any, list[Any]], list[Outcome] | None], ops: list[Any]
    ) -> list[Outcome] | None:
        """A batch on the writer thread's own driver connection (no pool checkout per batch)."""
        conn = self._writer_connection()
        cursor = conn.cursor()
        try:
            self.lock.lock()
            self._check_file()
            if self.dialect.begin_write:
                cursor.execute(self.dialect.begin_write)
            outcomes = batch(self.dialect, cursor, ops)
            if outcomes is None:
                conn.rollback()
                return None
            conn.commit()
            self._check_file()
        except self.dialect.integrity_errors:  # e.g. a serial collision: the connection is still good
            conn.rollback()
            raise
        except Exception:
            with contextlib.suppress(Exception):
                conn.rollback()
            self._drop_writer()
            raise
        finally:
            self.lock.unlock()
            with contextlib.suppress(Exception):
                cursor.close()
        return outcomes

    def _outcomes_if_committed(self, ops: Sequence[Operation]) -> list[Outcome] | None:
        """The outcomes of ``ops`` if the transaction that ran them committed, else None.

        A certificate (same serial and DER) or a revocation (same time and token) in the database
        proves the commit; the other ops of that transaction then failed as expected (reused
        token, earlier revocation). A transaction that left no such row (only token uses, or
        only failures) is run again: replays fail again, and a token use whose commit was lost
        shows as "token already used" - refused, never accepted twice.
        """
        with self.engine.connect() as conn:
            looked = [queries.EXECUTORS[type(op)].stored(conn, op) for op in ops]
        if not any(o is queries.STORED for o in looked):
            return None
        return [None if o is queries.STORED else o for o in looked]  # type: ignore[misc]

    def _writer_connection(self) -> Any:
        if self._writer is None:
            self._writer_fairy = self.engine.raw_connection()
            self._writer = self._writer_fairy.dbapi_connection
            if self.dialect.name == "sqlite":
                self._writer.isolation_level = None  # we issue BEGIN IMMEDIATE / COMMIT ourselves
        return self._writer

    def _drop_writer(self) -> None:
        if self._writer_fairy is not None:
            with contextlib.suppress(Exception):
                self._writer_fairy.invalidate()
        self._writer = self._writer_fairy = None

    # ---------------------------------------------------------------- availability

    def _pin_file(self) -> tuple[int, int] | None:
        """SQLite: remember which file the path names, and keep it open so its inode number
        cannot be handed to a new file at the same path (which would pass for the same file)."""
        if self._file is None:
            return None
        if self._pin is not None:
            os.close(self._pin)
            self._pin = None
        try:
            self._pin = os.open(self._file, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        st = os.fstat(self._pin)
        return (st.st_dev, st.st_ino)

    def _check_file(self) -> None:
        """SQLite: the path must still name the file this store opened (a deleted or replaced
        file would take commits that vanish at the next start)."""
        if self._file is None or self._identity is None:
            return
        if _file_identity(self._file) != self._identity:
            raise self._unavailable(
                f"the database file {self._file} was removed or replaced: restart step-ca"
            )

    def _cannot_write(self, exc: BaseException) -> bool:
        return self.dialect.cannot_write(exc) or isinstance(exc, self.retry.transient)

    def _unavailable(self, why: str) -> StoreUnavailable:
        with self._failure_lock:
            if self.failure != why:
                log.error("the database cannot record writes: %s", why)
            self.failure = why
        self._drop_writer()
        return StoreUnavailable(f"the database cannot record writes: {why}")

    def _clear_failure(self) -> None:
        if self.failure is not None:
            with self._failure_lock:
                if self.failure is not None:
                    log.warning("the database records writes again")
                self.failure = None

    # ---------------------------------------------------------------- reads and side writes

    def run_query(self, query: Callable[[Connection], T]) -> T:
        """Run ``query(conn)`` on a pooled connection, again while the database is unavailable.
        For reads from any thread."""
        self._check_file()

        def attempt(_retrying: bool) -> T:
            with self.engine.connect() as conn:
                return query(conn)

        return self.retry.run(attempt)

    def write_now(self, write: Callable[[Connection], T]) -> T:
        """Run a write that commits itself (a purge, a lease) beside the writer thread, queued on
        the writers' lock; retried while the database is unavailable, so it must be safe to run
        twice."""

        def attempt(_retrying: bool) -> T:
            with self.lock.held_elsewhere():
                self._check_file()
                with self.engine.connect() as conn:
                    return write(conn)

        return self.retry.run(attempt)

    def close(self) -> None:
        self.lock.close()
        if self._pin is not None:
            os.close(self._pin)
            self._pin = None
        if self._writer_fairy is not None:
            with contextlib.suppress(Exception):
                self._writer_fairy.close()
            self._writer = self._writer_fairy = None
        self.engine.dispose()


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)
