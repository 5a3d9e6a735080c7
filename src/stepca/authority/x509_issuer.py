"""Leaf certificates, as smallstep's step-ca issues them, built as cheaply as cryptography allows.

Everything that does not change between requests (issuer name, AKI, usages, hash) is computed
once per configuration load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stepca.config import ASN1DN
from stepca.crypto.keys import PrivateKey, PublicKey, signature_hash
from stepca.crypto.x509ext import PROVISIONER_OID

_PROV_OID = x509.ObjectIdentifier(PROVISIONER_OID)
_KU_EC = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
_KU_RSA = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
_EKU = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])

# Go's pkix.Name order
_TEMPLATE_ATTRS = [
    ("country", NameOID.COUNTRY_NAME),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("street_address", NameOID.STREET_ADDRESS),
    ("serial_number", NameOID.SERIAL_NUMBER),
]


def random_serial() -> int:
    """128 random bits (smallstep: rand.Int(2^128)); never zero."""
    return int.from_bytes(os.urandom(16), "big") or 1


@dataclass(frozen=True, slots=True)
class LeafRequest:
    public_key: PublicKey
    common_name: str
    sans: x509.SubjectAlternativeName | None
    not_before: datetime
    not_after: datetime
    provisioner_extension: bytes
    #: extensions copied from the certificate being renewed (renew/rekey), in order
    copied_extensions: tuple[x509.Extension[x509.ExtensionType], ...] = ()
    subject: x509.Name | None = None


class X509Issuer:
    def __init__(self, cert: x509.Certificate, key: PrivateKey, template: ASN1DN | None = None) -> None:
        self.cert = cert
        self.key = key
        self.hash = signature_hash(key)
        self.issuer_name = cert.subject
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            self.aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            self.aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(cert.public_key())  # type: ignore[arg-type]
        self.pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.template_attrs: list[x509.NameAttribute[str]] = []
        if template is not None:
            for attr, oid in _TEMPLATE_ATTRS:
                value = getattr(template, attr)
                if value:
                    self.template_attrs.append(x509.NameAttribute(oid, value))

    def subject_for(self, common_name: str) -> x509.Name:
        attrs = [*self.template_attrs]
        if common_name:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        return x509.Name(attrs)

    def issue(self, req: LeafRequest) -> x509.Certificate:
        pub = req.public_key
        builder = (
            x509.CertificateBuilder()
            .subject_name(req.subject if req.subject is not None else self.subject_for(req.common_name))
            .issuer_name(self.issuer_name)
            .public_key(pub)
            .serial_number(random_serial())
            .not_valid_before(req.not_before)
            .not_valid_after(req.not_after)
        )
        if req.copied_extensions:
            seen_aki = False
            for ext in req.copied_extensions:
                if isinstance(ext.value, x509.AuthorityKeyIdentifier):
                    builder = builder.add_extension(self.aki, critical=False)
                    seen_aki = True
                elif isinstance(ext.value, x509.SubjectKeyIdentifier):
                    builder = builder.add_extension(
                        x509.SubjectKeyIdentifier.from_public_key(pub), critical=False
                    )
                else:
                    builder = builder.add_extension(ext.value, critical=ext.critical)
            if not seen_aki:
                builder = builder.add_extension(self.aki, critical=False)
        else:
            builder = (
                builder.add_extension(_KU_RSA if isinstance(pub, rsa.RSAPublicKey) else _KU_EC, critical=True)
                .add_extension(_EKU, critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
                .add_extension(self.aki, critical=False)
            )
            if req.sans is not None and len(req.sans) > 0:
                # RFC 5280 4.2.1.6: critical when the subject is empty
                builder = builder.add_extension(
                    req.sans, critical=not req.common_name and req.subject is None
                )
            if req.provisioner_extension:
                builder = builder.add_extension(
                    x509.UnrecognizedExtension(_PROV_OID, req.provisioner_extension), critical=False
                )
        return builder.sign(self.key, self.hash)  # type: ignore[arg-type]
