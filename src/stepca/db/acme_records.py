"""ACME storage records and write operations (the record family of migration v6).

Records are what the database holds, independent of the wire messages (``stepca.acme.messages``)
and the domain rules (``stepca.acme.service``). Operations are plain frozen values; their
executors are in ``stepca.db.queries.acme``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from stepca.db.operations import Operation


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: str
    provisioner: str
    thumbprint: str
    jwk: str  # the account's public JWK, JSON
    status: str
    contact: tuple[str, ...]
    eab_key_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: str
    account_id: str
    provisioner: str
    status: str
    expires_at: int
    identifiers: tuple[tuple[str, str], ...]  # (type, value)
    authz_ids: tuple[str, ...]
    not_before: int
    not_after: int
    profile: str
    replaces: str
    error: str  # a problem document, JSON, or ""
    cert_serial: str
    created_at: int


@dataclass(frozen=True, slots=True)
class AuthzRecord:
    id: str
    account_id: str
    order_id: str
    identifier_type: str
    identifier_value: str
    wildcard: bool
    status: str
    expires_at: int
    created_at: int


@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    id: str
    authz_id: str
    type: str
    token: str
    status: str
    validated_at: int
    error: str  # a problem document, JSON, or ""


def new_eab_key_id() -> str:
    """A random EAB key id (192 bits, base64url) that does not start with ``-``: it is typed as
    an argument (``step ca acme eab remove PROVISIONER KEY_ID``), where a leading dash would be
    read as an option."""
    while True:
        key_id = secrets.token_urlsafe(24)
        if not key_id.startswith("-"):
            return key_id


@dataclass(frozen=True, slots=True)
class EABKeyRecord:
    id: str
    provisioner: str
    reference: str
    hmac_key: bytes
    account_id: str  # "" until bound
    created_at: int
    bound_at: int


# ------------------------------------------------------------------------ expected refusals


class NonceReusedError(Exception):
    """The nonce was used before (by any instance)."""


class AccountKeyInUseError(Exception):
    """Another account of the provisioner has this key; ``args[0]`` is its id."""


class EABKeyUnusableError(Exception):
    """The EAB key is unknown, of another provisioner, or already bound to an account."""


class StaleStateError(Exception):
    """A state transition found the row in another state than it expected (a concurrent change)."""


# ------------------------------------------------------------------------ operations

Family = Literal["account", "order", "authz", "challenge"]


@dataclass(frozen=True, slots=True)
class UseNonceOp(Operation):
    nonce: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class NewAccountOp(Operation):
    """A new account; with ``eab_key_id`` the EAB key is bound to it in the same transaction."""

    account: AccountRecord


@dataclass(frozen=True, slots=True)
class NewOrderOp(Operation):
    order: OrderRecord
    authzs: tuple[AuthzRecord, ...]
    challenges: tuple[ChallengeRecord, ...]


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """Set ``values`` on one row of ``family``; with ``when_status``, only if the row's status
    is one of them (else the whole operation is refused with ``StaleStateError``, unless
    ``optional``)."""

    family: Family
    id: str
    values: tuple[tuple[str, object], ...]
    when_status: tuple[str, ...] = ()
    #: a row not in ``when_status`` is left as it is, and the operation goes on
    optional: bool = False


@dataclass(frozen=True, slots=True)
class TransitionOp(Operation):
    """Row updates applied together or not at all (conditional ones are checked first)."""

    updates: tuple[RowUpdate, ...]


@dataclass(frozen=True, slots=True)
class ChangeAccountKeyOp(Operation):
    account_id: str
    provisioner: str
    old_thumbprint: str
    thumbprint: str
    jwk: str


@dataclass(frozen=True, slots=True)
class AddEABKeyOp(Operation):
    key: EABKeyRecord


@dataclass(frozen=True, slots=True)
class RemoveEABKeyOp(Operation):
    provisioner: str
    key_id: str


__all__ = [
    "AccountKeyInUseError",
    "AccountRecord",
    "AddEABKeyOp",
    "AuthzRecord",
    "ChallengeRecord",
    "ChangeAccountKeyOp",
    "EABKeyRecord",
    "EABKeyUnusableError",
    "NewAccountOp",
    "NewOrderOp",
    "NonceReusedError",
    "OrderRecord",
    "RemoveEABKeyOp",
    "RowUpdate",
    "StaleStateError",
    "TransitionOp",
    "UseNonceOp",
]
