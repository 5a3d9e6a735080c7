"""The direct OpenSSH certificate encoder (stepca.crypto.sshcertenc) writes what cryptography's
SSHCertificateBuilder writes for the same inputs and nonce, refuses what it refuses, and its
certificates are read by ssh-keygen."""

from __future__ import annotations

import base64
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    SSHCertificateBuilder,
    SSHCertificateType,
    ssh,
)

from stepca.crypto.sshcert import certificate_blob, certificate_from_blob
from stepca.crypto.sshcertenc import SSHCertEncoder

NONCE = bytes(range(32))


def _subject_keys() -> list[Any]:
    return [
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        ec.generate_private_key(ec.SECP384R1()).public_key(),
        ec.generate_private_key(ec.SECP521R1()).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
        rsa.generate_private_key(65537, 2048).public_key(),
    ]


def _spec(rng: random.Random, key: Any) -> dict[str, Any]:
    principals = [f"p{rng.randrange(10**6)}".encode() for _ in range(rng.randrange(0, 5))]
    options = {f"opt-{rng.randrange(50)}".encode(): rng.choice([b"", b"value", b"x" * 300]) for _ in range(3)}
    exts = {e.encode(): b"" for e in rng.sample(["permit-pty", "permit-X11-forwarding", "zz", "aa"], 3)}
    after = rng.randrange(0, 2**40)
    return {
        "public_key": key,
        "serial": rng.randrange(1, 2**64),
        "cert_type": rng.choice([SSHCertificateType.USER, SSHCertificateType.HOST]),
        "key_id": f"id-{rng.randrange(10**9)}".encode(),
        "principals": principals,
        "valid_after": after,
        "valid_before": after + rng.randrange(0, 2**30),
        "critical_options": list(options.items()),
        "extensions": list(exts.items()),
    }


def _builder_blob(spec: dict[str, Any], ca: Any, monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setattr(ssh.os, "urandom", lambda n: NONCE[:n])  # the builder's nonce, fixed
    builder = (
        SSHCertificateBuilder()
        .public_key(spec["public_key"])
        .serial(spec["serial"])
        .type(spec["cert_type"])
        .key_id(spec["key_id"])
        .valid_after(spec["valid_after"])
        .valid_before(spec["valid_before"])
    )
    if spec["principals"]:
        builder = builder.valid_principals(spec["principals"])
    else:
        builder = builder.valid_for_all_principals()  # type: ignore[no-untyped-call]
    for name, value in spec["critical_options"]:
        builder = builder.add_critical_option(name, value)
    for name, value in spec["extensions"]:
        builder = builder.add_extension(name, value)
    blob = certificate_blob(builder.sign(ca))
    monkeypatch.undo()
    return blob


def _ours(spec: dict[str, Any], ca: Any) -> bytes:
    args = dict(spec, cert_type=spec["cert_type"].value)
    return SSHCertEncoder(ca).encode(**args, nonce=NONCE)


def test_ed25519_ca_certificates_equal_the_builders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ed25519 signatures are deterministic: with the same nonce the whole blob is equal."""
    rng = random.Random(1)
    ca = ed25519.Ed25519PrivateKey.generate()
    for key in _subject_keys():
        for _ in range(8):
            spec = _spec(rng, key)
            assert _ours(spec, ca) == _builder_blob(spec, ca, monkeypatch)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ecdsa_ca_certificates_sign_what_the_builder_signs(
    curve: ec.EllipticCurve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ECDSA signatures are random: the signed bytes are equal and the signature verifies."""
    rng = random.Random(2)
    ca = ec.generate_private_key(curve)
    for key in _subject_keys():
        for _ in range(4):
            spec = _spec(rng, key)
            ours, theirs = _ours(spec, ca), _builder_blob(spec, ca, monkeypatch)
            cert = certificate_from_blob(ours)
            cert.verify_cert_signature()  # raises when the signature does not verify
            assert bytes(cert._tbs_cert_body) == bytes(
                certificate_from_blob(theirs)._tbs_cert_body
            )  # the signed bytes
            assert cert.signature_key().public_bytes(*_openssh()) == ca.public_key().public_bytes(*_openssh())
            assert len(ours) - len(theirs) in range(-2, 3)  # mpint lengths of r and s vary


def _openssh() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH


def test_it_refuses_what_the_builder_refuses() -> None:
    ca = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    base: dict[str, Any] = {
        "public_key": key,
        "serial": 1,
        "cert_type": 1,
        "key_id": b"k",
        "principals": [b"a"],
        "valid_after": 10,
        "valid_before": 20,
    }
    enc = SSHCertEncoder(ca)
    enc.encode(**base)  # the base is fine
    for change, error in [
        ({"serial": 2**64}, ValueError),
        ({"serial": -1}, ValueError),
        ({"principals": [b"p"] * 257}, ValueError),
        ({"principals": ["text"]}, TypeError),
        ({"valid_after": 30}, ValueError),
        ({"valid_before": 2**64}, ValueError),
        ({"critical_options": [(b"x", b""), (b"x", b"1")]}, ValueError),
        ({"extensions": [(b"x", b""), (b"x", b"")]}, ValueError),
        ({"extensions": [("x", b"")]}, TypeError),
    ]:
        with pytest.raises(error):
            enc.encode(**{**base, **change})
    with pytest.raises(TypeError):
        SSHCertEncoder(rsa.generate_private_key(65537, 2048))  # RSA CA keys keep the builder
    assert not SSHCertEncoder.supports(rsa.generate_private_key(65537, 2048))


def test_ssh_keygen_reads_its_certificates(tmp_path: Path) -> None:
    ca = ec.generate_private_key(ec.SECP256R1())
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = SSHCertEncoder(ca).encode(
        public_key=key,
        serial=12345,
        cert_type=SSHCertificateType.USER.value,
        key_id=b"alice@example.com",
        principals=[b"alice", b"root"],
        valid_after=1_700_000_000,
        valid_before=1_700_086_400,
        critical_options=[(b"force-command", b"/bin/true")],
        extensions=[(b"permit-pty", b""), (b"permit-agent-forwarding", b"")],
    )
    path = tmp_path / "id-cert.pub"
    path.write_bytes(b"ssh-ed25519-cert-v01@openssh.com " + base64.b64encode(blob) + b"\n")
    out = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "Type: ssh-ed25519-cert-v01@openssh.com user certificate" in out
    assert "Serial: 12345" in out and 'Key ID: "alice@example.com"' in out
    assert "alice" in out and "root" in out
    assert "force-command /bin/true" in out and "permit-pty" in out and "permit-agent-forwarding" in out
    assert "Signing CA: ECDSA" in out


def test_keys_read_straight_from_blobs_are_what_cryptography_reads() -> None:
    """sshcert reads ECDSA and Ed25519 blobs itself; anything unusual goes to cryptography."""
    from cryptography.hazmat.primitives import serialization

    from stepca.crypto import sshcert

    def via_cryptography(blob: bytes) -> Any:
        try:
            key = serialization.load_ssh_public_key(blob_type_line(blob))
        except Exception as exc:
            return type(exc).__name__
        return key.public_bytes(*_openssh())

    def blob_type_line(blob: bytes) -> bytes:
        name = blob[4 : 4 + int.from_bytes(blob[:4], "big")]
        return name + b" " + base64.b64encode(blob)

    rng = random.Random(3)
    blobs = []
    for key in _subject_keys():
        blob = sshcert.key_blob(key)
        blobs += [blob, blob + b"\0", blob[:-1], blob[:-5] + bytes(5)]
        if blob.startswith(b"\0\0\0\x13ecdsa-sha2-nistp256"):
            swapped = blob.replace(b"nistp256", b"nistp384", 2)
            compressed = blob[: -65 - 4] + (33).to_bytes(4, "big") + b"\x02" + blob[-64:-32]
            blobs += [swapped, compressed, blob[:-65] + b"\x05" + blob[-64:]]
    for _ in range(200):
        base = rng.choice(blobs)
        i = rng.randrange(len(base))
        blobs.append(base[:i] + bytes([rng.randrange(256)]) + base[i + 1 :])
    read = 0
    for blob in blobs:
        direct = sshcert._direct_public_key(blob)
        if direct is not None:  # whatever it reads, cryptography reads the same key
            read += 1
            assert direct.public_bytes(*_openssh()) == via_cryptography(blob), blob
    assert read >= 4  # the ECDSA and Ed25519 keys themselves are read directly
    originals = [sshcert.key_blob(k) for k in _subject_keys()]
    assert [sshcert._direct_public_key(b) is not None for b in originals] == [True, True, True, True, False]
