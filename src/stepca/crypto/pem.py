"""PEM blocks without importing cryptography: used where start-up time matters (fingerprints).

Standard library only, and not even ``re`` (7 ms of start-up on a 2-core Xeon): the block
scanner below finds what ``-----BEGIN ([A-Z0-9 ]+)-----\\r?\\n(.*?)-----END \\1-----`` (DOTALL)
finds, in the same order (tests/crypto/test_primitives.py holds it to that regex).
"""

from __future__ import annotations

import binascii

_BEGIN = b"-----BEGIN "
_DASHES = b"-----"
_LABEL_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``[(label, body), ...]``: each BEGIN line with a label of capitals, digits and spaces,
    then the body up to the first END line of the same label; scanning on after each block, or
    one byte past a BEGIN that starts none."""
    out = []
    pos = data.find(_BEGIN)
    while pos >= 0:
        start = pos + len(_BEGIN)
        close = data.find(_DASHES, start)
        label = data[start:close] if close > start else b""
        nxt = pos + 1
        if label and not label.translate(None, _LABEL_BYTES):
            at = close + len(_DASHES)
            if data[at : at + 1] == b"\r":
                at += 1
            if data[at : at + 1] == b"\n":
                end_line = b"-----END " + label + _DASHES
                end = data.find(end_line, at + 1)
                if end >= 0:
                    out.append((label, data[at + 1 : end]))
                    nxt = end + len(end_line)
        pos = data.find(_BEGIN, nxt)
    return out


def _is_base64(text: bytes) -> bool:
    """What ``[A-Za-z0-9+/]*={0,2}`` matches in full (``b64decode(..., validate=True)``)."""
    core = text[:-2] if text.endswith(b"==") else text[:-1] if text.endswith(b"=") else text
    return not core.translate(None, _BASE64_BYTES)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Return ``[(label, der), ...]`` for every PEM block in ``data`` (headers skipped)."""
    blocks = []
    for label, raw in _blocks(data):
        body = raw
        if b":" in body.split(b"\n\n", 1)[0] and b"\n\n" in body:
            # RFC 1421 headers (Proc-Type, DEK-Info) end at the first blank line
            body = body.split(b"\n\n", 1)[1]
        text = b"".join(body.split())
        try:
            if not _is_base64(text):
                raise binascii.Error("Non-base64 digit found")
            der = binascii.a2b_base64(text)
        except binascii.Error as exc:
            raise ValueError(f"invalid PEM block {label.decode()}: bad base64") from exc
        blocks.append((label.decode(), der))
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
