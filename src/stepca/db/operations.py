"""Write operations: what must be recorded atomically, as plain frozen values (no SQL here).

Each operation type is executed by the query module of its record family
(``stepca.db.queries``), which registers an executor for it. A new record family adds its
operations here or in its own module, and its executor in its query module; nothing else
dispatches on operation types.
"""

from __future__ import annotations

from dataclasses import dataclass

from stepca.db.records import (
    AdminRecord,
    AuditEvent,
    AuditRecord,
    CertificateRecord,
    CRLRecord,
    ProvisionerRow,
    RevocationRecord,
    UsedToken,
)

#: an operation's result: None (recorded) or the expected error that kept it out
Outcome = Exception | None


class Operation:
    """Base of every write operation (frozen dataclasses with slots)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class IssueOp(Operation):
    """A new certificate, and the one-time token that authorized it (if any)."""

    cert: CertificateRecord
    token: UsedToken | None = None
    #: its audit log line (same transaction)
    audit: AuditEvent | None = None


@dataclass(frozen=True, slots=True)
class UseTokenOp(Operation):
    """Spend a one-time token with nothing else recorded (e.g. a renew token)."""

    token: UsedToken


@dataclass(frozen=True, slots=True)
class RevokeOp(Operation):
    """A revocation, and the one-time token that authorized it (if any)."""

    revocation: RevocationRecord
    token: UsedToken | None = None
    audit: AuditEvent | None = None


@dataclass(frozen=True, slots=True)
class PublishCRLOp(Operation):
    """A new CRL, delta CRL or KRL: stored under its number, and the bodies of older ones of the
    same scope and kind emptied (the newest is the one served)."""

    crl: CRLRecord


@dataclass(frozen=True, slots=True)
class AdminChangeOp(Operation):
    """One change of the remote-administration set, checked against version ``expect_version``
    of it (``None``: the one-time import, which creates the version row), written with its audit
    rows and the admin token that authorized it; the version is bumped in the same transaction.

    ``put_provisioners`` are inserted or replaced by id, ``delete_*`` are ids."""

    audit: tuple[AuditRecord, ...]
    expect_version: int | None
    put_provisioners: tuple[ProvisionerRow, ...] = ()
    delete_provisioners: tuple[str, ...] = ()
    put_admins: tuple[AdminRecord, ...] = ()
    delete_admins: tuple[str, ...] = ()
    token: UsedToken | None = None


__all__ = ["AdminChangeOp", "IssueOp", "Operation", "Outcome", "PublishCRLOp", "RevokeOp", "UseTokenOp"]


@dataclass(frozen=True, slots=True)
class NoteExpiryOp(Operation):
    """The expiry warning for a certificate went out: never again (``stepca.expiry``)."""

    serial: str
    kind: str
    not_after: int
    notified_at: int
