"""Version 4: remote administration (issue 14).

- ``admin_provisioners``: provisioners as JSON documents (their ca.json form), keyed by a random
  id and unique by name: with ``authority.enableAdmin`` the registry is built from these rows.
- ``admins``: who may use the admin API: a subject bound to a provisioner (the one named in the
  admin certificate's provisioner extension), ``SUPER_ADMIN`` or ``ADMIN``; unique by
  (subject, provisioner).
- ``admin_audit``: one row per change (who, what, the document before and after, when, from
  where), written in the transaction of the change.
- ``admin_config``: one row (id 1) holding the version of the set above, bumped in the same
  transaction as every change; each worker polls it (one primary-key read) and rebuilds its
  registry when it moved. The row is created by the first start (the one-time import of the
  ca.json provisioners), so its absence means "not imported yet".

MySQL commits each DDL statement on its own: ``create_all(checkfirst=True)`` makes this idempotent.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, String, Table

from stepca.db.types import TABLE_OPTIONS, Blob, Key

_md = MetaData()

_provs = Table(
    "admin_provisioners",
    _md,
    Column("id", Key(64), primary_key=True),
    Column("name", Key(255), nullable=False),
    Column("type", String(32), nullable=False),
    Column("document", Blob, nullable=False),  # UTF-8 JSON: the provisioner as ca.json holds it
    Column("position", BigInteger, nullable=False),  # listing order (ca.json order on import)
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ux_admin_provisioners_name", _provs.c.name, unique=True)
_admins = Table(
    "admins",
    _md,
    Column("id", Key(64), primary_key=True),
    Column("provisioner_id", Key(64), nullable=False),
    Column("subject", Key(255), nullable=False),
    Column("type", String(16), nullable=False),  # SUPER_ADMIN | ADMIN
    Column("created_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ux_admins_subject_provisioner", _admins.c.subject, _admins.c.provisioner_id, unique=True)
_audit = Table(
    "admin_audit",
    _md,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),  # the admin's subject (or "stepca" for the import)
    Column("action", String(64), nullable=False),  # provisioner.create, admin.delete, ...
    Column("target", String(255), nullable=False),  # the provisioner name or the admin id
    Column("before", Blob, nullable=True),  # JSON, or NULL for a creation
    Column("after", Blob, nullable=True),  # JSON, or NULL for a deletion
    Column("remote", String(255), nullable=False),  # the client's address
    **TABLE_OPTIONS,
)
Index("ix_admin_audit_at", _audit.c.at_ms)
Table(
    "admin_config",
    _md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)


def upgrade(conn: Connection) -> None:
    _md.create_all(conn, checkfirst=True)
