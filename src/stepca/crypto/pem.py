"""PEM blocks without importing cryptography: used where start-up time matters (fingerprints)."""

from __future__ import annotations

import binascii
import re

_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)
#: what ``base64.b64decode(..., validate=True)`` accepts (without importing base64: start-up)
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Return ``[(label, der), ...]`` for every PEM block in ``data`` (headers skipped)."""
    blocks = []
    for m in _BLOCK.finditer(data):
        body = m.group(2)
        if b":" in body.split(b"\n\n", 1)[0] and b"\n\n" in body:
            # RFC 1421 headers (Proc-Type, DEK-Info) end at the first blank line
            body = body.split(b"\n\n", 1)[1]
        text = b"".join(body.split())
        try:
            if not _BASE64.fullmatch(text):
                raise binascii.Error("Non-base64 digit found")
            der = binascii.a2b_base64(text)
        except binascii.Error as exc:
            raise ValueError(f"invalid PEM block {m.group(1).decode()}: bad base64") from exc
        blocks.append((m.group(1).decode(), der))
    return blocks


def check_certificate_der(der: bytes) -> bytes:
    """Check the outer shape of an X.509 certificate without a full parse (cheap, no cryptography).

    ``SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE, signature BIT STRING }``
    spanning exactly ``der``. Raises ValueError otherwise.
    """
    from stepca.crypto import der as asn1

    try:
        children = asn1.read_sequence(der)
        if [tag for tag, _ in children] != [asn1.SEQUENCE, asn1.SEQUENCE, 0x03]:
            raise ValueError
        # a TBSCertificate has at least 6 fields (serial, signature, issuer, validity, subject,
        # key); a CSR, of the same outer shape, has 4
        if len(asn1.read_sequence(asn1.tlv(asn1.SEQUENCE, children[0][1]))) < 6:
            raise ValueError
    except ValueError:
        raise ValueError("invalid DER: not an X.509 certificate") from None
    return der


def certificate_ders(data: bytes) -> list[bytes]:
    """DER of every certificate in ``data``: PEM (one or more blocks) or a single DER certificate.

    Each one's outer structure is checked (see check_certificate_der); ValueError otherwise.
    """
    if b"-----BEGIN" in data:
        ders = [der for label, der in pem_blocks(data) if label in ("CERTIFICATE", "TRUSTED CERTIFICATE")]
        if not ders:
            raise ValueError("no PEM CERTIFICATE block found")
        return [check_certificate_der(der) for der in ders]
    if data[:1] == b"\x30":
        return [check_certificate_der(data)]
    raise ValueError("not a PEM or DER certificate")


def der_to_pem(der: bytes, label: str = "CERTIFICATE") -> str:
    b64 = binascii.b2a_base64(der, newline=False).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def sha256_fingerprint(der: bytes) -> str:
    """SHA-256 of the DER, lowercase hex: step's certificate fingerprint format."""
    import hashlib

    return hashlib.sha256(der).hexdigest()
