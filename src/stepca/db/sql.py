"""The SQLAlchemy Core store: the same schema on sqlite, postgresql and mysql/mariadb.

Uniqueness (token ids, serials) is a database constraint, never a read-then-write. Writes that
must be durable before a response go through ``apply`` in one transaction; the async facade in
``stepca.db.batch`` groups concurrent writes into one transaction (group commit).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, insert, select
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from stepca.db import schema
from stepca.db.records import (
    AlreadyRevokedError,
    CertificateRecord,
    RevocationRecord,
    TokenReusedError,
    UsedToken,
)

log = logging.getLogger("stepca.db")


# ------------------------------------------------------------------------------------ operations
# An operation runs inside a transaction and returns None or an *expected* error instance (token
# reused, already revoked): returning instead of raising lets the other operations of the same
# group-commit transaction go on.

Outcome = Exception | None


@dataclass(frozen=True, slots=True)
class IssueOp:
    cert: CertificateRecord
    token: UsedToken | None = None

    def run(self, store: SQLStore, conn: Connection) -> Outcome:
        if self.token is not None and not store.insert_token(conn, self.token):
            return TokenReusedError(self.token.token_id)
        store.insert_certificate(conn, self.cert)
        return None


@dataclass(frozen=True, slots=True)
class UseTokenOp:
    token: UsedToken

    def run(self, store: SQLStore, conn: Connection) -> Outcome:
        if not store.insert_token(conn, self.token):
            return TokenReusedError(self.token.token_id)
        return None


@dataclass(frozen=True, slots=True)
class RevokeOp:
    revocation: RevocationRecord
    token: UsedToken | None = None

    def run(self, store: SQLStore, conn: Connection) -> Outcome:
        if self.token is not None and not store.insert_token(conn, self.token):
            return TokenReusedError(self.token.token_id)
        if not store.insert_ignore(conn, schema.revocations, _revocation_row(self.revocation)):
            return AlreadyRevokedError(self.revocation.serial)
        return None


Operation = IssueOp | UseTokenOp | RevokeOp


def _revocation_row(r: RevocationRecord) -> dict[str, Any]:
    return {
        "serial": r.serial,
        "kind": r.kind,
        "reason_code": r.reason_code,
        "reason": r.reason[:1024],
        "revoked_at": r.revoked_at,
        "provisioner": r.provisioner[:255],
        "token_id": r.token_id[:255],
        "mtls": r.mtls,
        "not_after": r.not_after,
    }


class SQLStore:
    """Synchronous store over one SQLAlchemy engine (thread-safe: the engine pools connections)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        if self.dialect == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            self._insert_ignore: Callable[[Any], Any] = lambda t: sqlite_dialect.insert(
                t
            ).on_conflict_do_nothing()
        elif self.dialect == "postgresql":
            self._insert_ignore = lambda t: pg_dialect.insert(t).on_conflict_do_nothing()
        elif self.dialect in ("mysql", "mariadb"):
            self._insert_ignore = lambda t: mysql_dialect.insert(t).prefix_with("IGNORE")
        else:
            raise ValueError(f"unsupported database dialect {self.dialect}")
        self._ignore_stmts: dict[str, Any] = {}
        self._writer: Any = None
        self._writer_fairy: Any = None
        # SQLite: writers of all processes queue on an flock instead of SQLite's busy handler,
        # whose sleeps (1, 2, 5, 10... ms) would turn lock contention into latency spikes
        self._lock_fd: int | None = None
        database = engine.url.database
        if self.dialect == "sqlite" and database and database != ":memory:":
            self._lock_fd = os.open(f"{database}.writelock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._insert_cert = insert(schema.certificates)
        # driver-level SQL for the hot path (parameter style per driver)
        ph = "?" if self.dialect == "sqlite" else "%s"
        token_cols = "token_id, provisioner, expires_at, used_at"
        values4 = ", ".join([ph] * 4)
        if self.dialect == "sqlite":
            self._sql_token = f"INSERT OR IGNORE INTO used_tokens ({token_cols}) VALUES ({values4})"
        elif self.dialect == "postgresql":
            self._sql_token = (
                f"INSERT INTO used_tokens ({token_cols}) VALUES ({values4}) ON CONFLICT DO NOTHING"
            )
        else:
            self._sql_token = f"INSERT IGNORE INTO used_tokens ({token_cols}) VALUES ({values4})"
        cert_cols = "serial, kind, provisioner, subject, not_before, not_after, origin, created_at, der"
        self._sql_cert = f"INSERT INTO certificates ({cert_cols}) VALUES ({', '.join([ph] * 9)})"

    # ---------------------------------------------------------------- migrations

    def migrate(self) -> None:
        """Create or upgrade the schema; safe when several instances start at once."""
        from stepca.db.migrate import migrate

        migrate(self.engine)

    # ---------------------------------------------------------------- primitive writes

    def insert_ignore(self, conn: Connection, table: Any, row: dict[str, Any]) -> bool:
        """Insert unless the key exists; True when the row was inserted."""
        stmt = self._ignore_stmts.get(table.name)
        if stmt is None:
            stmt = self._ignore_stmts[table.name] = self._insert_ignore(table)
        return bool(conn.execute(stmt, row).rowcount == 1)

    def insert_token(self, conn: Connection, token: UsedToken) -> bool:
        return self.insert_ignore(
            conn,
            schema.used_tokens,
            {
                "token_id": token.token_id[:255],
                "provisioner": token.provisioner[:255],
                "expires_at": token.expires_at,
                "used_at": int(time.time()),
            },
        )

    def insert_certificate(self, conn: Connection, cert: CertificateRecord) -> None:
        conn.execute(
            self._insert_cert,
            {
                "serial": cert.serial,
                "kind": cert.kind,
                "provisioner": cert.provisioner[:255],
                "subject": cert.subject[:1024],
                "not_before": cert.not_before,
                "not_after": cert.not_after,
                "origin": cert.origin,
                "created_at": int(time.time()),
                "der": cert.der,
            },
        )

    # ---------------------------------------------------------------- transactions

    def apply(self, ops: Sequence[Operation]) -> list[Outcome]:
        """Run ``ops`` in one transaction. If the transaction fails as a whole (e.g. a serial
        collision), each op is retried alone so one bad op cannot fail the others."""
        try:
            if all(type(op) is IssueOp for op in ops):
                fast = self._issue_batch(ops)  # type: ignore[arg-type]
                if fast is not None:
                    return fast
            return self._apply_once(ops)
        except IntegrityError:
            if len(ops) == 1:
                raise
        except OperationalError:
            # connection lost (database restarted): the pool drops it; try again once
            log.warning("database operation failed; retrying once on a new connection")
            return self._apply_once(ops)
        results: list[Outcome] = []
        for op in ops:
            try:
                results.extend(self._apply_once([op]))
            except DBAPIError as exc:
                results.append(exc)
        return results

    def _writer_connection(self) -> Any:
        """A driver connection kept by the (single) writer thread: no pool checkout per batch."""
        if self._writer is None:
            self._writer_fairy = self.engine.raw_connection()
            self._writer = self._writer_fairy.dbapi_connection
            if self.dialect == "sqlite":
                self._writer.isolation_level = None  # we issue BEGIN IMMEDIATE / COMMIT ourselves
        return self._writer

    def _drop_writer_connection(self) -> None:
        if self._writer_fairy is not None:
            with contextlib.suppress(Exception):
                self._writer_fairy.invalidate()
        self._writer = self._writer_fairy = None

    def _issue_batch(self, ops: Sequence[IssueOp]) -> list[Outcome] | None:
        """The hot path: a batch of issuances as two ``executemany`` in one transaction.

        Token ids are inserted with "insert unless present"; when the affected-row count shows
        a replayed token, the transaction is rolled back and None tells the caller to take the
        per-operation path that reports exactly which token was reused.
        """
        now = int(time.time())
        tokens = [
            (op.token.token_id[:255], op.token.provisioner[:255], op.token.expires_at, now)
            for op in ops
            if op.token is not None
        ]
        certs = [
            (
                c.serial,
                c.kind,
                c.provisioner[:255],
                c.subject[:1024],
                c.not_before,
                c.not_after,
                c.origin,
                now,
                c.der,
            )
            for c in (op.cert for op in ops)
        ]
        conn = self._writer_connection()
        cursor = conn.cursor()
        try:
            self._lock()
            if self.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            if tokens:
                cursor.executemany(self._sql_token, tokens)
                if cursor.rowcount != len(tokens):
                    conn.rollback()
                    return None
            cursor.executemany(self._sql_cert, certs)
            conn.commit()
        except Exception:
            with contextlib.suppress(Exception):
                conn.rollback()
            self._drop_writer_connection()
            raise
        finally:
            self._unlock()
            with contextlib.suppress(Exception):
                cursor.close()
        return [None] * len(ops)

    def _lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _apply_once(self, ops: Sequence[Operation]) -> list[Outcome]:
        # every op starts with a write, so SQLite takes its write lock at the first statement
        # (no read-to-write lock upgrade that could deadlock between processes)
        self._lock()
        try:
            with self.engine.begin() as conn:
                return [op.run(self, conn) for op in ops]
        finally:
            self._unlock()

    # ---------------------------------------------------------------- reads

    def get_certificate(self, serial: str, kind: str = "x509") -> CertificateRecord | None:
        t = schema.certificates
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.serial == serial, t.c.kind == kind)).first()
        if row is None:
            return None
        return CertificateRecord(
            serial=row.serial,
            der=bytes(row.der),
            provisioner=row.provisioner,
            subject=row.subject,
            not_before=row.not_before,
            not_after=row.not_after,
            kind=row.kind,
            origin=row.origin,
        )

    def get_revocation(self, serial: str, kind: str = "x509") -> RevocationRecord | None:
        t = schema.revocations
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.serial == serial, t.c.kind == kind)).first()
        if row is None:
            return None
        return RevocationRecord(
            serial=row.serial,
            reason_code=row.reason_code,
            reason=row.reason,
            revoked_at=row.revoked_at,
            provisioner=row.provisioner,
            token_id=row.token_id,
            mtls=bool(row.mtls),
            not_after=row.not_after,
            kind=row.kind,
        )

    def list_revocations(self, kind: str = "x509", *, active_at: int | None = None) -> list[RevocationRecord]:
        t = schema.revocations
        stmt = select(t).where(t.c.kind == kind)
        if active_at is not None:
            stmt = stmt.where(t.c.not_after >= active_at)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(t.c.revoked_at)).all()
        return [
            RevocationRecord(
                serial=r.serial,
                reason_code=r.reason_code,
                reason=r.reason,
                revoked_at=r.revoked_at,
                provisioner=r.provisioner,
                token_id=r.token_id,
                mtls=bool(r.mtls),
                not_after=r.not_after,
                kind=r.kind,
            )
            for r in rows
        ]

    def token_used(self, token_id: str) -> bool:
        t = schema.used_tokens
        with self.engine.connect() as conn:
            return conn.execute(select(t.c.token_id).where(t.c.token_id == token_id)).first() is not None

    def count_certificates(self, kind: str = "x509") -> int:
        from sqlalchemy import func

        t = schema.certificates
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t).where(t.c.kind == kind)).scalar_one())

    def purge_used_tokens(self, before: int) -> int:
        """Forget used tokens that expired before ``before``: they are refused as expired anyway."""
        t = schema.used_tokens
        with self.engine.begin() as conn:
            return int(conn.execute(delete(t).where(t.c.expires_at < before)).rowcount)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._writer_fairy is not None:
            with contextlib.suppress(Exception):
                self._writer_fairy.close()
            self._writer = self._writer_fairy = None
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
