"""Leaf certificates encoded directly as DER from precomputed pieces: the hot path of /1.0/sign.

cryptography's CertificateBuilder re-validates and re-encodes every constant part (issuer name,
AKI, key usages, signature algorithm) on each call; here those are encoded once per issuer and a
certificate is a few byte concatenations around one signature. The output is byte-for-byte what
CertificateBuilder produces for the same inputs (tests/crypto/test_leafder.py checks that on many
random inputs), so this is an optimization, not a second certificate format.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from stepca.crypto import der
from stepca.crypto.keys import PrivateKey, signature_hash

_VERSION_V3 = b"\xa0\x03\x02\x01\x02"
_OID_KU = der.oid("2.5.29.15")
_OID_EKU = der.oid("2.5.29.37")
_OID_SKI = der.oid("2.5.29.14")
_OID_AKI = der.oid("2.5.29.35")
_OID_SAN = der.oid("2.5.29.17")
_BOOL_TRUE = b"\x01\x01\xff"


def extension(oid_der: bytes, value: bytes, critical: bool = False) -> bytes:
    return der.sequence(oid_der, _BOOL_TRUE if critical else b"", der.tlv(der.OCTET_STRING, value))


def _time(t: datetime) -> bytes:
    # RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (times are UTC)
    rest = f"{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}Z"
    if 1950 <= t.year < 2050:
        return der.tlv(0x17, f"{t.year % 100:02d}{rest}".encode())
    return der.tlv(0x18, f"{t.year:04d}{rest}".encode())


_OID_CN = der.oid("2.5.4.3")


def common_name_rdn(common_name: str) -> bytes:
    """RelativeDistinguishedName SET { SEQUENCE { id-at-commonName, UTF8String } }, as
    cryptography encodes a COMMON_NAME attribute by default."""
    return der.tlv(0x31, der.sequence(_OID_CN, der.tlv(der.UTF8_STRING, common_name.encode())))


def key_identifier(spki_der: bytes) -> bytes:
    """SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1, as cryptography computes)."""
    items = der.read_sequence(spki_der)
    bit_string = items[1][1]
    return hashlib.sha1(bit_string[1:]).digest()  # noqa: S324 - the identifier RFC 5280 defines


class LeafEncoder:
    """Encodes and signs leaf certificates for one issuer certificate and key."""

    def __init__(self, issuer: x509.Certificate, key: PrivateKey, aki: x509.AuthorityKeyIdentifier) -> None:
        self.key = key
        self.hash = signature_hash(key)
        self.issuer_der = issuer.subject.public_bytes()
        self.aki_ext = extension(_OID_AKI, aki.public_bytes())
        self.sig_alg = self._signature_algorithm_der()
        self._ecdsa = ec.ECDSA(self.hash) if self.hash is not None else ec.ECDSA(hashes.SHA256())
        self._ec_key = key if isinstance(key, ec.EllipticCurvePrivateKey) else None

    def _signature_algorithm_der(self) -> bytes:
        """The AlgorithmIdentifier cryptography writes for this key: taken from a real certificate."""
        name = x509.Name([])
        probe = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(datetime(2000, 1, 1))
            .not_valid_after(datetime(2000, 1, 2))
            .sign(self.key, self.hash)
        )
        items = der.read_sequence(probe.public_bytes(serialization.Encoding.DER))
        return der.tlv(items[1][0], items[1][1])

    def sign(self, tbs: bytes) -> bytes:
        key = self.key
        if self._ec_key is not None:  # the usual issuer: no isinstance on a key ABC per call
            return self._ec_key.sign(tbs, self._ecdsa)
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(tbs, padding.PKCS1v15(), self.hash)  # type: ignore[arg-type]
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(tbs)
        raise TypeError(f"unsupported issuer key {type(key).__name__}")

    def encode(
        self,
        *,
        serial: int,
        not_before: datetime,
        not_after: datetime,
        subject_der: bytes,
        spki_der: bytes,
        extensions: list[bytes],
    ) -> tuple[bytes, bytes]:
        """(certificate DER, TBSCertificate DER)."""
        tbs = der.sequence(
            _VERSION_V3,
            der.integer(serial),
            self.sig_alg,
            self.issuer_der,
            der.sequence(_time(not_before), _time(not_after)),
            subject_der,
            spki_der,
            der.tlv(0xA3, der.sequence(*extensions)),
        )
        signature = self.sign(tbs)
        cert = der.sequence(tbs, self.sig_alg, der.tlv(0x03, b"\x00" + signature))
        return cert, tbs


def ski_extension(spki_der: bytes) -> bytes:
    return extension(_OID_SKI, der.tlv(der.OCTET_STRING, key_identifier(spki_der)))


def san_extension(san: x509.SubjectAlternativeName, critical: bool) -> bytes:
    return extension(_OID_SAN, san.public_bytes(), critical)


def constant_extension(value: x509.ExtensionType, critical: bool) -> bytes:
    """Encode an extension that does not change between certificates (KU, EKU, ...)."""
    oid_der = der.oid(value.oid.dotted_string)
    return extension(oid_der, value.public_bytes(), critical)


__all__ = [
    "LeafEncoder",
    "common_name_rdn",
    "constant_extension",
    "extension",
    "key_identifier",
    "san_extension",
    "ski_extension",
]
