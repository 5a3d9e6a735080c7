"""PEM/DER helpers, RFC 7638 thumbprints, certificate building and chain verification."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stepca.crypto import jose
from stepca.crypto.pem import (
    certificate_ders,
    check_certificate_der,
    der_to_pem,
    pem_blocks,
    sha256_fingerprint,
)
from stepca.crypto.x509build import authority_key_identifier, build_ca_certificate, ca_name, validity_window
from stepca.crypto.x509verify import ChainError, verify_chain
from stepca.errors import UserError
from tests.helpers import FIXTURES

LEAF_PEM = (FIXTURES / "leaf" / "leaf.crt").read_bytes()


def test_pem_blocks_skip_rfc1421_headers() -> None:
    legacy = (FIXTURES / "pki" / "secrets" / "root_ca_key").read_bytes()
    ((label, der),) = pem_blocks(legacy)
    assert label == "EC PRIVATE KEY" and len(der) % 16 == 0  # the AES-CBC ciphertext, headers left out


def test_the_pem_scanner_finds_what_the_regex_finds() -> None:
    """pem.py scans without ``re`` (start-up time); it must find the blocks this regex finds."""
    import random
    import re

    from stepca.crypto import pem

    block = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)
    base64_re = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
    rng = random.Random(7)
    pieces = [b"-----BEGIN ", b"-----END ", b"-----", b"------", b"CERTIFICATE", b"EC KEY", b"X-Y",
              b"abc", b"QUJD", b"=", b"==", b"\n", b"\r\n", b"\r", b" ", b"a", b"-", b"+/"]  # fmt: skip
    for _ in range(20000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 30)))
        expected = [(m.group(1), m.group(2)) for m in block.finditer(data)]
        assert pem._blocks(data) == expected, data
        text = b"".join(rng.choice([b"A", b"z", b"9", b"+", b"/", b"=", b"-", b"_", b" "]) for _ in range(6))
        assert pem._is_base64(text) == bool(base64_re.fullmatch(text)), text
    real = LEAF_PEM + b"junk-----BEGIN X-----\n" + LEAF_PEM.replace(b"\n", b"\r\n")
    assert pem._blocks(real) == [(m.group(1), m.group(2)) for m in block.finditer(real)]


def test_certificate_ders_and_round_trip() -> None:
    certs = x509.load_pem_x509_certificates(LEAF_PEM)
    ders = certificate_ders(LEAF_PEM)
    assert ders == [c.public_bytes(serialization.Encoding.DER) for c in certs]
    assert certificate_ders(ders[0]) == ders[:1]
    assert der_to_pem(ders[0]) == certs[0].public_bytes(serialization.Encoding.PEM).decode()
    assert sha256_fingerprint(ders[0]) == certs[0].fingerprint(hashes.SHA256()).hex()
    assert certificate_ders(LEAF_PEM.replace(b"\n", b"\r\n")) == ders  # CRLF files too


def test_check_certificate_der_tells_certificates_from_csrs_and_junk() -> None:
    csr_der = x509.load_pem_x509_csr((FIXTURES / "leaf" / "svc.csr").read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    for junk in (
        csr_der,
        b"\x30\x00",
        b"\x30\x03\x02\x01\x05",
        certificate_ders(LEAF_PEM)[0][:-1],
        b"\x04\x00",
    ):
        with pytest.raises(ValueError, match="invalid DER"):
            check_certificate_der(junk)
    with pytest.raises(ValueError, match="no PEM CERTIFICATE block"):
        certificate_ders((FIXTURES / "leaf" / "svc.csr").read_bytes())


def test_rfc7638_thumbprint_example() -> None:
    """The example of RFC 7638 section 3.1."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
        "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5h"
        "ajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert jose.thumbprint({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256"}) == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


def test_step_fixture_kid_is_the_thumbprint() -> None:
    import json

    prov = json.loads((FIXTURES / "pki" / "config" / "ca.json").read_text())["authority"]["provisioners"][0]
    assert jose.thumbprint(prov["key"]) == prov["key"]["kid"]
    assert jose.public_jwk(jose.key_from_jwk(prov["key"])) == prov["key"]  # same members, same order


def _root(key: ec.EllipticCurvePrivateKey, *, ski: bool = True, days: int = 30) -> x509.Certificate:
    name = ca_name("Org", "Root")
    now = datetime.now(UTC).replace(microsecond=0)
    cert = build_ca_certificate(
        subject=name, public_key=key.public_key(), issuer=name, issuer_key=key, path_length=1,
        now=now - timedelta(minutes=1), validity=timedelta(days=days),
    )  # fmt: skip
    if ski:
        return cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    return builder.sign(key, hashes.SHA256())


def test_authority_key_identifier_prefers_the_issuer_ski() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with_ski, without_ski = _root(key), _root(key, ski=False)
    ski = with_ski.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert authority_key_identifier(with_ski).key_identifier == ski  # type: ignore[union-attr]
    derived = authority_key_identifier(without_ski)
    assert derived is not None
    assert derived.key_identifier == x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    assert authority_key_identifier(None, None) is None
    # a self-signed root has no AKI, as step's
    with pytest.raises(x509.ExtensionNotFound):
        with_ski.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_validity_window() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert validity_window(None, None, timedelta(hours=24), now) == (now, now + timedelta(hours=24))
    assert validity_window("-1h", "2h", timedelta(hours=24), now) == (
        now - timedelta(hours=1),
        now + timedelta(hours=2),
    )
    start, end = validity_window("2030-02-01T00:00:00Z", None, timedelta(days=1), now)
    assert start == datetime(2030, 2, 1, tzinfo=UTC) and end == datetime(2030, 2, 2, tzinfo=UTC)
    with pytest.raises(UserError, match="ends before it starts"):
        validity_window("1h", "30m", timedelta(hours=1), now)
    with pytest.raises(UserError, match="invalid time or duration"):
        validity_window(None, "tomorrow", timedelta(hours=1), now)


def _issued(issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey, cn: str, *, ca: bool, sans: list[str] | None = None,
            start: datetime | None = None, end: datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start or now - timedelta(minutes=1))
        .not_valid_after(end or now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def test_verify_chain_paths_and_failures() -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _root(root_key)
    inter, inter_key = _issued(root, root_key, "Inter", ca=True)
    leaf, _ = _issued(inter, inter_key, "leaf", ca=False, sans=["leaf.test", "*.wild.test"])
    assert verify_chain(leaf, [inter], [root]) == [leaf, inter, root]
    assert verify_chain(root, [], [root]) == [root]
    verify_chain(leaf, [inter], [root], host="a.wild.test")
    with pytest.raises(ChainError, match=r"not valid for a\.b\.wild\.test"):
        verify_chain(leaf, [inter], [root], host="a.b.wild.test")
    with pytest.raises(ChainError, match="unknown authority"):
        verify_chain(leaf, [], [root])
    other_root = _root(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ChainError, match="unknown authority"):
        verify_chain(leaf, [inter], [other_root])  # same subject, another key
    not_ca, not_ca_key = _issued(root, root_key, "NotCA", ca=False)
    leaf2, _ = _issued(not_ca, not_ca_key, "leaf2", ca=False)
    with pytest.raises(ChainError, match="is not a CA certificate"):
        verify_chain(leaf2, [not_ca], [root])
    later = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(ChainError, match="has expired"):
        verify_chain(leaf, [inter], [root], now=later)
    with pytest.raises(ChainError, match="not valid yet"):
        verify_chain(leaf, [inter], [root], now=datetime.now(UTC) - timedelta(days=1))


def test_certificate_der_of_base64_with_whitespace() -> None:
    der = certificate_ders(LEAF_PEM)[0]
    b64 = base64.b64encode(der).decode()
    spaced = "-----BEGIN CERTIFICATE-----\n" + "\n".join(
        b64[i : i + 40] + "  " for i in range(0, len(b64), 40)
    )
    assert certificate_ders((spaced + "\n-----END CERTIFICATE-----\n").encode()) == [der]


def test_der_lengths_in_every_form() -> None:
    """Short form, one and two length octets (written inline), and longer ones."""
    from stepca.crypto import der

    for n in (0, 1, 127, 128, 255, 256, 300, 65535, 65536, 70000):
        encoded = der.tlv(0x30, bytes(n))
        tag, value, end = der.read_tlv(encoded)
        assert (tag, len(value), end) == (0x30, n, len(encoded))
        assert encoded[: -n or None] == bytes((0x30,)) + der._length(n)
