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

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

from stepca.config import DBConfig
from stepca.errors import ConfigError

log = logging.getLogger("stepca.db")

EMBEDDED_TYPES = {"badger", "badgerv2", "bbolt", "badgerV2"}
DEFAULT_DATABASE = "stepca"
_GO_MYSQL = re.compile(
    r"^(?P<user>[^:@/]*)(?::(?P<password>[^@]*))?@tcp\((?P<host>[^)]+)\)/(?P<db>[^?]*)(?:\?.*)?$"
)


@dataclass(frozen=True)
class DatabaseTarget:
    url: URL
    kind: str  # sqlite | postgresql | mysql
    warning: str | None = None


def resolve_target(db: DBConfig | None, default_sqlite: Path) -> DatabaseTarget:
    """Where the CA's data lives, as an SQLAlchemy URL (no I/O)."""
    if db is None:
        return DatabaseTarget(make_url(f"sqlite:///{default_sqlite}"), "sqlite")
    kind = db.type.lower()
    source = db.data_source.strip()
    if kind in {t.lower() for t in EMBEDDED_TYPES}:
        path = (Path(source) if source else default_sqlite.parent) / "stepca.db"
        return DatabaseTarget(
            make_url(f"sqlite:///{path}"),
            "sqlite",
            warning=f'db.type "{db.type}" is not available in stepca: using the embedded SQLite database {path}',
        )
    if kind == "sqlite":
        if source.startswith("sqlite"):
            return DatabaseTarget(make_url(source), "sqlite")
        return DatabaseTarget(make_url(f"sqlite:///{Path(source) if source else default_sqlite}"), "sqlite")
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
    try:
        url = make_url(source)
    except Exception:
        raise ConfigError("ca.json: db.dataSource: not a valid PostgreSQL URL") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if database:
        url = url.set(database=database)
    elif not url.database:
        url = url.set(database=DEFAULT_DATABASE)
    return url


def _mysql_url(source: str, database: str | None) -> URL:
    if not source:
        raise ConfigError("ca.json: db.dataSource: required for mysql")
    m = _GO_MYSQL.match(source)
    if m:
        host, _, port = m.group("host").partition(":")
        url = URL.create(
            "mysql+pymysql",
            username=m.group("user") or None,
            password=m.group("password") or None,
            host=host,
            port=int(port) if port else 3306,
            database=m.group("db") or None,
        )
    else:
        try:
            url = make_url(source)
        except Exception:
            raise ConfigError("ca.json: db.dataSource: not a valid MySQL data source") from None
        if url.drivername in ("mysql", "mariadb"):
            url = url.set(drivername="mysql+pymysql")
    if database:
        url = url.set(database=database)
    elif not url.database:
        url = url.set(database=DEFAULT_DATABASE)
    return url


def ensure_database(target: DatabaseTarget) -> None:
    """Create the named database on a server (PostgreSQL/MySQL) or the directory for SQLite."""
    if target.kind == "sqlite":
        if target.url.database and target.url.database != ":memory:":
            Path(target.url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    from sqlalchemy import text

    name = target.url.database
    assert name
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ConfigError(f"ca.json: db.database: invalid database name {name!r}")
    admin_db = "postgres" if target.kind == "postgresql" else None
    admin = create_engine(target.url.set(database=admin_db), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            if target.kind == "postgresql":
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                if not exists:
                    try:
                        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                    except Exception:
                        log.info("database %s was created concurrently", name)
            else:
                conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}`")
    finally:
        admin.dispose()


def make_engine(target: DatabaseTarget, *, pool_size: int = 8) -> Engine:
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
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )
