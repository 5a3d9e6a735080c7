"""Version 2: leases for background jobs that must run once per cluster (``stepca.jobs``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, MetaData, String, Table

from stepca.db.types import TABLE_OPTIONS, Key

_md = MetaData()

Table(
    "job_leases",
    _md,
    Column("name", Key(64), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("acquired_at_ms", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)


def upgrade(conn: Connection) -> None:
    _md.create_all(conn, checkfirst=True)
