"""The schema: one definition for sqlite, postgresql and mysql/mariadb.

Portable types: times are BIGINT unix seconds; keys compare byte for byte everywhere (VARBINARY on
MySQL, whose collations would make token ids ``aB`` and ``Ab``, or ``a`` and ``a ``, collide);
large values are LargeBinary, which becomes LONGBLOB on MySQL. Every table is
InnoDB/utf8mb4 on MySQL. Changes go through versioned migrations (``stepca.db.migrate``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

metadata = MetaData()

_MYSQL = ("mysql", "mariadb")
_TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

Blob = LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)


class Key(TypeDecorator[str]):
    """A string key compared byte for byte on every dialect (serials, token ids).

    MySQL/MariaDB store it as VARBINARY (room for ``length`` characters of UTF-8): their
    collations fold case or ignore trailing spaces, even the ``_bin`` ones (PAD SPACE).
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        length = getattr(self.impl, "length", None) or 255
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.VARBINARY(4 * length))
        return dialect.type_descriptor(String(length))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value.encode() if isinstance(value, str) and dialect.name in _MYSQL else value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return value.decode() if isinstance(value, bytes | bytearray) else value


schema_version = Table(
    "stepca_schema",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    **_TABLE_OPTIONS,
)

used_tokens = Table(
    "used_tokens",
    metadata,
    Column("token_id", Key(255), primary_key=True),
    Column("provisioner", String(255), nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("used_at", BigInteger, nullable=False),
    **_TABLE_OPTIONS,
)

certificates = Table(
    "certificates",
    metadata,
    Column("serial", Key(80), primary_key=True),
    Column("kind", Key(8), primary_key=True),  # x509 | ssh
    Column("provisioner", String(255), nullable=False),
    Column("subject", String(1024), nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False, index=True),
    Column("origin", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("der", Blob, nullable=False),
    **_TABLE_OPTIONS,
)

revocations = Table(
    "revocations",
    metadata,
    Column("serial", Key(80), primary_key=True),
    Column("kind", Key(8), primary_key=True),
    Column("reason_code", Integer, nullable=False),
    Column("reason", String(1024), nullable=False),
    Column("revoked_at", BigInteger, nullable=False),
    Column("provisioner", String(255), nullable=False),
    Column("token_id", String(255), nullable=False),
    Column("mtls", Boolean, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    **_TABLE_OPTIONS,
)

#: the version the migrations in ``stepca.db.migrate.MIGRATIONS`` lead to
SCHEMA_VERSION = 1
