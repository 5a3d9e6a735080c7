"""Storage records: what the database holds, independent of wire messages and domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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
    invalidity_date: int = 0  # RFC 5280 5.3.2, unix seconds; 0 = not given


class RevokedEntry(NamedTuple):
    """One line of a revocation list (a tuple: CRLs read hundreds of thousands of them)."""

    serial: str
    revoked_at: int
    reason_code: int
    invalidity_date: int
    not_after: int  # 0: the certificate is unknown to the CA (listed until forever)


class SSHRevokedEntry(NamedTuple):
    serial: str
    not_after: int
    certificate: bytes | None  # the stored certificate (wire blob), when the CA issued it


@dataclass(frozen=True, slots=True)
class CRLRecord:
    """A published revocation list: a complete CRL (``base``), a delta CRL or an SSH KRL."""

    scope: str  # the numbering scope: one X.509 issuer, or "ssh"
    number: int  # its CRL number (KRL: krl_version), from the scope's one sequence
    kind: str  # base | delta | krl
    this_update: int
    next_update: int
    refresh_at: int  # the CRL job makes a new one from this time on
    tag: str  # what shaped it besides the revocations (issuer, URLs, durations, CA keys)
    der: bytes = b""  # empty when read without its body
    base_number: int = 0  # delta: the BaseCRLNumber


@dataclass(frozen=True, slots=True)
class Lease:
    """A cluster-wide lease: the job ``name`` runs only on ``owner`` until ``expires_at``."""

    name: str
    owner: str
    expires_at: float  # unix seconds
    acquired_at: float  # when ``owner`` took it (unchanged by renewals)


@dataclass(frozen=True, slots=True)
class ProvisionerRow:
    """A provisioner of the remote-administration set: its ca.json document as JSON text."""

    id: str
    name: str
    type: str
    document: str  # JSON object, exactly what ca.json's authority.provisioners[i] would hold
    position: int = 0


@dataclass(frozen=True, slots=True)
class AdminRecord:
    """Who may use the admin API: ``subject`` as an admin of the provisioner ``provisioner_id``."""

    id: str
    provisioner_id: str
    subject: str
    type: str  # SUPER_ADMIN | ADMIN


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change of the remote-administration set: who, what, before/after (JSON), when, from where."""

    actor: str
    action: str
    target: str
    before: str | None
    after: str | None
    remote: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class AdminState:
    """The remote-administration set as one transaction saw it (``version`` 0: never imported)."""

    version: int
    provisioners: tuple[ProvisionerRow, ...]
    admins: tuple[AdminRecord, ...]


class AdminConflictError(Exception):
    """The set changed since the change was checked against it (another admin, another instance)."""


class AlreadyImportedError(Exception):
    """The ca.json provisioners were imported before (by this or another instance)."""


class DuplicateCRLNumberError(Exception):
    """A list with this scope and number is already published (numbers are used once)."""


class TokenReusedError(Exception):
    """The token id was already used (enforced by the database's unique key)."""


class AlreadyRevokedError(Exception):
    """The serial is already revoked."""


class StoreUnavailable(ServiceUnavailable):
    """The database cannot record writes now (unreachable past the retry window, file removed or
    replaced, disk full, any unexpected database error): nothing of the operation is stored."""


@dataclass(frozen=True, slots=True)
class CertificateQuery:
    """One page of the certificate inventory: filters, and where the previous page ended.

    Pages are in expiry order (``not_after``, then ``serial``); ``after`` is the last row's
    (not_after, serial) of the previous page (keyset pagination: every page costs the same)."""

    kind: str = "x509"
    provisioner: str = ""
    subject: str = ""
    #: True: only revoked; False: only not revoked; None: both
    revoked: bool | None = None
    #: only certificates whose validity ends at or after this time (0: no bound; the default
    #: listing passes now, so expired certificates are left out)
    not_after_from: int = 0
    #: and before this time (0: no bound): ``--expiring-within``
    not_after_to: int = 0
    after: tuple[int, str] | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class CertificateRow:
    """A certificate as the inventory lists it (no DER: export fetches that)."""

    serial: str
    kind: str
    provisioner: str
    subject: str
    not_before: int
    not_after: int
    origin: str
    created_at: int
    #: 0 when not revoked
    revoked_at: int = 0
    reason_code: int = 0


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One certificate event for the audit log, written in the transaction of the change:
    what (``action``: sign, renew, rekey, acme, revoke, ssh-sign, ...), which certificate, who
    (the provisioner and the credential: a token id, or ``cert:<serial>`` for mTLS), and from
    where (the client's address)."""

    action: str
    kind: str
    serial: str
    subject: str
    names: tuple[str, ...] = ()
    provisioner: str = ""
    credential: str = ""
    remote: str = ""


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """A logged-in dashboard browser (stepca.web): ``id_hash`` is the SHA-256 (hex) of the id
    its cookie carries."""

    id_hash: str
    subject: str
    provisioner: str
    method: str  # certificate | password
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class DashboardCounts:
    """The dashboard overview's numbers."""

    #: certificates issued in each of the last ``len(issued_per_hour)`` hours, oldest first
    issued_per_hour: tuple[int, ...]
    expiring_24h: int
    revoked: int
    #: certificates valid now (not expired), by provisioner
    per_provisioner: tuple[tuple[str, int], ...]


def provisioner_name(provisioner_id: str) -> str:
    """The name in a provisioner id as revocations record it (smallstep's ids: ``name:kid``
    for JWK, ``type/name`` for the others; ``admin:<subject>`` for a dashboard revocation is
    kept whole), so issuances and revocations carry the same name."""
    kind, slash, rest = provisioner_id.partition("/")
    if slash and kind.isalnum() and kind.lower() == kind:
        return rest
    if provisioner_id.startswith("admin:"):
        return provisioner_id
    name, colon, _kid = provisioner_id.rpartition(":")
    return name if colon else provisioner_id
