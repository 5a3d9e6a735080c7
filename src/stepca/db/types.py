"""Column types shared by the live schema and the frozen migrations.

Portable types: times are BIGINT unix seconds; keys compare byte for byte everywhere (VARBINARY on
MySQL, whose collations would make token ids ``aB`` and ``Ab``, or ``a`` and ``a ``, collide);
large values are LargeBinary, which becomes LONGBLOB on MySQL. Every table is InnoDB/utf8mb4 on
MySQL. These definitions are part of every migration's DDL: change them only with a migration.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary, String
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

MYSQL = ("mysql", "mariadb")
TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

Blob = LargeBinary().with_variant(mysql.LONGBLOB(), *MYSQL)


class Key(TypeDecorator[str]):
    """A string key compared byte for byte on every dialect (serials, token ids).

    MySQL/MariaDB store it as VARBINARY (room for ``length`` characters of UTF-8): their
    collations fold case or ignore trailing spaces, even the ``_bin`` ones (PAD SPACE).
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        length = getattr(self.impl, "length", None) or 255
        if dialect.name in MYSQL:
            return dialect.type_descriptor(mysql.VARBINARY(4 * length))
        return dialect.type_descriptor(String(length))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value.encode() if isinstance(value, str) and dialect.name in MYSQL else value

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return value.decode() if isinstance(value, bytes | bytearray) else value
