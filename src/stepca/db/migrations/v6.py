"""Version 6: the ACME server (issue 12), self-contained in this module.

- ``acme_secrets``: values every instance shares, made once (the HMAC key of ACME nonces: any
  instance checks a nonce another issued without a read).
- ``acme_nonces``: used nonces; the primary key makes each nonce single-use across instances;
  rows are purged after the nonce expired.
- ``acme_accounts``: one row per account; (provisioner, key thumbprint) is unique, so one key
  is one account per provisioner and a keyChange to a key in use fails in the database.
- ``acme_orders``, ``acme_authzs``, ``acme_challenges``: the order state machine; expired
  orders and authorizations are purged.
- ``acme_eab_keys``: External Account Binding HMAC keys; ``account_id`` is set once (binding).

Text columns hold JSON (identifiers, contacts, problem documents). MySQL commits each DDL
statement on its own: ``create_all(checkfirst=True)`` makes the upgrade idempotent.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Connection, Index, MetaData, String, Table, Text

from stepca.db.types import TABLE_OPTIONS, Blob, Key

_md = MetaData()

Table(
    "acme_secrets",
    _md,
    Column("name", Key(64), primary_key=True),
    Column("value", Blob, nullable=False),
    **TABLE_OPTIONS,
)
_nonces = Table(
    "acme_nonces",
    _md,
    Column("nonce", Key(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_acme_nonces_expires_at", _nonces.c.expires_at)
_accounts = Table(
    "acme_accounts",
    _md,
    Column("id", Key(64), primary_key=True),
    Column("provisioner", Key(255), nullable=False),
    Column("thumbprint", Key(64), nullable=False),
    Column("jwk", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("contact", Text, nullable=False),
    Column("eab_key_id", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ux_acme_accounts_key", _accounts.c.provisioner, _accounts.c.thumbprint, unique=True)
_orders = Table(
    "acme_orders",
    _md,
    Column("id", Key(64), primary_key=True),
    Column("account_id", Key(64), nullable=False),
    Column("provisioner", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("identifiers", Text, nullable=False),
    Column("authz_ids", Text, nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    Column("profile", String(64), nullable=False),
    Column("replaces", String(255), nullable=False),
    Column("error", Text, nullable=False),
    Column("cert_serial", Key(80), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_acme_orders_account_id", _orders.c.account_id)
Index("ix_acme_orders_expires_at", _orders.c.expires_at)
Index("ix_acme_orders_cert_serial", _orders.c.cert_serial)
_authzs = Table(
    "acme_authzs",
    _md,
    Column("id", Key(64), primary_key=True),
    Column("account_id", Key(64), nullable=False),
    Column("order_id", Key(64), nullable=False),
    Column("identifier_type", String(8), nullable=False),
    Column("identifier_value", String(255), nullable=False),
    Column("wildcard", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_acme_authzs_order_id", _authzs.c.order_id)
Index("ix_acme_authzs_expires_at", _authzs.c.expires_at)
_challenges = Table(
    "acme_challenges",
    _md,
    Column("id", Key(64), primary_key=True),
    Column("authz_id", Key(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("token", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("validated_at", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_acme_challenges_authz_id", _challenges.c.authz_id)
_eab = Table(
    "acme_eab_keys",
    _md,
    Column("id", Key(64), primary_key=True),
    Column("provisioner", Key(255), nullable=False),
    Column("reference", String(255), nullable=False),
    Column("hmac_key", Blob, nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("bound_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_acme_eab_keys_provisioner", _eab.c.provisioner)


def upgrade(conn: Connection) -> None:
    _md.create_all(conn, checkfirst=True)
