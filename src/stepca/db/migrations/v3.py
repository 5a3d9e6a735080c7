"""Version 3: revocation lists (issue 13).

- ``crl_numbers``: one row per CRL scope (an X.509 issuer, or ``ssh`` for the KRL) holding the
  last number handed out: complete CRLs, delta CRLs and KRL versions of every instance sharing the
  database take their numbers from it (RFC 5280 5.2.3: one increasing sequence per scope, shared
  by complete and delta CRLs, 5.2.4).
- ``crls``: the lists the CA published. The newest of each kind with a body is the one served;
  older rows keep their numbers and validity (the delta CRL's base is the oldest complete CRL
  still valid) with the body emptied, and are purged once expired.
- ``revocations.invalidity_date`` (RFC 5280 5.3.2, 0 = not given) and an index on
  ``revocations (kind, revoked_at)`` for "revoked since" (delta CRLs) and "latest revocation".

MySQL commits each DDL statement on its own: every step checks whether it is already done.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, String, Table, inspect

from stepca.db.types import TABLE_OPTIONS, Blob, Key

_md = MetaData()

Table(
    "crl_numbers",
    _md,
    Column("scope", Key(64), primary_key=True),
    Column("number", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
_crls = Table(
    "crls",
    _md,
    Column("scope", Key(64), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", Key(8), nullable=False),  # base | delta | krl
    Column("base_number", BigInteger, nullable=False),  # delta: its BaseCRLNumber, else 0
    Column("this_update", BigInteger, nullable=False),
    Column("next_update", BigInteger, nullable=False),
    Column("refresh_at", BigInteger, nullable=False),
    Column("tag", String(64), nullable=False),
    Column("size", Integer, nullable=False),  # len(der); 0 once a newer one replaced it
    Column("der", Blob, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_crls_scope_kind_number", _crls.c.scope, _crls.c.kind, _crls.c.number)

_REVOKED_SINCE_INDEX = "ix_revocations_kind_revoked_at"


def upgrade(conn: Connection) -> None:
    _md.create_all(conn, checkfirst=True)
    insp = inspect(conn)
    if "invalidity_date" not in {c["name"] for c in insp.get_columns("revocations")}:
        conn.exec_driver_sql("ALTER TABLE revocations ADD COLUMN invalidity_date BIGINT DEFAULT 0 NOT NULL")
    if _REVOKED_SINCE_INDEX not in {i["name"] for i in insp.get_indexes("revocations")}:
        conn.exec_driver_sql(f"CREATE INDEX {_REVOKED_SINCE_INDEX} ON revocations (kind, revoked_at)")
