"""ca.json ``db`` blocks, in smallstep's forms and as SQLAlchemy URLs, to database targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepca.config import DBConfig
from stepca.db.engine import ensure_database, resolve_target
from stepca.errors import ConfigError

DEFAULT = Path("/srv/step/db/stepca.db")


@pytest.mark.parametrize(
    ("block", "url", "kind"),
    [
        (None, "sqlite:////srv/step/db/stepca.db", "sqlite"),
        ({"type": "sqlite", "dataSource": "/var/lib/ca.db"}, "sqlite:////var/lib/ca.db", "sqlite"),
        ({"type": "sqlite", "dataSource": "db/other.db"}, "sqlite:////srv/step/db/other.db", "sqlite"),
        ({"type": "badgerv2", "dataSource": "/srv/step/db"}, "sqlite:////srv/step/db/stepca.db", "sqlite"),
        ({"type": "badgerv2", "dataSource": "db2"}, "sqlite:////srv/step/db2/stepca.db", "sqlite"),
        # smallstep's MySQL form (Go driver DSN)
        (
            {"type": "mysql", "dataSource": "user:pass@tcp(127.0.0.1:3306)/", "database": "myca"},
            "mysql+pymysql://user:pass@127.0.0.1:3306/myca",
            "mysql",
        ),
        (
            {"type": "mysql", "dataSource": "root@tcp(db.example.com)/step?parseTime=true"},
            "mysql+pymysql://root@db.example.com:3306/step",
            "mysql",
        ),
        (
            {"type": "mysql", "dataSource": "u:p@ss@tcp([::1]:3307)/"},
            "mysql+pymysql://u:p%40ss@[::1]:3307/stepca",
            "mysql",
        ),
        (
            {"type": "mysql", "dataSource": "root@unix(/run/mysqld/mysqld.sock)/"},
            "mysql+pymysql://root@/stepca?unix_socket=%2Frun%2Fmysqld%2Fmysqld.sock",
            "mysql",
        ),
        ({"type": "mysql", "dataSource": "user@/"}, "mysql+pymysql://user@127.0.0.1:3306/stepca", "mysql"),
        (
            {"type": "mariadb", "dataSource": "mysql://root@localhost/", "database": "ca"},
            "mysql+pymysql://root@localhost/ca",
            "mysql",
        ),
        # smallstep's PostgreSQL form, and SQLAlchemy's
        (
            {"type": "postgresql", "dataSource": "postgresql://user:pass@host:5432/", "database": "myca"},
            "postgresql+psycopg://user:pass@host:5432/myca",
            "postgresql",
        ),
        (
            {"type": "postgres", "dataSource": "postgresql+psycopg://u@h/stepdb?sslmode=require"},
            "postgresql+psycopg://u@h/stepdb?sslmode=require",
            "postgresql",
        ),
    ],
)
def test_data_sources(block: dict[str, str] | None, url: str, kind: str) -> None:
    target = resolve_target(None if block is None else DBConfig.model_validate(block), DEFAULT)
    assert target.url.render_as_string(hide_password=False) == url
    assert target.kind == kind
    assert (target.warning is not None) == (block is not None and block["type"] == "badgerv2")
    if target.warning:
        assert "not available in stepca" in target.warning


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"type": "mysql", "dataSource": ""}, "db.dataSource: required for mysql"),
        ({"type": "mysql", "dataSource": "garbage"}, "not a MySQL data source"),
        ({"type": "mysql", "dataSource": "root@udp(host)/"}, "unsupported MySQL address"),
        ({"type": "postgresql", "dataSource": "postgresql+psycopg2://u@h/"}, "not a PostgreSQL URL stepca"),
        ({"type": "mysql", "dataSource": "postgresql://u@h/"}, "not a MySQL URL stepca"),
        ({"type": "oracle", "dataSource": "x"}, "unsupported database type 'oracle'"),
    ],
)
def test_bad_data_sources_name_the_field(block: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=r"ca\.json: db") as err:
        resolve_target(DBConfig.model_validate(block), DEFAULT)
    assert message in str(err.value)


def test_database_names_are_checked_before_use() -> None:
    block = {"type": "postgresql", "dataSource": "postgresql://u@127.0.0.1:1/", "database": 'x"; DROP'}
    with pytest.raises(ConfigError, match=r"db\.database: invalid database name"):
        ensure_database(resolve_target(DBConfig.model_validate(block), DEFAULT))
