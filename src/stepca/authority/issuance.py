"""The issuance service: one issuer and recorder that every enrollment path calls.

Authorization (a provisioner turning a token, a certificate or an ACME order into typed options)
happens before; this module only signs what was authorized and records it durably. ``sign``,
``renew`` and ``rekey`` call :meth:`Issuance.issue` today; ACME finalize, SCEP and EST call the
same method, so every certificate the CA hands out is recorded the same way (or not handed out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stepca.crypto.pem import der_to_pem
from stepca.db.operations import IssueOp
from stepca.db.records import CertificateRecord, UsedToken

if TYPE_CHECKING:
    from cryptography import x509

    from stepca.authority.services import Services
    from stepca.authority.x509_issuer import LeafRequest, X509Issuer
    from stepca.provisioner.base import Provisioner


class Issued:
    """An issued certificate: its DER, PEM and serial; the parsed ``cert`` is made on first use
    (a /sign answer needs only the PEM and the serial)."""

    __slots__ = ("_cert", "chain_pems", "der", "pem", "provisioner", "serial", "subject")

    def __init__(
        self,
        der: bytes,
        serial: int,
        chain_pems: tuple[str, ...],  # intermediates after the leaf
        provisioner: Provisioner | None = None,
        subject: str = "",  # the authorized subject (token ``sub`` or the renewed certificate's CN)
    ) -> None:
        self.der = der
        self.serial = serial
        self.pem = der_to_pem(der)
        self.chain_pems = chain_pems
        self.provisioner = provisioner
        self.subject = subject
        self._cert: x509.Certificate | None = None

    @property
    def cert(self) -> x509.Certificate:
        if self._cert is None:
            from cryptography import x509

            self._cert = x509.load_der_x509_certificate(self.der)
        return self._cert


class Issuance:
    """Signs authorized leaf requests with the intermediate and records them in the store."""

    def __init__(self, issuer: X509Issuer, services: Services) -> None:
        self.issuer = issuer
        self.services = services
        self.chain_pems: tuple[str, ...] = (issuer.pem,)

    async def issue(
        self,
        leaf: LeafRequest,
        *,
        provisioner: Provisioner,
        subject: str,
        origin: str,
        token: UsedToken | None = None,
        credential: str = "",
        names: tuple[str, ...] | None = None,
    ) -> Issued:
        """Sign ``leaf``, record it (with the token that authorized it, single use) and return it.

        The certificate is returned only once the store says it is durably recorded.
        """
        serial_number, der = self.issuer.issue_der(leaf)
        serial = str(serial_number)
        if names is None:
            names = tuple(str(n.value) for n in leaf.sans) if leaf.sans is not None else ()
        await self.services.record(
            IssueOp(
                cert=CertificateRecord(
                    serial=serial,
                    der=der,
                    provisioner=provisioner.name,
                    subject=subject,
                    not_before=int(leaf.not_before.timestamp()),
                    not_after=int(leaf.not_after.timestamp()),
                    origin=origin,
                ),
                token=token,
                audit=self.services.audit(
                    origin, "x509", serial, subject, names, provisioner.name, token, credential
                ),
            )
        )
        return Issued(der, serial_number, self.chain_pems, provisioner, subject)
