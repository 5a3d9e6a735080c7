"""The three database backends for tests: the embedded SQLite, and the real PostgreSQL and MariaDB
running on this machine (GUIDE.md). Each test gets its own database and drops it afterwards.

Tests that use a server take a *shared* lock on it; tests that restart a server take it
*exclusively*, so a restart never pulls a database from under another test of this suite
(across pytest processes and xdist workers too).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

BACKENDS = ("sqlite", "postgresql", "mysql")
SERVERS = ("postgresql", "mysql")

PG_HOST, PG_PORT = "127.0.0.1", 5432
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306
#: the ca.json dataSource of each server, in smallstep's own forms
DATA_SOURCES = {
    "postgresql": f"postgresql://postgres@{PG_HOST}:{PG_PORT}/",
    "mysql": f"root@tcp({MYSQL_HOST}:{MYSQL_PORT})/",
}
ADMIN_URLS = {
    "postgresql": f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/postgres",
    "mysql": f"mysql+pymysql://root@{MYSQL_HOST}:{MYSQL_PORT}/information_schema",
}
_LOCK_DIR = Path(os.environ.get("STEPCA_TEST_LOCK_DIR", "/tmp"))


# ------------------------------------------------------------------------------ the services


def server_answers(kind: str, timeout: float = 3) -> bool:
    engine = create_engine(
        ADMIN_URLS[kind], poolclass=NullPool, connect_args={"connect_timeout": max(1, int(timeout))}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def start_server(kind: str) -> None:
    """Start a server the way GUIDE.md says (also what .ci/services.sh does)."""
    if kind == "postgresql":
        for version in sorted(os.listdir("/etc/postgresql")):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                capture_output=True,
                timeout=60,
            )
    else:
        subprocess.run(
            ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"],
            capture_output=True,
            timeout=60,
        )


def wait_for_server(kind: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_answers(kind):
            return True
        time.sleep(0.25)
    return False


def ensure_server(kind: str) -> None:
    """The server answers, or is started; if it still does not answer the test fails loudly."""
    if server_answers(kind):
        return
    start_server(kind)
    if not wait_for_server(kind, 60):
        raise AssertionError(
            f"the {kind} server on this machine does not answer and could not be started "
            "(see GUIDE.md, 'Services on this machine kind')"
        )


@contextlib.contextmanager
def server_lock(kind: str, *, exclusive: bool = False) -> Iterator[None]:
    fd = os.open(_LOCK_DIR / f"stepca-tests-{kind}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# ------------------------------------------------------------------------------ one test database


@dataclass
class Backend:
    """One test's database on one backend."""

    kind: str  # sqlite | postgresql | mysql
    database: str  # the database name (servers) or the SQLite file
    _stack: contextlib.ExitStack

    @property
    def is_server(self) -> bool:
        return self.kind in SERVERS

    def db_block(self) -> dict[str, Any]:
        """The ca.json ``db`` block, in smallstep's form."""
        if self.kind == "sqlite":
            return {"type": "sqlite", "dataSource": self.database}
        return {"type": self.kind, "dataSource": DATA_SOURCES[self.kind], "database": self.database}

    def apply(self, pki: Any) -> None:
        """Point a PKI's ca.json (tests.helpers.PKI) at this database."""
        pki.edit_config(lambda cfg: cfg.__setitem__("db", self.db_block()))

    def url(self) -> URL:
        if self.kind == "sqlite":
            return make_url(f"sqlite:///{self.database}")
        return make_url(ADMIN_URLS[self.kind]).set(database=self.database)

    def engine(self) -> Engine:
        """A plain engine for inspecting what the CA stored (dispose it after use)."""
        return create_engine(self.url(), poolclass=NullPool)

    def scalar(self, sql: str, **params: Any) -> Any:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql), params).scalar()
        finally:
            engine.dispose()

    def column(self, sql: str, **params: Any) -> list[Any]:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params).scalars())
        finally:
            engine.dispose()

    def close(self) -> None:
        self._stack.close()


def open_backend(kind: str, tmp_path: Path, *, exclusive: bool = False) -> Backend:
    """A fresh database for one test: its server checked (and started) first; the returned
    Backend drops the database on ``close()``. ``exclusive``: no other test of this suite uses
    the server meanwhile (for tests that restart it)."""
    stack = contextlib.ExitStack()
    if kind == "sqlite":
        return Backend("sqlite", str(tmp_path / "db" / "stepca.db"), stack)
    stack.enter_context(server_lock(kind, exclusive=exclusive))
    ensure_server(kind)
    name = f"stepca_t{uuid.uuid4().hex[:12]}"
    stack.callback(drop_database, kind, name)
    return Backend(kind, name, stack)


def drop_database(kind: str, name: str) -> None:
    engine = create_engine(ADMIN_URLS[kind], poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if kind == "postgresql":
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        engine.dispose()


def terminate_connections(kind: str, name: str) -> int:
    """Cut every connection to database ``name`` from the server side (as a restart would)."""
    engine = create_engine(ADMIN_URLS[kind], poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if kind == "postgresql":
                rows = conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                ).all()
                return len(rows)
            ids = conn.execute(
                text("SELECT id FROM information_schema.processlist WHERE db = :n AND id <> CONNECTION_ID()"),
                {"n": name},
            ).scalars()
            count = 0
            for conn_id in list(ids):
                with contextlib.suppress(Exception):
                    conn.exec_driver_sql(f"KILL CONNECTION {int(conn_id)}")
                    count += 1
            return count
    finally:
        engine.dispose()


def restart_server(kind: str) -> None:
    """Restart a server (the caller holds ``server_lock(kind, exclusive=True)``); it answers again
    when this returns, or the test fails loudly. Never leaves it stopped if it can be started."""
    try:
        if kind == "postgresql":
            for version in sorted(os.listdir("/etc/postgresql")):
                subprocess.run(
                    ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
        else:
            _stop_mariadb()
    finally:
        if not server_answers(kind):
            start_server(kind)
        if not wait_for_server(kind, 60):
            raise AssertionError(f"the {kind} server did not come back after a restart")


def _stop_mariadb(timeout: float = 60) -> None:
    pid = int(Path("/run/mysqld/mysqld.pid").read_text().strip())
    os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"mariadbd (pid {pid}) did not stop within {timeout:.0f}s")
