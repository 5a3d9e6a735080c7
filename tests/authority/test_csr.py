"""CSR signature checks with the key loaded once (authority.load_csr)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from stepca.authority.authority import load_csr
from stepca.errors import BadRequest

NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc.example.com")])


def _csr(key, **sign_kwargs) -> bytes:  # type: ignore[no-untyped-def]
    builder = x509.CertificateSigningRequestBuilder().subject_name(NAME)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm, **sign_kwargs).public_bytes(serialization.Encoding.DER)


def _pem(der: bytes) -> str:
    import base64

    return (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(der).decode()
        + "-----END CERTIFICATE REQUEST-----\n"
    )


CASES = {
    "ecdsa-p256": lambda: _csr(ec.generate_private_key(ec.SECP256R1())),
    "ecdsa-p384": lambda: _csr(ec.generate_private_key(ec.SECP384R1())),
    "rsa-pkcs1": lambda: _csr(rsa.generate_private_key(65537, 2048)),
    "rsa-pss": lambda: _csr(
        rsa.generate_private_key(65537, 2048),
        rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
    ),
    "ed25519": lambda: _csr(ed25519.Ed25519PrivateKey.generate()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_valid_csr_accepted_and_tampered_refused(case: str) -> None:
    der = CASES[case]()
    csr, key = load_csr(_pem(der))
    assert csr.is_signature_valid
    assert key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == (
        csr.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    tampered = bytearray(der)
    tampered[-3] ^= 0x55  # inside the signature
    with pytest.raises(BadRequest):
        load_csr(_pem(bytes(tampered)))
    # the signed content changed: the CN's last letter
    i = bytes(der).index(b"svc.example.com")
    tampered = bytearray(der)
    tampered[i] ^= 0x01
    with pytest.raises(BadRequest):
        load_csr(_pem(bytes(tampered)))


@pytest.mark.parametrize(
    "value",
    [None, 5, "", "hello", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"],
)
def test_garbage_is_bad_request(value: object) -> None:
    with pytest.raises(BadRequest):
        load_csr(value)
