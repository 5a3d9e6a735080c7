"""Version 5: the certificate inventory (issue 15): indexes for listing certificates a page at
a time with filters, on a database of millions.

- ``ix_certificates_provisioner_not_after`` on ``certificates (provisioner, not_after)``: the
  certificates of one provisioner in expiry order (``--provisioner``), keyset pages.
- ``ix_certificates_subject`` on ``certificates (subject)`` (MySQL: its first 191 characters,
  InnoDB's key limit with utf8mb4): ``--subject``.

Listing without a filter walks the existing ``not_after`` index. MySQL commits each DDL
statement on its own: every step checks whether it is already done.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect

INDEXES = {
    "ix_certificates_provisioner_not_after": "(provisioner, not_after)",
    "ix_certificates_subject": "(subject)",
}


def upgrade(conn: Connection) -> None:
    have = {i["name"] for i in inspect(conn).get_indexes("certificates")}
    for name, columns in INDEXES.items():
        if name in have:
            continue
        mysql_subject = conn.dialect.name == "mysql" and name == "ix_certificates_subject"
        conn.exec_driver_sql(
            f"CREATE INDEX {name} ON certificates {'(subject(191))' if mysql_subject else columns}"
        )
