"""The hand-encoded leaf DER (crypto/leafder.py) must equal cryptography's CertificateBuilder output."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from stepca.authority.x509_issuer import LeafRequest, X509Issuer
from stepca.config import ASN1DN
from stepca.crypto.keys import generate_private_key, signature_hash
from stepca.crypto.x509build import build_ca_certificate, ca_name
from stepca.crypto.x509ext import ProvisionerExtension

ISSUER_KEYS = [
    ("EC", "P-256", None),
    ("EC", "P-384", None),
    ("EC", "P-521", None),
    ("RSA", None, 2048),
    ("OKP", "Ed25519", None),
]
LEAF_KEYS = [("EC", "P-256", None), ("EC", "P-384", None), ("RSA", None, 2048), ("OKP", "Ed25519", None)]


def _issuer(kty: str, crv: str | None, size: int | None, template: ASN1DN | None = None) -> X509Issuer:
    key = generate_private_key(kty, crv, size)
    name = ca_name("Diff", "Diff Intermediate CA")
    cert = build_ca_certificate(
        subject=name, public_key=key.public_key(), issuer=name, issuer_key=key, path_length=0
    )
    return X509Issuer(cert, key, template)


def _rebuild_tbs(issuer: X509Issuer, cert: x509.Certificate) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())  # type: ignore[arg-type]
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    return builder.sign(issuer.key, signature_hash(issuer.key)).tbs_certificate_bytes  # type: ignore[arg-type]


@pytest.mark.parametrize("issuer_spec", ISSUER_KEYS, ids=lambda s: f"{s[0]}-{s[1] or s[2]}")
@pytest.mark.parametrize("leaf_spec", LEAF_KEYS, ids=lambda s: f"{s[0]}-{s[1] or s[2]}")
def test_leaf_der_equals_builder(issuer_spec: tuple, leaf_spec: tuple) -> None:
    rnd = random.Random(hash((issuer_spec, leaf_spec)))
    issuer = _issuer(
        *issuer_spec, template=ASN1DN(country="US", organization="Diff Org") if rnd.random() < 0.5 else None
    )
    for i in range(8):
        leaf = generate_private_key(*leaf_spec)
        now = datetime.now(UTC).replace(microsecond=0)
        # cover UTCTime and GeneralizedTime (>= 2050) encodings
        end = now + (timedelta(days=365 * 30) if i % 4 == 0 else timedelta(hours=rnd.randint(1, 48)))
        names: list[x509.GeneralName] = [x509.DNSName(f"h{i}.example.com")]
        if i % 2:
            names += [
                x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                x509.RFC822Name("a@example.com"),
                x509.UniformResourceIdentifier("spiffe://example.com/x"),
            ]
        cn = "" if i == 3 else f"h{i}.example.com"
        cert, der = issuer.issue(
            LeafRequest(
                public_key=leaf.public_key(),  # type: ignore[arg-type]
                common_name=cn,
                sans=x509.SubjectAlternativeName(names),
                not_before=now - timedelta(minutes=1),
                not_after=end,
                provisioner_extension=ProvisionerExtension(1, "admin", f"kid{i}").to_der(),
            )
        )
        assert x509.load_der_x509_certificate(der) == cert
        assert cert.tbs_certificate_bytes == _rebuild_tbs(issuer, cert)
        cert.verify_directly_issued_by(issuer.cert)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.digital_signature
        assert ku.key_encipherment == isinstance(leaf, rsa.RSAPrivateKey)
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert san_ext.critical == (cn == "")
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == (
            [] if not cn else cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        )


def test_renewal_copies_extensions_with_new_key_identifier() -> None:
    issuer = _issuer("EC", "P-256", None)
    first_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC).replace(microsecond=0)
    first, _ = issuer.issue(
        LeafRequest(
            public_key=first_key.public_key(),
            common_name="svc",
            sans=x509.SubjectAlternativeName([x509.DNSName("svc")]),
            not_before=now,
            not_after=now + timedelta(hours=1),
            provisioner_extension=b"0\x03\x02\x01\x01",
        )
    )
    new_key = ed25519.Ed25519PrivateKey.generate()
    second, _ = issuer.issue(
        LeafRequest(
            public_key=new_key.public_key(),
            common_name="",
            subject=first.subject,
            sans=None,
            not_before=now,
            not_after=now + timedelta(hours=1),
            provisioner_extension=b"",
            copied_extensions=tuple(first.extensions),
        )
    )
    assert second.tbs_certificate_bytes == _rebuild_tbs(issuer, second)
    assert [e.oid for e in second.extensions] == [e.oid for e in first.extensions]
    assert second.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(new_key.public_key())
    )


def test_serials_carry_the_issuing_time_then_86_random_bits() -> None:
    """Time-ordered serials (new ones land at the end of the serial index): 127 bits, 39
    decimal digits (so the stored text sorts as the number), the millisecond of issuance in the
    top 41-42 bits, and 86 random bits that differ within one millisecond."""
    import time

    from stepca.authority.x509_issuer import SERIAL_RANDOM_BITS, random_serial

    before = time.time_ns() // 1_000_000
    serials = [random_serial() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert SERIAL_RANDOM_BITS >= 64  # CA/Browser Forum BR 7.1: at least 64 bits from a CSPRNG
    assert len(set(serials)) == len(serials)
    for s in serials:
        assert 127 <= s.bit_length() <= 128 and len(str(s)) == 39  # 128 bits from 2039
        assert before <= s >> SERIAL_RANDOM_BITS <= after
    assert [s >> SERIAL_RANDOM_BITS for s in serials] == sorted(s >> SERIAL_RANDOM_BITS for s in serials)
    texts = [str(s) for s in serials]
    assert sorted(texts) == [str(s) for s in sorted(serials)]  # text order is number order
    low = {s & ((1 << SERIAL_RANDOM_BITS) - 1) for s in serials}
    assert len(low) == len(serials) and max(low).bit_length() > SERIAL_RANDOM_BITS - 8
