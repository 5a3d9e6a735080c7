"""Certificate and CSR building outside the online CA: `step ca init`, `step certificate create`,
`step ca certificate` (CSRs)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stepca._durations import parse_duration
from stepca.crypto.keys import PrivateKey, PublicKey, load_private_key, signature_hash
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
    now: datetime | None = None,
    validity: timedelta = CA_VALIDITY,
) -> x509.Certificate:
    """A CA certificate: KU certSign+cRLSign (critical), BC CA:TRUE pathlen (critical), SKI, AKI."""
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
    if issuer_public_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key),  # type: ignore[arg-type]
            critical=False,
        )
    return builder.sign(issuer_key, signature_hash(issuer_key))  # type: ignore[arg-type]


def build_csr(subject: str, sans: list[str], key: PrivateKey) -> bytes:
    """A PEM CSR with CN=subject and the SANs classified as step does."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    )
    names = classify(sans)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names.to_general_names()), critical=False)
    csr = builder.sign(key, signature_hash(key))  # type: ignore[arg-type]
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


def _load_issuer(
    ca_file: str | None, ca_key_file: str | None, password: bytes | None
) -> tuple[x509.Certificate, PrivateKey]:
    from stepca._fs import read_file

    if not ca_file or not ca_key_file:
        raise UserError("flags --ca and --ca-key are required for this profile")
    try:
        issuer = x509.load_pem_x509_certificate(read_file(ca_file, "CA certificate"))
    except ValueError:
        raise UserError(f"{ca_file} is not a valid PEM certificate") from None
    key = load_private_key(read_file(ca_key_file, "CA key"), password, name=ca_key_file)
    return issuer, key


def build_simple_certificate(
    *,
    profile: str,
    subject: str,
    sans: list[str],
    key: PrivateKey,
    ca_file: str | None,
    ca_key_file: str | None,
    ca_password: bytes | None,
    not_after: str | None,
    subtle: bool,
) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    if profile in ("root-ca", "intermediate-ca"):
        if profile == "root-ca":
            issuer_name, issuer_key, issuer_pub = name, key, None
            pathlen = 1
        else:
            issuer_cert, issuer_key = _load_issuer(ca_file, ca_key_file, ca_password)
            issuer_name, issuer_pub = issuer_cert.subject, issuer_cert.public_key()
            pathlen = 0
        validity = (parse_time_or_duration(not_after, now) - now) if not_after else timedelta(days=3650)
        cert = build_ca_certificate(
            subject=name,
            public_key=key.public_key(),
            issuer=issuer_name,
            issuer_key=issuer_key,
            issuer_public_key=issuer_pub,  # type: ignore[arg-type]
            path_length=pathlen,
            validity=validity,
        )
        return cert.public_bytes(serialization.Encoding.PEM)
    if profile == "self-signed" and not subtle:
        raise UserError("profile 'self-signed' requires the '--subtle' flag")
    if profile == "self-signed":
        issuer_name, signer = name, key
        aki_pub = key.public_key()
    else:
        issuer_cert, signer = _load_issuer(ca_file, ca_key_file, ca_password)
        issuer_name, aki_pub = issuer_cert.subject, issuer_cert.public_key()  # type: ignore[assignment]
    end = parse_time_or_duration(not_after, now) if not_after else now + timedelta(hours=24)
    names = classify(sans)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now)
        .not_valid_after(end)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_pub),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names.to_general_names()), critical=False)
    cert = builder.sign(signer, signature_hash(signer))  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM)
