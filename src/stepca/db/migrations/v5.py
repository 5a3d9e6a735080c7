"""Version 5: the certificate inventory (issue 15): indexes for listing certificates a page at
a time with filters, on a database of millions.

- ``ix_certificates_provisioner_not_after`` on ``certificates (provisioner, not_after)``: the
  certificates of one provisioner in expiry order (``--provisioner``), keyset pages.
- ``ix_certificates_subject`` on ``certificates (subject)`` (MySQL: its first 191 characters,
  InnoDB's key limit with utf8mb4): ``--subject``.

Listing without a filter walks the existing ``not_after`` index.

- the audit log of certificate events lives in the rows of the change itself (no extra row, no
  extra index on the issuance path): ``certificates.credential`` and ``certificates.remote``
  (the token id, or ``cert:<serial>`` for mTLS, and the client's address), and the same two on
  ``revocations``; what, when, which certificate and which provisioner were already there.
- ``expiry_notices``: the certificates the expiry warnings already reported (one row each, so a
  warning goes out once, whichever instance runs the job).

MySQL commits each DDL statement on its own: every step checks whether it is already done.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, MetaData, Table, inspect

from stepca.db.types import TABLE_OPTIONS, Key

_md = MetaData()
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


#: the audit columns: (table, column, DDL type)
AUDIT_COLUMNS = (
    ("certificates", "credential", "VARCHAR(255)"),
    ("certificates", "remote", "VARCHAR(64)"),
    ("revocations", "credential", "VARCHAR(255)"),
    ("revocations", "remote", "VARCHAR(64)"),
)


def upgrade(conn: Connection) -> None:
    _md.create_all(conn, checkfirst=True)
    insp = inspect(conn)
    for table, column, ddl in AUDIT_COLUMNS:
        if column not in {c["name"] for c in insp.get_columns(table)}:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl} DEFAULT '' NOT NULL")
    have = {i["name"] for i in inspect(conn).get_indexes("certificates")}
    for name, columns in INDEXES.items():
        if name in have:
            continue
        mysql_subject = conn.dialect.name == "mysql" and name == "ix_certificates_subject"
        conn.exec_driver_sql(
            f"CREATE INDEX {name} ON certificates {'(subject(191))' if mysql_subject else columns}"
        )
