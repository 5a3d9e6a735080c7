"""From a ca.json ``db`` block to a SQLAlchemy engine.

``type``: ``sqlite`` (the embedded default), ``postgresql``/``postgres``, ``mysql`` (MariaDB too).
smallstep's embedded types (badger, badgerv2, bbolt) mean "the embedded default": an SQLite file
``stepca.db`` inside their ``dataSource`` directory, with a warning.
``dataSource`` accepts smallstep's forms (MySQL ``user:pass@tcp(host:3306)/``, PostgreSQL
``postgresql://user:pass@host:5432/``) and SQLAlchemy URLs; ``database`` names the database to
create and use.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from stepca.config import DBConfig
from stepca.errors import ConfigError

log = logging.getLogger("stepca.db")

EMBEDDED_TYPES = {"badger", "badgerv2", "bbolt", "badgerV2"}
DEFAULT_DATABASE = "stepca"
CONNECT_TIMEOUT = 5  # seconds; a server that does not answer fails fast and the store retries
POOL_RECYCLE = 1800  # seconds; below MySQL's wait_timeout and most proxies' idle timeouts
_DB_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")


@dataclass(frozen=True)
class DatabaseTarget:
    url: URL
    kind: str  # sqlite | postgresql | mysql
    warning: str | None = None


def resolve_target(db: DBConfig | None, default_sqlite: Path) -> DatabaseTarget:
    """Where the CA's data lives, as an SQLAlchemy URL (no I/O).

    ``default_sqlite`` is ``$STEPPATH/db/stepca.db``; relative SQLite paths are under $STEPPATH,
    like every path in ca.json.
    """
    if db is None:
        return DatabaseTarget(make_url(f"sqlite:///{default_sqlite}"), "sqlite")
    kind = db.type.lower()
    source = db.data_source.strip()

    def local(path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else default_sqlite.parent.parent / p

    if kind in {t.lower() for t in EMBEDDED_TYPES}:
        path = (local(source) if source else default_sqlite.parent) / "stepca.db"
        return DatabaseTarget(
            make_url(f"sqlite:///{path}"),
            "sqlite",
            warning=f'db.type "{db.type}" is not available in stepca: using the embedded SQLite database {path}',
        )
    if kind == "sqlite":
        if source.startswith("sqlite"):
            return DatabaseTarget(make_url(source), "sqlite")
        return DatabaseTarget(make_url(f"sqlite:///{local(source) if source else default_sqlite}"), "sqlite")
    if kind in ("postgresql", "postgres"):
        return DatabaseTarget(_postgres_url(source, db.database), "postgresql")
    if kind in ("mysql", "mariadb"):
        return DatabaseTarget(_mysql_url(source, db.database), "mysql")
    raise ConfigError(
        f"ca.json: db.type: unsupported database type {db.type!r} (use sqlite, postgresql or mysql)"
    )


def _postgres_url(source: str, database: str | None) -> URL:
    if not source:
        raise ConfigError("ca.json: db.dataSource: required for postgresql")
    url = _parse_url(source, "PostgreSQL")
    if url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigError(
            f"ca.json: db.dataSource: {url.drivername!r} is not a PostgreSQL URL stepca can use "
            "(postgresql://user:password@host:5432/)"
        )
    return _with_database(url.set(drivername="postgresql+psycopg"), database)


def _mysql_url(source: str, database: str | None) -> URL:
    if not source:
        raise ConfigError("ca.json: db.dataSource: required for mysql")
    if "://" in source:
        url = _parse_url(source, "MySQL")
        if url.drivername not in ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql"):
            raise ConfigError(
                f"ca.json: db.dataSource: {url.drivername!r} is not a MySQL URL stepca can use "
                "(user:password@tcp(host:3306)/ or mysql://user:password@host:3306/)"
            )
        url = url.set(drivername="mysql+pymysql")
    else:
        url = _go_mysql_dsn(source)
    return _with_database(url, database)


def _go_mysql_dsn(dsn: str) -> URL:
    """Go's MySQL driver DSN, as smallstep takes it:
    ``[user[:password]@][tcp[(host[:port])]|unix[(socket)]]/[dbname][?params]`` (params ignored)."""
    head, slash, tail = dsn.rpartition("/")
    if not slash:
        raise ConfigError(
            "ca.json: db.dataSource: not a MySQL data source (expected user:password@tcp(host:3306)/)"
        )
    dbname = tail.partition("?")[0]
    credentials, at, address = head.rpartition("@")
    user, _, password = credentials.partition(":") if at else ("", "", "")
    m = re.fullmatch(r"(?:(tcp|unix)(?:\(([^)]*)\))?)?", address)
    if m is None:
        raise ConfigError(
            f"ca.json: db.dataSource: unsupported MySQL address {address!r} (use tcp(host:port))"
        )
    net, addr = m.group(1) or "tcp", m.group(2) or ""
    query: dict[str, str] = {}
    host: str | None = "127.0.0.1"
    port: int | None = 3306
    if net == "unix":
        query["unix_socket"] = addr or "/run/mysqld/mysqld.sock"
        host = port = None
    elif addr:
        name, _, port_text = addr.rpartition(":") if addr.rpartition(":")[0] else (addr, "", "")
        host = name.strip("[]") or "127.0.0.1"
        try:
            port = int(port_text) if port_text else 3306
        except ValueError:
            raise ConfigError(f"ca.json: db.dataSource: bad MySQL port in {addr!r}") from None
    return URL.create(
        "mysql+pymysql",
        username=user or None,
        password=password or None,
        host=host,
        port=port,
        database=dbname or None,
        query=query,
    )


def _parse_url(source: str, what: str) -> URL:
    try:
        return make_url(source)
    except Exception:
        raise ConfigError(f"ca.json: db.dataSource: not a valid {what} URL") from None


def _with_database(url: URL, database: str | None) -> URL:
    if database:
        return url.set(database=database)
    return url if url.database else url.set(database=DEFAULT_DATABASE)


class DatabaseError(Exception):
    """The database cannot be reached or prepared; the message is one line for the operator."""


def describe(exc: BaseException) -> str:
    """One line from a driver error: the server's own words, without SQLAlchemy's decorations."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):  # PyMySQL: (code, text)
        text_ = f"{args[1]} (MySQL error {args[0]})"
    else:
        text_ = str(orig)
    return " ".join(text_.split()) or type(orig).__name__


def ensure_database(target: DatabaseTarget) -> None:
    """Create the named database on a server (PostgreSQL/MySQL) or the directory for SQLite.

    Nothing is created when the database can already be opened (an account limited to its own
    database is enough); several instances creating it at once is not an error.
    """
    if target.kind == "sqlite":
        if target.url.database and target.url.database != ":memory:":
            Path(target.url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    name = target.url.database
    if not name or not _DB_NAME.fullmatch(name):
        raise ConfigError(f"ca.json: db.database: invalid database name {name!r} (letters, digits, _ and -)")
    try:
        _connect_once(target.url, target.kind)
        return
    except DBAPIError as exc:
        cannot_open = describe(exc)
    # maybe it does not exist yet: create it (the server's wording of "does not exist" varies)
    try:
        _create_database(target, name)
    except DBAPIError as exc:
        raise DatabaseError(f"{cannot_open}; creating database {name} failed: {describe(exc)}") from None
    try:
        _connect_once(target.url, target.kind)  # it exists now (made here or by another instance)
    except DBAPIError as exc:
        raise DatabaseError(describe(exc)) from None


def _connect_once(url: URL, kind: str) -> None:
    engine = create_engine(url, poolclass=NullPool, connect_args=_connect_args(kind))
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def _create_database(target: DatabaseTarget, name: str) -> None:
    """Create the database unless it exists (another instance may be creating it right now)."""
    # connect to a database that always exists to create ours
    admin_db = "postgres" if target.kind == "postgresql" else "information_schema"
    admin = create_engine(
        target.url.set(database=admin_db),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args=_connect_args(target.kind),
    )
    exists = text(
        "SELECT 1 FROM pg_database WHERE datname = :n"
        if target.kind == "postgresql"
        else "SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"
    )
    try:
        with admin.connect() as conn:
            if conn.execute(exists, {"n": name}).first() is not None:
                return
            if target.kind == "mysql":
                conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
                return
            try:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            except DBAPIError:
                if conn.execute(exists, {"n": name}).first() is None:
                    raise  # not a concurrent creation: a real failure
                log.info("database %s was created by another instance", name)
    finally:
        admin.dispose()


def _connect_args(kind: str) -> dict[str, Any]:
    if kind == "postgresql":
        return {"connect_timeout": CONNECT_TIMEOUT, "application_name": "stepca"}
    if kind == "mysql":
        return {"connect_timeout": CONNECT_TIMEOUT, "charset": "utf8mb4"}
    return {}


def make_engine(target: DatabaseTarget, *, pool_size: int = 8) -> Engine:
    """An engine whose pool opens connections lazily, at most ``pool_size`` (+2 overflow).

    A worker process's store uses its writer connection plus one per reader thread
    (``stepca.db.batch``), so an instance with W workers holds about W x (readers + 1) connections.
    There is no pre-ping: a connection the server dropped (restart, idle timeout) fails on use,
    SQLAlchemy then invalidates the whole pool, and ``SQLStore`` retries on a new connection.
    """
    if target.kind == "sqlite":
        return create_engine(
            target.url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
    return create_engine(
        target.url,
        pool_size=pool_size,
        max_overflow=2,
        pool_timeout=30,
        pool_recycle=POOL_RECYCLE,
        connect_args=_connect_args(target.kind),
        # MySQL's default REPEATABLE READ takes gap locks that make concurrent inserts from
        # several instances wait on each other; READ COMMITTED is PostgreSQL's default too
        isolation_level="READ COMMITTED",
    )
