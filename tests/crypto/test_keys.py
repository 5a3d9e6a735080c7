"""stepca.crypto.keys and keyfile: every key file step and openssl write, right and wrong passwords."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from stepca.crypto import jose
from stepca.crypto.keyfile import KeyFileError, decrypt_key_file, needs_password, reencrypt
from stepca.crypto.keys import (
    KeySpecError,
    WrongPasswordError,
    check_key_spec,
    describe_key,
    generate_private_key,
    is_encrypted_key,
    load_private_key,
    private_key_to_pem,
)
from tests.helpers import FIXTURES

PW = b"unit-password"
FIXTURE_PW = (FIXTURES / "pki" / "password.txt").read_bytes().strip()


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, bytes | None]]:
    """Keys written by other tools: (path, password or None)."""
    d = tmp_path_factory.mktemp("keys")
    out: dict[str, tuple[Path, bytes | None]] = {
        "step-legacy-ec": (FIXTURES / "pki" / "secrets" / "intermediate_ca_key", FIXTURE_PW),
        "step-leaf-plain-ec": (FIXTURES / "leaf" / "leaf.key", None),
        "step-openssh-plain": (FIXTURES / "leaf" / "id_alice", None),
    }
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes-256-cbc",
             "-pass", f"pass:{PW.decode()}", "-out", d / "pkcs8-ec.pem")  # fmt: skip
    out["openssl-pkcs8-ec"] = (d / "pkcs8-ec.pem", PW)
    _openssl(
        "genpkey",
        "-algorithm",
        "ED25519",
        "-aes-256-cbc",
        "-pass",
        f"pass:{PW.decode()}",
        "-out",
        d / "ed.pem",
    )
    out["openssl-pkcs8-ed25519"] = (d / "ed.pem", PW)
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", d / "rsa-plain.pem")
    _openssl("rsa", "-in", d / "rsa-plain.pem", "-aes256", "-traditional", "-passout", f"pass:{PW.decode()}",
             "-out", d / "rsa-legacy.pem")  # fmt: skip
    out["openssl-legacy-rsa"] = (d / "rsa-legacy.pem", PW)
    out["openssl-plain-rsa"] = (d / "rsa-plain.pem", None)
    _openssl("pkey", "-in", d / "rsa-plain.pem", "-outform", "DER", "-out", d / "rsa.der")
    out["openssl-der-rsa"] = (d / "rsa.der", None)
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", PW.decode(), "-f", d / "id_ecdsa"], check=True)
    out["ssh-keygen-ecdsa"] = (d / "id_ecdsa", PW)
    return out


@pytest.mark.parametrize(
    "name",
    [
        "step-legacy-ec",
        "step-leaf-plain-ec",
        "step-openssh-plain",
        "openssl-pkcs8-ec",
        "openssl-pkcs8-ed25519",
        "openssl-legacy-rsa",
        "openssl-plain-rsa",
        "openssl-der-rsa",
        "ssh-keygen-ecdsa",
    ],
)
def test_load_with_right_wrong_and_no_password(
    key_files: dict[str, tuple[Path, bytes | None]], name: str
) -> None:
    path, password = key_files[name]
    data = path.read_bytes()
    key = load_private_key(data, password, name=name)
    assert is_encrypted_key(data) is (password is not None)
    assert needs_password(data) is (password is not None)
    if password is None:
        # an unencrypted key loads whatever password comes with it
        assert describe_key(load_private_key(data, b"ignored")) == describe_key(key)
    else:
        with pytest.raises(WrongPasswordError, match=f"error decrypting {name}: wrong password"):
            load_private_key(data, b"wrong", name=name)
        with pytest.raises(WrongPasswordError, match="is encrypted: a password is required"):
            load_private_key(data, None, name=name)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"\x30\x03\x02\x01\x00",
    ],
)
def test_not_a_key(data: bytes) -> None:
    with pytest.raises(ValueError, match="k is not a valid private key") as info:
        load_private_key(data, PW, name="k")
    assert not isinstance(info.value, WrongPasswordError)
    assert is_encrypted_key(data) is False


@pytest.mark.parametrize(
    ("kty", "crv", "size", "expected"),
    [
        ("EC", None, None, "ECDSA P-256"),
        ("ec", "P-384", None, "ECDSA P-384"),
        ("EC", "P-521", None, "ECDSA P-521"),
        ("OKP", None, None, "Ed25519"),
        ("OKP", "Ed25519", None, "Ed25519"),
        ("RSA", None, None, "RSA 2048"),
        ("RSA", None, 3072, "RSA 3072"),
    ],
)
def test_generate_and_write_keys_openssl_opens(
    tmp_path: Path, kty: str, crv: str | None, size: int | None, expected: str
) -> None:
    key = generate_private_key(kty, crv, size)
    assert describe_key(key) == expected
    encrypted = private_key_to_pem(key, PW)
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    path = tmp_path / "k.pem"
    path.write_bytes(encrypted)
    _openssl("pkey", "-in", path, "-passin", f"pass:{PW.decode()}", "-noout")
    with pytest.raises(subprocess.CalledProcessError):
        _openssl("pkey", "-in", path, "-passin", "pass:wrong", "-noout")
    plain = private_key_to_pem(key)
    assert b"ENCRYPTED" not in plain
    assert load_private_key(plain).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("kty", "crv", "size", "message"),
    [
        ("RSA", None, 1024, "at least 2048"),
        ("RSA", "P-256", None, "incompatible"),
        ("EC", "P-224", None, "P-256, P-384 or P-521"),
        ("EC", None, 256, "incompatible"),
        ("OKP", "X25519", None, "Ed25519"),
        ("OKP", None, 256, "incompatible"),
        ("oct", None, None, "EC, OKP or RSA"),
    ],
)
def test_refused_key_specs(kty: str, crv: str | None, size: int | None, message: str) -> None:
    with pytest.raises(KeySpecError, match=message):
        check_key_spec(kty, crv, size)
    with pytest.raises(KeySpecError, match=message):
        generate_private_key(kty, crv, size)


# ------------------------------------------------------------------------------------ keyfile


def test_keyfile_round_trips_each_kind() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    payload = json.dumps(jose.private_jwk(ec_key)).encode()
    compact = jose.encrypt_with_password(payload, PW, p2c=1000)
    kinds = {
        "pem": private_key_to_pem(ec_key, PW),
        "openssh": ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(PW),
        ),
        "jwe-compact": compact.encode(),
        "jwe-json": json.dumps(
            dict(
                zip(
                    ["protected", "encrypted_key", "iv", "ciphertext", "tag"], compact.split("."), strict=True
                )
            )
        ).encode(),
        "jwk": payload,
    }
    for kind, data in kinds.items():
        opened = decrypt_key_file(data, PW if kind != "jwk" else b"", name=kind)
        assert opened.kind == kind
        again = decrypt_key_file(reencrypt(opened, b"other"), b"other", name=kind)
        assert again.kind == ("jwe-json" if kind == "jwk" else kind)
        if opened.key is not None:
            assert describe_key(again.key) == describe_key(opened.key)  # type: ignore[arg-type]
        else:
            assert json.loads(again.payload) == json.loads(opened.payload)
        if kind != "jwk":
            with pytest.raises(KeyFileError, match=r"wrong password|a password is required"):
                decrypt_key_file(data, b"nope", name=kind)
    # p2c is kept when higher than step's current default, raised when lower
    assert (
        jose.jwe_header(reencrypt(decrypt_key_file(kinds["jwe-compact"], PW, name="x"), PW).decode())["p2c"]
        == 600_000
    )


def test_keyfile_rejects_what_is_not_a_private_key() -> None:
    pub = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()))
    for data, message in (
        (json.dumps(pub).encode(), "public JWK"),
        (b"{", "not valid JSON"),
        (b'{"foo": 1}', "not an encrypted JWK"),
        (b'{"ciphertext": "x"}', "missing"),
        (rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), "not a valid private key"),
    ):  # fmt: skip
        with pytest.raises(KeyFileError, match=message):
            decrypt_key_file(data, PW, name="f")
