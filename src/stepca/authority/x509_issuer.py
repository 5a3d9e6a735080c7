"""Leaf certificates, as smallstep's step-ca issues them, built as cheaply as cryptography allows.

Everything that does not change between requests (issuer name, AKI, usages, hash) is computed
once per configuration load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stepca.config import ASN1DN
from stepca.crypto import der
from stepca.crypto.keys import PrivateKey, PublicKey, key_kind
from stepca.crypto.leafder import (
    LeafEncoder,
    common_name_rdn,
    constant_extension,
    extension,
    san_extension,
    ski_extension,
)
from stepca.crypto.x509ext import PROVISIONER_OID

_PROV_OID_DER = der.oid(PROVISIONER_OID)
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


#: random bits under the time prefix of a serial (RFC 5280 4.1.2.2 allows 20 octets; the CA/Browser
#: Forum's Baseline Requirements ask for at least 64 bits from a CSPRNG)
SERIAL_RANDOM_BITS = 86


def random_serial() -> int:
    """A 127-bit serial: the issuing time in milliseconds (42 bits), then 86 random bits.

    smallstep draws 128 random bits. The time prefix keeps new serials together: each insert
    lands at the end of the serial index instead of on a random page of it, so a commit dirties
    a few pages however big the database grows (a random key touches one page of an index that
    outgrows the cache per certificate). The decimal form has 39 digits from 2011 to 2379, so
    the stored text sorts as the number does. The time it reveals is in the certificate already
    (notBefore), and 86 random bits keep serials unguessable."""
    return (time.time_ns() // 1_000_000) << SERIAL_RANDOM_BITS | int.from_bytes(os.urandom(11), "big") >> 2


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
    #: a certificate template made this leaf: its usages are exactly ``key_usage`` and
    #: ``ext_key_usage`` (None: the extension is left out), not the default (digitalSignature
    #: [, keyEncipherment]; serverAuth, clientAuth)
    templated: bool = False
    key_usage: x509.KeyUsage | None = None
    ext_key_usage: x509.ExtendedKeyUsage | None = None


class X509Issuer:
    def __init__(
        self,
        cert: x509.Certificate,
        key: PrivateKey,
        template: ASN1DN | None = None,
        extra_extensions: Sequence[x509.Extension[x509.ExtensionType]] = (),
    ) -> None:
        """``extra_extensions``: constant extensions every leaf carries (the CRL Distribution
        Point when revocation lists are enabled), DER-encoded here once per configuration load.
        Renewed and rekeyed leaves carry the current ones instead of the old certificate's."""
        self.cert = cert
        self.key = key
        self.issuer_name = cert.subject
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(cert.public_key())  # type: ignore[arg-type]
        self.encoder = LeafEncoder(cert, key, aki)
        self._ku_ec = constant_extension(_KU_EC, critical=True)
        self._ku_rsa = constant_extension(_KU_RSA, critical=True)
        self._eku = constant_extension(_EKU, critical=False)
        self._extra = [constant_extension(e.value, e.critical) for e in extra_extensions]
        self._extra_oids = frozenset(e.oid for e in extra_extensions)
        self.pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.template_attrs: list[x509.NameAttribute[str]] = []
        if template is not None:
            for attr, oid in _TEMPLATE_ATTRS:
                value = getattr(template, attr)
                if value:
                    self.template_attrs.append(x509.NameAttribute(oid, value))
        # the RDNs of the template, encoded once: SEQUENCE OF RDN minus the outer SEQUENCE
        self._template_rdns = der.read_tlv(x509.Name(self.template_attrs).public_bytes())[1]

    def subject_der(self, common_name: str) -> bytes:
        """Subject = the authority template's attributes, then CN (Go's pkix.Name order)."""
        if not common_name:
            return der.sequence(self._template_rdns)
        return der.sequence(self._template_rdns, common_name_rdn(common_name))

    def issue(self, req: LeafRequest) -> tuple[x509.Certificate, bytes]:
        """Sign a leaf; returns the certificate and its DER."""
        _, cert_der = self.issue_der(req)
        return x509.load_der_x509_certificate(cert_der), cert_der

    def issue_der(self, req: LeafRequest) -> tuple[int, bytes]:
        """Sign a leaf; returns its serial number and DER (no parsed certificate object: the
        issuance path stores and returns bytes, and parses only when a caller asks)."""
        pub = req.public_key
        spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        subject_der = (
            req.subject.public_bytes() if req.subject is not None else self.subject_der(req.common_name)
        )
        exts: list[bytes] = []
        if req.copied_extensions:
            seen_aki = False
            for ext in req.copied_extensions:
                if ext.oid in self._extra_oids:
                    continue  # the current configuration's value, added below
                if isinstance(ext.value, x509.AuthorityKeyIdentifier):
                    exts.append(self.encoder.aki_ext)
                    seen_aki = True
                elif isinstance(ext.value, x509.SubjectKeyIdentifier):
                    exts.append(ski_extension(spki))
                else:
                    exts.append(constant_extension(ext.value, ext.critical))
            if not seen_aki:
                exts.append(self.encoder.aki_ext)
            exts += self._extra
        else:
            if not req.templated:
                exts += [self._ku_rsa if key_kind(pub) == "rsa" else self._ku_ec, self._eku]
            else:
                if req.key_usage is not None:
                    exts.append(constant_extension(req.key_usage, critical=True))
                if req.ext_key_usage is not None:
                    exts.append(constant_extension(req.ext_key_usage, critical=False))
            exts += [ski_extension(spki), self.encoder.aki_ext]
            if req.sans is not None and len(req.sans) > 0:
                # RFC 5280 4.2.1.6: critical when the subject is empty
                empty = len(req.subject) == 0 if req.subject is not None else not req.common_name
                exts.append(san_extension(req.sans, critical=empty))
            if req.provisioner_extension:
                exts.append(extension(_PROV_OID_DER, req.provisioner_extension))
            exts += self._extra
        serial = random_serial()
        cert_der, _ = self.encoder.encode(
            serial=serial,
            not_before=req.not_before,
            not_after=req.not_after,
            subject_der=subject_der,
            spki_der=spki,
            extensions=exts,
        )
        return serial, cert_der
