"""Version 5: the certificate inventory (issue 15): indexes for listing certificates a page at
a time with filters, on a database of millions.

- ``ix_certificates_provisioner_not_after`` on ``certificates (provisioner, not_after)``: the
  certificates of one provisioner in expiry order (``--provisioner``), keyset pages.
- ``ix_certificates_subject`` on ``certificates (subject)`` (MySQL: its first 191 characters,
  InnoDB's key limit with utf8mb4): ``--subject``.

Listing without a filter walks the existing ``not_after`` index.

- ``audit_events``: one row per issuance, renewal, rekey and revocation (X.509 and SSH), written
  in the transaction of the change: when, what, which certificate, who (provisioner and
  credential) and from where. Admin changes have their own ``admin_audit`` (version 4).
- ``expiry_notices``: the certificates the expiry warnings already reported (one row each, so a
  warning goes out once, whichever instance runs the job).

MySQL commits each DDL statement on its own: every step checks whether it is already done.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, String, Table, inspect

from stepca.db.types import TABLE_OPTIONS, Blob, Key

_md = MetaData()
_audit = Table(
    "audit_events",
    _md,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("action", String(32), nullable=False),
    Column("kind", Key(8), nullable=False),
    Column("serial", Key(80), nullable=False),
    Column("subject", String(1024), nullable=False),
    Column("names", Blob, nullable=False),  # JSON list
    Column("provisioner", String(255), nullable=False),
    Column("credential", String(255), nullable=False),
    Column("remote", String(255), nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_audit_events_at", _audit.c.at_ms)
Index("ix_audit_events_serial", _audit.c.serial)
Table(
    "expiry_notices",
    _md,
    Column("serial", Key(80), primary_key=True),
    Column("kind", Key(8), primary_key=True),
    Column("notified_at", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False, index=True),  # purged once expired
    **TABLE_OPTIONS,
)

INDEXES = {
    "ix_certificates_provisioner_not_after": "(provisioner, not_after)",
    "ix_certificates_subject": "(subject)",
}


def upgrade(conn: Connection) -> None:
    _md.create_all(conn, checkfirst=True)
    have = {i["name"] for i in inspect(conn).get_indexes("certificates")}
    for name, columns in INDEXES.items():
        if name in have:
            continue
        mysql_subject = conn.dialect.name == "mysql" and name == "ix_certificates_subject"
        conn.exec_driver_sql(
            f"CREATE INDEX {name} ON certificates {'(subject(191))' if mysql_subject else columns}"
        )
