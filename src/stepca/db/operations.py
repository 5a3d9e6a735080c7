"""Write operations: what must be recorded atomically, as plain frozen values (no SQL here).

Each operation type is executed by the query module of its record family
(``stepca.db.queries``), which registers an executor for it. A new record family adds its
operations here or in its own module, and its executor in its query module; nothing else
dispatches on operation types.
"""

from __future__ import annotations

from dataclasses import dataclass

from stepca.db.records import CertificateRecord, RevocationRecord, UsedToken

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


@dataclass(frozen=True, slots=True)
class UseTokenOp(Operation):
    """Spend a one-time token with nothing else recorded (e.g. a renew token)."""

    token: UsedToken


@dataclass(frozen=True, slots=True)
class RevokeOp(Operation):
    """A revocation, and the one-time token that authorized it (if any)."""

    revocation: RevocationRecord
    token: UsedToken | None = None


__all__ = ["IssueOp", "Operation", "Outcome", "RevokeOp", "UseTokenOp"]
