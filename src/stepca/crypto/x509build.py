"""Certificate and CSR building outside the online CA: `step ca init`, `step certificate create`,
`step ca certificate` (CSRs)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stepca._durations import parse_duration
from stepca.crypto.keys import (
    PrivateKey,
    PublicKey,
    is_encrypted_key,
    load_private_key,
    public_keys_equal,
    signature_hash,
)
from stepca.crypto.sans import classify
from stepca.errors import UserError

CA_VALIDITY = timedelta(days=3650)


def random_serial(bits: int = 128) -> int:
    """A positive random serial of at most ``bits`` bits (smallstep: rand.Int(2^128))."""
    return int.from_bytes(os.urandom(bits // 8), "big") or 1


def ca_name(organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def build_ca_certificate(
    *,
    subject: x509.Name,
    public_key: PublicKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    path_length: int,
    issuer_public_key: PublicKey | None = None,
    issuer_certificate: x509.Certificate | None = None,
    now: datetime | None = None,
    validity: timedelta = CA_VALIDITY,
) -> x509.Certificate:
    """A CA certificate: KU certSign+cRLSign (critical), BC CA:TRUE pathlen (critical), SKI, AKI.

    The AKI is the issuer certificate's SKI when it has one (an existing root made by another tool
    may compute its SKI differently), else derived from ``issuer_public_key``; a self-signed
    certificate has none, as step's roots.
    """
    now = now or datetime.now(UTC).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(now)
        .not_valid_after(now + validity)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    aki = authority_key_identifier(issuer_certificate, issuer_public_key)
    if aki is not None:
        builder = builder.add_extension(aki, critical=False)
    return builder.sign(issuer_key, signature_hash(issuer_key))


def authority_key_identifier(
    issuer_certificate: x509.Certificate | None, issuer_public_key: PublicKey | None = None
) -> x509.AuthorityKeyIdentifier | None:
    """AKI pointing at the issuer: its SKI if it has one, else the SHA-1 of its public key."""
    if issuer_certificate is not None:
        try:
            ski = issuer_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            issuer_public_key = issuer_certificate.public_key()  # type: ignore[assignment]
    if issuer_public_key is None:
        return None
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key)


def build_csr(subject: str, sans: list[str], key: PrivateKey) -> bytes:
    """A PEM CSR with CN=subject and the SANs classified as step does."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    )
    names = classify(sans)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names.to_general_names()), critical=False)
    csr = builder.sign(key, signature_hash(key))
    return csr.public_bytes(serialization.Encoding.PEM)


def parse_time_or_duration(value: str, now: datetime) -> datetime:
    """An RFC 3339 time or a duration from ``now`` (as step's --not-before/--not-after)."""
    try:
        return now + parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"invalid time or duration {value!r}: use e.g. 24h or 2030-01-01T00:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


#: a CA key password, or a function asked for one only when the key turns out to be encrypted
PasswordSource = bytes | Callable[[], bytes] | None


def load_issuer(
    ca_file: str | None, ca_key_file: str | None, password: PasswordSource
) -> tuple[x509.Certificate, PrivateKey]:
    """The issuer certificate (first of a PEM bundle, or DER) and its private key."""
    from stepca._fs import read_file
    from stepca.crypto.pem import certificate_ders

    if not ca_file or not ca_key_file:
        raise UserError("flags '--ca' and '--ca-key' are required with this profile")
    try:
        issuer = x509.load_der_x509_certificate(certificate_ders(read_file(ca_file, "CA certificate"))[0])
    except ValueError:
        raise UserError(f"{ca_file} is not a valid certificate") from None
    key_data = read_file(ca_key_file, "CA key")
    if callable(password):
        password = password() if is_encrypted_key(key_data) else None
    key = load_private_key(key_data, password, name=ca_key_file)
    if not public_keys_equal(issuer.public_key(), key.public_key()):  # type: ignore[arg-type]
        raise UserError(f"{ca_key_file} is not the private key of {ca_file}")
    return issuer, key


def validity_window(
    not_before: str | None, not_after: str | None, default: timedelta, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """``--not-before``/``--not-after`` (durations from now or RFC 3339 times) with a default length."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    start = parse_time_or_duration(not_before, now) if not_before else now
    end = parse_time_or_duration(not_after, now) if not_after else start + default
    if end <= start:
        raise UserError("the certificate validity ends before it starts: check --not-before and --not-after")
    return start, end


def build_simple_certificate(
    *,
    profile: str,
    subject: str,
    sans: list[str],
    key: PrivateKey,
    ca_file: str | None,
    ca_key_file: str | None,
    ca_password: PasswordSource,
    not_after: str | None,
    subtle: bool,
    not_before: str | None = None,
) -> bytes:
    """`step certificate create` without --csr: profiles leaf, intermediate-ca, root-ca, self-signed."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    if profile == "self-signed" and not subtle:
        raise UserError("profile 'self-signed' requires the '--subtle' flag")
    if profile in ("root-ca", "intermediate-ca"):
        start, end = validity_window(not_before, not_after, CA_VALIDITY)
        if profile == "root-ca":
            cert = build_ca_certificate(
                subject=name,
                public_key=key.public_key(),
                issuer=name,
                issuer_key=key,
                path_length=1,
                now=start,
                validity=end - start,
            )
        else:
            issuer_cert, issuer_key = load_issuer(ca_file, ca_key_file, ca_password)
            cert = build_ca_certificate(
                subject=name,
                public_key=key.public_key(),
                issuer=issuer_cert.subject,
                issuer_key=issuer_key,
                issuer_certificate=issuer_cert,
                path_length=0,
                now=start,
                validity=end - start,
            )
        return cert.public_bytes(serialization.Encoding.PEM)
    if profile not in ("leaf", "self-signed"):
        raise UserError(f"invalid value '{profile}' for flag '--profile'")
    start, end = validity_window(not_before, not_after, timedelta(hours=24))
    aki: x509.AuthorityKeyIdentifier | None
    if profile == "self-signed":
        issuer_name, signer = name, key
        aki = authority_key_identifier(None, key.public_key())
    else:
        issuer_cert, signer = load_issuer(ca_file, ca_key_file, ca_password)
        issuer_name = issuer_cert.subject
        aki = authority_key_identifier(issuer_cert)
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.KeyUsage(True, False, is_rsa, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if aki is not None:
        builder = builder.add_extension(aki, critical=False)
    names = classify(sans)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names.to_general_names()), critical=False)
    cert = builder.sign(signer, signature_hash(signer))
    return cert.public_bytes(serialization.Encoding.PEM)
