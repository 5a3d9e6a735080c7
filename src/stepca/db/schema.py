"""The live schema: the tables as the newest migration leaves them, for the queries to use.

The DDL that creates them is not here: each version's DDL is frozen in
``stepca.db.migrations.vN`` and applied by ``stepca.db.migrate``. A test checks that a database
migrated from version 1 and a fresh one both equal this model on every backend, so a change
here without its migration (or the reverse) fails.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, text

from stepca.db.types import TABLE_OPTIONS, Blob, Key

metadata = MetaData()

schema_version = Table(
    "stepca_schema",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    **TABLE_OPTIONS,
)

used_tokens = Table(
    "used_tokens",
    metadata,
    Column("token_id", Key(255), primary_key=True),
    Column("provisioner", String(255), nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("used_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)

certificates = Table(
    "certificates",
    metadata,
    Column("serial", Key(80), primary_key=True),
    Column("kind", Key(8), primary_key=True),  # x509 | ssh
    Column("provisioner", String(255), nullable=False),
    Column("subject", String(1024), nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False, index=True),
    Column("origin", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("der", Blob, nullable=False),
    # version 5: the audit log (who and from where; stepca.db.queries.audit)
    Column("credential", String(255), nullable=False, server_default=text("''")),
    Column("remote", String(64), nullable=False, server_default=text("''")),
    **TABLE_OPTIONS,
)

# version 5: the inventory's filters (stepca.db.migrations.v5)
Index("ix_certificates_provisioner_not_after", certificates.c.provisioner, certificates.c.not_after)
Index("ix_certificates_subject", certificates.c.subject, mysql_length=191)

revocations = Table(
    "revocations",
    metadata,
    Column("serial", Key(80), primary_key=True),
    Column("kind", Key(8), primary_key=True),
    Column("reason_code", Integer, nullable=False),
    Column("reason", String(1024), nullable=False),
    Column("revoked_at", BigInteger, nullable=False),
    Column("provisioner", String(255), nullable=False),
    Column("token_id", String(255), nullable=False),
    Column("mtls", Boolean, nullable=False),
    Column("not_after", BigInteger, nullable=False),
    # version 3: RFC 5280 invalidity date (unix seconds; 0 = not given)
    Column("invalidity_date", BigInteger, nullable=False, server_default=text("0")),
    # version 5: the audit log
    Column("credential", String(255), nullable=False, server_default=text("''")),
    Column("remote", String(64), nullable=False, server_default=text("''")),
    **TABLE_OPTIONS,
)
# version 3: revocations since a time (delta CRLs), the latest revocation (the CRL job)
Index("ix_revocations_kind_revoked_at", revocations.c.kind, revocations.c.revoked_at)

# version 2: cluster-wide job leases (stepca.jobs)
job_leases = Table(
    "job_leases",
    metadata,
    Column("name", Key(64), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("acquired_at_ms", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)

# version 3: one CRL number sequence per scope, shared by every instance (stepca.revocation)
crl_numbers = Table(
    "crl_numbers",
    metadata,
    Column("scope", Key(64), primary_key=True),
    Column("number", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)

# version 3: the published CRLs, delta CRLs and KRLs (the newest of a kind with a body is served)
crls = Table(
    "crls",
    metadata,
    Column("scope", Key(64), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", Key(8), nullable=False),
    Column("base_number", BigInteger, nullable=False),
    Column("this_update", BigInteger, nullable=False),
    Column("next_update", BigInteger, nullable=False),
    Column("refresh_at", BigInteger, nullable=False),
    Column("tag", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("der", Blob, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_crls_scope_kind_number", crls.c.scope, crls.c.kind, crls.c.number)

# version 4: remote administration (stepca.admin): provisioners and admins in the database,
# the audit trail, and the version every worker polls
admin_provisioners = Table(
    "admin_provisioners",
    metadata,
    Column("id", Key(64), primary_key=True),
    Column("name", Key(255), nullable=False),
    Column("type", String(32), nullable=False),
    Column("document", Blob, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)

Index("ux_admin_provisioners_name", admin_provisioners.c.name, unique=True)

admins = Table(
    "admins",
    metadata,
    Column("id", Key(64), primary_key=True),
    Column("provisioner_id", Key(64), nullable=False),
    Column("subject", Key(255), nullable=False),
    Column("type", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ux_admins_subject_provisioner", admins.c.subject, admins.c.provisioner_id, unique=True)

admin_audit = Table(
    "admin_audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("before", Blob, nullable=True),
    Column("after", Blob, nullable=True),
    Column("remote", String(255), nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_admin_audit_at", admin_audit.c.at_ms)

admin_config = Table(
    "admin_config",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)


# version 5: the certificates the expiry warnings reported (stepca.expiry)
expiry_notices = Table(
    "expiry_notices",
    metadata,
    Column("serial", Key(80), primary_key=True),
    Column("kind", Key(8), primary_key=True),
    Column("notified_at", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False, index=True),
    **TABLE_OPTIONS,
)

# version 6: the ACME server (stepca.acme; see stepca.db.migrations.v6)
acme_secrets = Table(
    "acme_secrets",
    metadata,
    Column("name", Key(64), primary_key=True),
    Column("value", Blob, nullable=False),
    **TABLE_OPTIONS,
)
acme_nonces = Table(
    "acme_nonces",
    metadata,
    Column("nonce", Key(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_acme_nonces_expires_at", acme_nonces.c.expires_at)
acme_accounts = Table(
    "acme_accounts",
    metadata,
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
Index("ux_acme_accounts_key", acme_accounts.c.provisioner, acme_accounts.c.thumbprint, unique=True)
acme_orders = Table(
    "acme_orders",
    metadata,
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
Index("ix_acme_orders_account_id", acme_orders.c.account_id)
Index("ix_acme_orders_expires_at", acme_orders.c.expires_at)
Index("ix_acme_orders_cert_serial", acme_orders.c.cert_serial)
acme_authzs = Table(
    "acme_authzs",
    metadata,
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
Index("ix_acme_authzs_order_id", acme_authzs.c.order_id)
Index("ix_acme_authzs_expires_at", acme_authzs.c.expires_at)
acme_challenges = Table(
    "acme_challenges",
    metadata,
    Column("id", Key(64), primary_key=True),
    Column("authz_id", Key(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("token", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("validated_at", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_acme_challenges_authz_id", acme_challenges.c.authz_id)
acme_eab_keys = Table(
    "acme_eab_keys",
    metadata,
    Column("id", Key(64), primary_key=True),
    Column("provisioner", Key(255), nullable=False),
    Column("reference", String(255), nullable=False),
    Column("hmac_key", Blob, nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("bound_at", BigInteger, nullable=False),
    **TABLE_OPTIONS,
)
Index("ix_acme_eab_keys_provisioner", acme_eab_keys.c.provisioner)

# version 7: the web dashboard's sessions (stepca.web), issued per hour (the overview)
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id_hash", Key(64), primary_key=True),
    Column("subject", String(255), nullable=False),
    Column("provisioner", String(255), nullable=False),
    Column("method", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    **TABLE_OPTIONS,
)
Index("ix_certificates_created_at", certificates.c.created_at)

#: the version the migrations in ``stepca.db.migrate.MIGRATIONS`` lead to
SCHEMA_VERSION = 7
