"""What every issuing authority of one configuration shares: the provisioners, the token
audiences and clock, the store and its recorder.

The X.509 authority, the SSH authority, and next the ACME, SCEP and EST front ends hold the same
``Services`` object instead of reaching into each other.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from stepca.db.records import AlreadyRevokedError, AuditEvent, StoreUnavailable, TokenReusedError, UsedToken
from stepca.errors import BadRequest, StepError, Unauthorized
from stepca.provisioner.base import ParsedToken, Provisioner, TokenContext
from stepca.requestctx import remote_address

if TYPE_CHECKING:
    from stepca.db.operations import Operation
    from stepca.db.store import Store
    from stepca.provisioner.registry import ProvisionerRegistry

log = logging.getLogger("stepca.authority")


class Services:
    def __init__(
        self,
        *,
        provisioners: ProvisionerRegistry,
        audiences: dict[str, frozenset[str]],
        start_time: float,
        store: Store | None,
    ) -> None:
        self.provisioners = provisioners
        self.audiences = audiences
        self.start_time = start_time
        self._store = store

    @property
    def store(self) -> Store:
        """The database; ``None`` was given for a configuration that is only checked (a reload
        validated by the supervisor), which must never reach it."""
        if self._store is None:
            raise StoreUnavailable("no database is open: this configuration is only being checked")
        return self._store

    def token_context(self, endpoint: str, now: float | None = None) -> TokenContext:
        return TokenContext(
            audiences=self.audiences[endpoint], now=now or time.time(), start_time=self.start_time
        )

    async def provisioner_for(self, tok: ParsedToken) -> Provisioner:
        """The provisioner of a token, ready to check it (its keys fetched when it fetches keys)."""
        provisioner = self.provisioners.for_token(tok)
        if provisioner.fetches_keys:
            await provisioner.prepare(tok)
        return provisioner

    @staticmethod
    def audit(
        action: str,
        kind: str,
        serial: str,
        subject: str,
        names: tuple[str, ...],
        provisioner: str,
        token: UsedToken | None = None,
        credential: str = "",
    ) -> AuditEvent:
        """The audit line of a certificate event: the credential is the token's id (or
        ``credential``: ``cert:<serial>`` for mTLS), the remote address the request's."""
        return AuditEvent(
            action=action,
            kind=kind,
            serial=serial,
            subject=subject,
            names=names,
            provisioner=provisioner,
            credential=token.token_id if token is not None else credential,
            remote=remote_address.get(),
        )

    async def record(self, op: Operation) -> None:
        """Apply a write; the typed refusals become API errors, anything else a 500 (logged)."""
        outcome = await self.store.apply(op)
        if outcome is None:
            return
        if isinstance(outcome, TokenReusedError):
            raise Unauthorized("token already used")
        if isinstance(outcome, AlreadyRevokedError):
            raise BadRequest(f"certificate with serial number {outcome.args[0]} is already revoked")
        log.error("database write failed: %s", outcome)
        raise StepError("the certificate could not be stored")
