"""The schema, one definition for every dialect, and versioned migrations.

Types chosen for portability: times are BIGINT unix seconds; keys are VARCHAR (MySQL cannot index
BLOB/TEXT keys); large values are LargeBinary, which becomes LONGBLOB on MySQL.
"""

from __future__ import annotations

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

metadata = MetaData()

Blob = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

schema_version = Table(
    "stepca_schema",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

used_tokens = Table(
    "used_tokens",
    metadata,
    Column("token_id", String(255), primary_key=True),
    Column("provisioner", String(255), nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("used_at", BigInteger, nullable=False),
)

certificates = Table(
    "certificates",
    metadata,
    Column("serial", String(80), primary_key=True),
    Column("kind", String(8), primary_key=True),  # x509 | ssh
    Column("provisioner", String(255), nullable=False),
    Column("subject", String(1024), nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False, index=True),
    Column("origin", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("der", Blob, nullable=False),
)

revocations = Table(
    "revocations",
    metadata,
    Column("serial", String(80), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("reason_code", Integer, nullable=False),
    Column("reason", String(1024), nullable=False),
    Column("revoked_at", BigInteger, nullable=False),
    Column("provisioner", String(255), nullable=False),
    Column("token_id", String(255), nullable=False),
    Column("mtls", Boolean, nullable=False),
    Column("not_after", BigInteger, nullable=False),
)

#: bump when a migration is added to MIGRATIONS (stepca.db.sql)
SCHEMA_VERSION = 1
