"""The one interface the CA core uses for persistence.

The authority, the SSH authority and the background jobs see only this Protocol: typed reads,
one ``apply`` for durable writes, and the lease primitives for cluster-wide jobs. The SQL
implementation (``stepca.db.batch.AsyncStore`` over ``stepca.db.sql.SQLStore``) is one way to
provide it; tests of the core run it on a real SQLite file.

Writes are *operations* (``stepca.db.operations``): plain frozen values describing what must be
recorded atomically. ``apply`` returns ``None`` or the *expected* error that kept the operation
out (``TokenReusedError``, ``AlreadyRevokedError``, ...), so one refused operation in a
group-commit batch never fails the others. Unexpected database failures raise
``StoreUnavailable``: the caller answers 503 and nothing is claimed to be stored.
"""

from __future__ import annotations

from typing import Any, Protocol

from stepca.db.acme_records import (
    AccountRecord,
    AuthzRecord,
    ChallengeRecord,
    EABKeyRecord,
    OrderRecord,
)
from stepca.db.operations import Operation, Outcome
from stepca.db.records import (
    AdminState,
    AuditRecord,
    CertificateQuery,
    CertificateRecord,
    CertificateRow,
    CRLRecord,
    DashboardCounts,
    DashboardSession,
    Lease,
    RevocationRecord,
    RevokedEntry,
    SSHRevokedEntry,
)


class Store(Protocol):
    """Persistence as the CA core needs it (async; implementations never block the event loop)."""

    async def apply(self, op: Operation) -> Outcome:
        """Record ``op`` durably (committed before this returns); None or the expected error."""
        ...

    # ---------------------------------------------------------------- certificates

    async def get_certificate(self, serial: str, kind: str = "x509") -> CertificateRecord | None: ...

    async def get_certificate_status(
        self, serial: str, kind: str = "x509"
    ) -> tuple[CertificateRecord | None, bool]:
        """The certificate (None when unknown) and whether it is revoked, in one read."""
        ...

    async def count_certificates(self, kind: str = "x509") -> int: ...

    async def audit_events(self, serial: str = "", limit: int = 100) -> list[dict[str, Any]]:
        """The audit log of certificate events, newest first (of one serial when given)."""
        ...

    async def list_certificates(self, query: CertificateQuery) -> list[CertificateRow]:
        """A page of the certificate inventory (see ``CertificateQuery``)."""
        ...

    async def expiry_due(self, now: int, within: int, limit: int = 500) -> list[CertificateRow]:
        """Certificates due an expiry warning (``stepca.db.queries.expiry.due``)."""
        ...

    async def purge_expiry_notices(self, before: int) -> int: ...

    # ---------------------------------------------------------------- the web dashboard

    async def dashboard_counts(self, now: int, hours: int = 24) -> DashboardCounts:
        """The overview's numbers (``stepca.db.queries.dashboard.counts``)."""
        ...

    async def put_dashboard_session(self, session: DashboardSession) -> None:
        """Store a new session (and drop the expired ones); commits."""
        ...

    async def get_dashboard_session(self, id_hash: str, now: int) -> DashboardSession | None: ...

    async def delete_dashboard_session(self, id_hash: str) -> None: ...

    async def count_expiring(self, kind: str, start: int, end: int) -> int:
        """Certificates of ``kind`` not revoked whose validity ends in [start, end)."""
        ...

    async def ssh_certificate_blobs(self, *, valid_at: int | None = None) -> list[bytes]:
        """Stored SSH certificates (wire blobs); with ``valid_at``, the unexpired, unrevoked ones."""
        ...

    # ---------------------------------------------------------------- revocations

    async def get_revocation(self, serial: str, kind: str = "x509") -> RevocationRecord | None: ...

    async def list_revocations(
        self, kind: str = "x509", *, active_at: int | None = None
    ) -> list[RevocationRecord]: ...

    async def revoked_entries(
        self, kind: str, *, active_at: int, since: int | None = None
    ) -> list[RevokedEntry]:
        """The lines of a revocation list: revocations of ``kind`` whose certificate has not
        expired at ``active_at``; with ``since``, only those revoked at or after it."""
        ...

    async def ssh_revoked_entries(self, *, active_at: int) -> list[SSHRevokedEntry]: ...

    async def latest_revocation_time(self, kind: str) -> int:
        """When the newest revocation of ``kind`` was made (0: none)."""
        ...

    # ---------------------------------------------------------------- revocation lists

    async def next_crl_number(self, scope: str) -> int:
        """The next number of ``scope``'s one sequence, shared by every instance (committed)."""
        ...

    async def published_crl_numbers(self, scopes: list[str]) -> dict[tuple[str, str], int]:
        """(scope, kind) → the number of the list served now."""
        ...

    async def get_published_crl(
        self, scope: str, kind: str, *, with_der: bool = True
    ) -> CRLRecord | None: ...

    async def crl_anchor(self, scope: str, now: int) -> tuple[int, int] | None:
        """(number, thisUpdate) of the oldest complete CRL still valid at ``now``."""
        ...

    async def purge_crls(self, before: int) -> int: ...

    # ---------------------------------------------------------------- one-time tokens

    async def token_used(self, token_id: str) -> bool: ...

    async def purge_used_tokens(self, before: int, limit: int = 2000) -> int:
        """Forget up to ``limit`` used token ids whose tokens expired before ``before``."""
        ...

    # ---------------------------------------------------------------- remote administration

    async def admin_version(self) -> int:
        """The version of the provisioner and admin set (0: never imported); one key read."""
        ...

    async def admin_state(self) -> AdminState: ...

    async def admin_audit(self, limit: int = 100) -> list[AuditRecord]:
        """The newest audit lines, newest first."""
        ...

    # ---------------------------------------------------------------- ACME (migration v6)

    async def acme_account(self, account_id: str) -> AccountRecord | None: ...

    async def acme_account_by_key(self, provisioner: str, thumbprint: str) -> AccountRecord | None: ...

    async def acme_order(self, order_id: str) -> OrderRecord | None: ...

    async def acme_order_by_certificate(self, serial: str) -> OrderRecord | None: ...

    async def acme_orders_of_account(self, account_id: str, limit: int = 1000) -> list[OrderRecord]: ...

    async def acme_authz(self, authz_id: str) -> AuthzRecord | None: ...

    async def acme_authzs_of_order(self, order_id: str) -> list[AuthzRecord]: ...

    async def acme_authzs(self, ids: list[str]) -> list[AuthzRecord]: ...

    async def acme_reusable_authz(
        self, account_id: str, kind: str, value: str, wildcard: bool, valid_until: int
    ) -> AuthzRecord | None:
        """The account's valid authorization for the identifier, still valid at ``valid_until``."""
        ...

    async def acme_challenge(self, challenge_id: str) -> ChallengeRecord | None: ...

    async def acme_challenges_of_authz(self, authz_id: str) -> list[ChallengeRecord]: ...

    async def acme_stale_challenges(self, before: int, limit: int = 100) -> list[ChallengeRecord]:
        """Challenges ``processing`` since before ``before`` (validated_at holds when it began)."""
        ...

    async def acme_eab_key(self, key_id: str) -> EABKeyRecord | None: ...

    async def acme_eab_keys(self, provisioner: str, reference: str | None = None) -> list[EABKeyRecord]: ...

    async def acme_secret(self, name: str) -> bytes:
        """A random secret every instance shares, made once (committed)."""
        ...

    async def purge_acme(self, before: int) -> int:
        """Forget used nonces, and orders and authorizations that expired before ``before``."""
        ...

    # ---------------------------------------------------------------- cluster leases

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> Lease | None:
        """Take or renew the lease ``name`` for ``owner`` for ``ttl`` seconds; None when another
        owner holds an unexpired lease."""
        ...

    async def release_lease(self, name: str, owner: str) -> None: ...

    async def get_lease(self, name: str) -> Lease | None: ...

    # ---------------------------------------------------------------- health

    async def checkpoint(self) -> None:
        """Housekeeping that must not run on the write path (SQLite: copy the WAL back into the
        database file); the worker runs it every second."""
        ...

    def health(self) -> str | None:
        """None when writes are being recorded; otherwise why not (for /health and 503s)."""
        ...

    def close(self) -> None: ...


__all__ = ["Store"]
