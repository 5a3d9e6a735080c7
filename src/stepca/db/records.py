"""Storage records: what the database holds, independent of wire messages and domain objects."""

from __future__ import annotations

from dataclasses import dataclass

from stepca.errors import ServiceUnavailable


@dataclass(frozen=True, slots=True)
class UsedToken:
    token_id: str
    provisioner: str
    expires_at: int  # unix seconds: the row can be purged after this (the token is dead anyway)


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    serial: str  # decimal string, as smallstep stores serials
    der: bytes
    provisioner: str
    subject: str
    not_before: int
    not_after: int
    kind: str = "x509"  # x509 | ssh
    origin: str = "sign"  # sign | renew | rekey | acme | server


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    serial: str
    reason_code: int
    reason: str
    revoked_at: int
    provisioner: str = ""
    token_id: str = ""
    mtls: bool = False
    not_after: int = 0
    kind: str = "x509"


@dataclass(frozen=True, slots=True)
class Lease:
    """A cluster-wide lease: the job ``name`` runs only on ``owner`` until ``expires_at``."""

    name: str
    owner: str
    expires_at: float  # unix seconds
    acquired_at: float  # when ``owner`` took it (unchanged by renewals)


class TokenReusedError(Exception):
    """The token id was already used (enforced by the database's unique key)."""


class AlreadyRevokedError(Exception):
    """The serial is already revoked."""


class StoreUnavailable(ServiceUnavailable):
    """The database cannot record writes now (unreachable past the retry window, file removed or
    replaced, disk full, any unexpected database error): nothing of the operation is stored."""
