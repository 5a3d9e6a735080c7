"""Version 1: one-time tokens, certificates, revocations, and the version row itself."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Connection, Integer, MetaData, String, Table

from stepca.db.types import TABLE_OPTIONS, Blob, Key

_md = MetaData()

Table(
    "stepca_schema",
    _md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    **TABLE_OPTIONS,
)
Table(
    "used_tokens",
    _md,
    Column("token_id", Key(255), primary_key=True),
    Column("provisioner", String(255), nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("used_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Table(
    "certificates",
    _md,
    Column("serial", Key(80), primary_key=True),
    Column("kind", Key(8), primary_key=True),
    Column("provisioner", String(255), nullable=False),
    Column("subject", String(1024), nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False, index=True),
    Column("origin", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("der", Blob, nullable=False),
    **TABLE_OPTIONS,
)
Table(
    "revocations",
    _md,
    Column("serial", Key(80), primary_key=True),
    Column("kind", Key(8), primary_key=True),
    Column("reason_code", Integer, nullable=False),
    Column("reason", String(1024), nullable=False),
    Column("revoked_at", BigInteger, nullable=False),
    Column("provisioner", String(255), nullable=False),
    Column("token_id", String(255), nullable=False),
    Column("mtls", Boolean, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)


def upgrade(conn: Connection) -> None:
    _md.create_all(conn, checkfirst=True)
