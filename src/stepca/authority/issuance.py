"""The issuance service: one issuer and recorder that every enrollment path calls.

Authorization (a provisioner turning a token, a certificate or an ACME order into typed options)
happens before; this module only signs what was authorized and records it durably. ``sign``,
``renew`` and ``rekey`` call :meth:`Issuance.issue` today; ACME finalize, SCEP and EST call the
same method, so every certificate the CA hands out is recorded the same way (or not handed out).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stepca.crypto.pem import der_to_pem
from stepca.db.operations import IssueOp, RevokeOp
from stepca.db.records import AlreadyRevokedError, CertificateRecord, TokenReusedError, UsedToken
from stepca.errors import BadRequest, StepError, Unauthorized

if TYPE_CHECKING:
    from cryptography import x509

    from stepca.authority.x509_issuer import LeafRequest, X509Issuer
    from stepca.db.store import Store
    from stepca.provisioner.base import Provisioner

log = logging.getLogger("stepca.authority")


@dataclass(frozen=True, slots=True)
class Issued:
    cert: x509.Certificate
    pem: str
    chain_pems: tuple[str, ...]  # intermediates after the leaf
    provisioner: Provisioner | None = None
    subject: str = ""  # the authorized subject (token ``sub`` or the renewed certificate's CN)


class Issuance:
    """Signs authorized leaf requests with the intermediate and records them in the store."""

    def __init__(self, issuer: X509Issuer, store: Store) -> None:
        self.issuer = issuer
        self.store = store
        self.chain_pems: tuple[str, ...] = (issuer.pem,)

    async def record(self, op: IssueOp | RevokeOp) -> None:
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

    async def issue(
        self,
        leaf: LeafRequest,
        *,
        provisioner: Provisioner,
        subject: str,
        origin: str,
        token: UsedToken | None = None,
    ) -> Issued:
        """Sign ``leaf``, record it (with the token that authorized it, single use) and return it.

        The certificate is returned only once the store says it is durably recorded.
        """
        cert, der = self.issuer.issue(leaf)
        await self.record(
            IssueOp(
                cert=CertificateRecord(
                    serial=str(cert.serial_number),
                    der=der,
                    provisioner=provisioner.name,
                    subject=subject,
                    not_before=int(leaf.not_before.timestamp()),
                    not_after=int(leaf.not_after.timestamp()),
                    origin=origin,
                ),
                token=token,
            )
        )
        return Issued(
            cert=cert,
            pem=der_to_pem(der),
            chain_pems=self.chain_pems,
            provisioner=provisioner,
            subject=subject,
        )
