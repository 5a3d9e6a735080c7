"""stepca.pki.init: validation before anything is written, existing roots, the in-memory plan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stepca.crypto import jose
from stepca.crypto.keys import WrongPasswordError, load_private_key, private_key_to_pem
from stepca.pki.init import (
    InitError,
    InitOptions,
    ca_url_for,
    init_pki,
    load_existing_root,
    validate_dns_name,
)

PASSWORD = b"pki-unit-password"


def _opts(tmp_path: Path, **changes: Any) -> InitOptions:
    values: dict[str, Any] = {
        "name": "Unit",
        "dns_names": ["ca.example.com", "127.0.0.1"],
        "address": "127.0.0.1:9000",
        "provisioner": "ops@example.com",
        "password": PASSWORD,
        "step_path": tmp_path / "step",
    }
    values.update(changes)
    return InitOptions(**values)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "  "}, "name cannot be empty"),
        ({"dns_names": []}, "at least one DNS name"),
        ({"dns_names": ["ok.example.com", "not valid"]}, "'not valid' is not a valid DNS name"),
        ({"dns_names": ["-bad-.example.com"]}, "not a valid DNS name"),
        ({"provisioner": ""}, "provisioner name cannot be empty"),
        ({"address": "9000"}, "must be host:port"),
        ({"address": ":99999"}, "invalid port"),
        ({"address": "host:http"}, "invalid port"),
        ({"password": b""}, "password cannot be empty"),
        ({"kty": "DSA"}, "'--kty'"),
        ({"kty": "RSA", "size": 1024}, "at least 2048"),
        ({"kty": "EC", "crv": "P-192"}, "'--crv'"),
        ({"kty": "OKP", "crv": "X25519"}, "Ed25519"),
        ({"kty": "EC", "size": 2048}, "incompatible"),
        ({"root_crt": Path("/x.crt")}, "--root and --key must be used together"),
    ],
)
def test_bad_options_write_nothing(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InitError, match=message.replace("(", r"\(")):
        init_pki(_opts(tmp_path, **changes))
    assert not (tmp_path / "step").exists()


@pytest.mark.parametrize(
    "name", ["ca.example.com", "*.example.com", "localhost", "127.0.0.1", "::1", "[::1]", "a_b.c"]
)
def test_valid_dns_names(name: str) -> None:
    validate_dns_name(name)


@pytest.mark.parametrize(
    ("dns", "address", "url"),
    [
        ("ca.example.com", ":443", "https://ca.example.com"),
        ("ca.example.com", "0.0.0.0:9000", "https://ca.example.com:9000"),
        ("::1", "[::1]:8443", "https://[::1]:8443"),
        ("127.0.0.1", ":8443", "https://127.0.0.1:8443"),
    ],
)
def test_ca_url(dns: str, address: str, url: str) -> None:
    assert ca_url_for(dns, address) == url


def test_plan_progress_summary_and_provisioner_password(tmp_path: Path) -> None:
    steps: list[str] = []
    result = init_pki(_opts(tmp_path, ssh=True, provisioner_password=b"prov-pass"), progress=steps.append)
    assert steps == ["root", "intermediate", "ssh"]
    labels = [label for label, _ in result.written]
    assert labels == [
        "Root certificate",
        "Root private key",
        "Root fingerprint",
        "Intermediate certificate",
        "Intermediate private key",
        "SSH user public key",
        "SSH user private key",
        "SSH host public key",
        "SSH host private key",
        "Database folder",
        "Default configuration",
        "Certificate Authority configuration",
    ]
    assert result.ca_url == "https://ca.example.com:9000"
    prov = json.loads(result.layout.ca_json.read_text())["authority"]["provisioners"][0]
    assert prov["key"]["kid"] == result.provisioner_kid
    # the provisioner key is under its own password, the CA keys under the CA password
    assert (
        json.loads(jose.decrypt_with_password(prov["encryptedKey"], b"prov-pass"))["kid"]
        == prov["key"]["kid"]
    )
    with pytest.raises(WrongPasswordError):
        jose.decrypt_with_password(prov["encryptedKey"], PASSWORD)
    load_private_key(result.layout.intermediate_key.read_bytes(), PASSWORD)
    assert not list(result.layout.base.rglob(".*tmp*"))  # no temp file left behind


def test_refuses_an_existing_pki_and_keeps_it(tmp_path: Path) -> None:
    first = init_pki(_opts(tmp_path))
    before = first.layout.root_crt.read_bytes()
    with pytest.raises(InitError, match=r"already exists.*--force"):
        init_pki(_opts(tmp_path))
    assert first.layout.root_crt.read_bytes() == before
    # a failed forced run (bad option) leaves the old PKI whole
    with pytest.raises(InitError):
        init_pki(_opts(tmp_path, force=True, address="nope"))
    assert first.layout.root_crt.read_bytes() == before
    second = init_pki(_opts(tmp_path, force=True))
    assert second.layout.root_crt.read_bytes() != before
    assert second.root_fingerprint != first.root_fingerprint


def _ca_cert(
    key: ec.EllipticCurvePrivateKey, *, ca: bool = True, pathlen: int | None = 1, ski: bytes | None = None
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other Root")])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None), critical=True)
    )
    if ski is not None:
        builder = builder.add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
    return builder.sign(key, hashes.SHA256())


def _write(
    tmp_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, password: bytes | None
) -> tuple[Path, Path]:
    crt_path, key_path = tmp_path / "other.crt", tmp_path / "other.key"
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(private_key_to_pem(key, password))
    return crt_path, key_path


def test_existing_root_with_its_own_ski_signs_the_intermediate(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    ski = bytes(range(20))  # not the SHA-1 of the key: AKI must copy it, not recompute it
    crt_path, key_path = _write(tmp_path, _ca_cert(key, ski=ski), key, b"root-pass")
    result = init_pki(_opts(tmp_path, root_crt=crt_path, root_key=key_path, root_key_password=b"root-pass"))
    inter = x509.load_pem_x509_certificate(result.layout.intermediate_crt.read_bytes())
    aki = inter.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski
    inter.verify_directly_issued_by(x509.load_pem_x509_certificate(crt_path.read_bytes()))
    assert result.layout.root_crt.read_bytes() == crt_path.read_bytes()
    # the root key is copied into the tree, re-encrypted with the CA password
    copied = load_private_key(result.layout.root_key.read_bytes(), PASSWORD)
    assert copied.private_numbers() == key.private_numbers()  # type: ignore[union-attr]


def test_existing_root_key_tries_the_ca_password_and_no_password(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _ca_cert(key)
    crt_path, key_path = _write(tmp_path, cert, key, None)
    root, loaded = load_existing_root(crt_path, key_path, [PASSWORD])
    assert root == cert and loaded.private_numbers() == key.private_numbers()  # type: ignore[union-attr]
    _write(tmp_path, cert, key, PASSWORD)
    load_existing_root(crt_path, key_path, [b"first", PASSWORD])
    with pytest.raises(WrongPasswordError):
        load_existing_root(crt_path, key_path, [b"wrong"])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda key, other: (_ca_cert(key, ca=False), key), "is not a CA certificate"),
        (lambda key, other: (_ca_cert(key, pathlen=0), key), "path length is 0"),
        (lambda key, other: (_ca_cert(key), other), "is not the private key of"),
    ],
)
def test_unusable_existing_roots(tmp_path: Path, build: Any, message: str) -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    cert, signing_key = build(key, other)
    crt_path, key_path = _write(tmp_path, cert, signing_key, None)
    with pytest.raises(InitError, match=message):
        init_pki(_opts(tmp_path, root_crt=crt_path, root_key=key_path))
    assert not (tmp_path / "step").exists()


def test_existing_root_files_missing_or_garbage(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate")
    with pytest.raises(InitError, match="does not exist"):
        load_existing_root(tmp_path / "missing.crt", garbage, [])
    with pytest.raises(InitError, match="is not a valid certificate"):
        load_existing_root(garbage, garbage, [])
