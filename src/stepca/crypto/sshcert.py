"""OpenSSH public keys and certificates: wire blobs, authorized_keys lines, fingerprints.

The HTTP API carries keys and certificates as base64 of their wire blob (what Go's
``ssh.PublicKey.Marshal`` returns); files hold ``<type> <base64 blob> [comment]`` lines.
``cryptography`` does the parsing and signing; this module only converts between the forms.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

from stepca.crypto.keys import PrivateKey, PublicKey

CERT_SUFFIX = "-cert-v01@openssh.com"
#: how many wire strings follow the nonce in a certificate, per key type (the key's own fields)
_CERT_KEY_FIELDS = {"ssh-ed25519": 1, "ssh-rsa": 2, "ssh-dss": 4}
_ALGO_NAMES = {"ssh-rsa": "RSA", "ssh-dss": "DSA", "ssh-ed25519": "ED25519"}


class SSHFormatError(ValueError):
    """Bytes that are not the OpenSSH key or certificate they should be."""


def read_string(data: bytes, offset: int) -> tuple[bytes, int]:
    """One SSH wire ``string`` at ``offset``: (value, offset after it)."""
    if offset + 4 > len(data):
        raise SSHFormatError("truncated SSH data")
    (length,) = struct.unpack_from(">I", data, offset)
    end = offset + 4 + length
    if end > len(data):
        raise SSHFormatError("truncated SSH data")
    return data[offset + 4 : end], end


def wire_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def blob_type(blob: bytes) -> str:
    """The key type name a wire blob starts with (``ecdsa-sha2-nistp256``...)."""
    name, _ = read_string(blob, 0)
    try:
        return name.decode("ascii")
    except UnicodeDecodeError:
        raise SSHFormatError("invalid SSH key type") from None


def _line(blob: bytes) -> bytes:
    return blob_type(blob).encode() + b" " + base64.b64encode(blob)


_EC_BLOB_CURVES: dict[bytes, tuple[bytes, type[ec.EllipticCurve]]] = {
    b"ecdsa-sha2-nistp256": (b"nistp256", ec.SECP256R1),
    b"ecdsa-sha2-nistp384": (b"nistp384", ec.SECP384R1),
    b"ecdsa-sha2-nistp521": (b"nistp521", ec.SECP521R1),
}


def _direct_public_key(blob: bytes) -> PublicKey | None:
    """An ECDSA or Ed25519 key read straight from its blob, when the blob is exactly what
    cryptography accepts (known curve, uncompressed point, nothing after the key); None for
    anything else, which then goes through cryptography and its errors. Skips building an
    ``authorized_keys`` line and cryptography's Python SSH parser (/ssh/sign's hot path)."""
    try:
        name, at = read_string(blob, 0)
        if name in _EC_BLOB_CURVES:
            curve_name, curve = _EC_BLOB_CURVES[name]
            field, at = read_string(blob, at)
            point, at = read_string(blob, at)
            if field != curve_name or at != len(blob) or not point or point[0] != 4:
                return None
            return ec.EllipticCurvePublicKey.from_encoded_point(curve(), point)
        if name == b"ssh-ed25519":
            raw, at = read_string(blob, at)
            if at != len(blob) or len(raw) != 32:
                return None
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except (SSHFormatError, ValueError):
        return None
    return None


def public_key_from_blob(blob: bytes) -> PublicKey:
    """A plain public key (not a certificate) from its wire blob."""
    if blob_type(blob).endswith(CERT_SUFFIX):
        raise SSHFormatError("expected a public key, got a certificate")
    direct = _direct_public_key(blob)
    if direct is not None:
        return direct
    try:
        key = serialization.load_ssh_public_key(_line(blob))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SSHFormatError(f"unsupported or invalid SSH public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise SSHFormatError(f"unsupported SSH key type {blob_type(blob)}")
    return key


def certificate_from_blob(blob: bytes) -> SSHCertificate:
    if not blob_type(blob).endswith(CERT_SUFFIX):
        raise SSHFormatError("not an SSH certificate")
    try:
        cert = serialization.load_ssh_public_identity(_line(blob))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SSHFormatError(f"invalid SSH certificate: {exc}") from None
    if not isinstance(cert, SSHCertificate):  # pragma: no cover - the type name said certificate
        raise SSHFormatError("not an SSH certificate")
    return cert


def key_blob(key: PublicKey | PrivateKey) -> bytes:
    """The wire blob of a public key (of the public half of a private key)."""
    pub = (
        key.public_key()
        if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
        else key
    )
    line = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def certificate_blob(cert: SSHCertificate) -> bytes:
    return base64.b64decode(cert.public_bytes().split()[1])


def authorized_line(blob: bytes, comment: str = "") -> str:
    """``<type> <base64> [comment]`` plus a newline, as ssh and step write ``.pub`` files."""
    text = _line(blob).decode()
    return f"{text} {comment}\n" if comment else f"{text}\n"


def blob_from_line(data: bytes, what: str = "SSH key") -> bytes:
    """The blob of the first ``<type> <base64> ...`` line (also accepts a bare base64 blob)."""
    for raw in data.splitlines():
        fields = raw.split()
        if not fields or fields[0].startswith(b"#"):
            continue
        candidate = fields[1] if len(fields) > 1 else fields[0]
        try:
            blob = base64.b64decode(candidate, validate=True)
            if len(fields) > 1 and blob_type(blob) != fields[0].decode(errors="replace"):
                raise SSHFormatError(f"{what}: the key type does not match its data")
        except (ValueError, SSHFormatError) as exc:
            raise SSHFormatError(f"{what} is not a valid OpenSSH line: {exc}") from None
        return blob
    raise SSHFormatError(f"{what} is empty")


def fingerprint(blob: bytes) -> str:
    """``SHA256:<base64, no padding>``, as ``ssh-keygen -l`` prints."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def algorithm_name(key_type: str) -> str:
    """ECDSA, RSA, ED25519... as ``ssh-keygen -L`` labels keys."""
    base = key_type.removesuffix(CERT_SUFFIX)
    if base.startswith("ecdsa-"):
        return "ECDSA"
    return _ALGO_NAMES.get(base, base.upper())


def cert_type_name(cert: SSHCertificate) -> str:
    return "host" if cert.type == SSHCertificateType.HOST else "user"


@dataclass(frozen=True, slots=True)
class Signature:
    algorithm: str
    blob: bytes


def certificate_signature(blob: bytes) -> Signature:
    """The signature (last field) of a certificate blob."""
    key_type = blob_type(blob).removesuffix(CERT_SUFFIX)
    fields = 2 if key_type.startswith("ecdsa-") else _CERT_KEY_FIELDS.get(key_type)
    if fields is None:
        raise SSHFormatError(f"unsupported certificate key type {key_type}")
    _, offset = read_string(blob, 0)  # type
    _, offset = read_string(blob, offset)  # nonce
    for _ in range(fields):
        _, offset = read_string(blob, offset)
    offset += 8 + 4  # serial, type
    for _ in range(2):  # key id, principals
        _, offset = read_string(blob, offset)
    offset += 16  # valid after, valid before
    for _ in range(4):  # critical options, extensions, reserved, signature key
        _, offset = read_string(blob, offset)
    signature, _ = read_string(blob, offset)
    algorithm, rest = read_string(signature, 0)
    sig_blob, _ = read_string(signature, rest)
    return Signature(algorithm.decode(errors="replace"), sig_blob)


def validity_text(valid_after: int, valid_before: int) -> str:
    """``from 2026-11-27T19:19:17 to 2026-11-28T11:20:17`` in local time, as ``ssh-keygen -L``."""
    forever = 0xFFFFFFFFFFFFFFFF
    if valid_after == 0 and valid_before == forever:
        return "forever"

    def fmt(ts: int) -> str:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%dT%H:%M:%S")

    start = "always" if valid_after == 0 else fmt(valid_after)
    end = "forever" if valid_before == forever else fmt(valid_before)
    return f"from {start} to {end}"
