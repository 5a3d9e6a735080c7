"""Version 7: the web dashboard's sessions (issue 15 item 5; stepca.web).

- ``dashboard_sessions``: one row per logged-in browser. ``id_hash`` is the SHA-256 of the
  session id the cookie carries (the id itself is never stored, so a copy of the database
  logs nobody in); who logged in (``subject``, ``provisioner``, ``method``); ``expires_at``
  (unix seconds, indexed: expired rows are purged).
- ``ix_certificates_created_at`` on ``certificates (created_at)``: the overview's issued per
  hour over the last 24 hours reads a range of it.

MySQL commits each DDL statement on its own: every step checks whether it is already done.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, MetaData, String, Table, inspect

from stepca.db.types import TABLE_OPTIONS, Key

_md = MetaData()
Table(
    "dashboard_sessions",
    _md,
    Column("id_hash", Key(64), primary_key=True),
    Column("subject", String(255), nullable=False),
    Column("provisioner", String(255), nullable=False),
    Column("method", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    **TABLE_OPTIONS,
)


def upgrade(conn: Connection) -> None:
    _md.create_all(conn, checkfirst=True)
    have = {i["name"] for i in inspect(conn).get_indexes("certificates")}
    if "ix_certificates_created_at" not in have:
        conn.exec_driver_sql("CREATE INDEX ix_certificates_created_at ON certificates (created_at)")
