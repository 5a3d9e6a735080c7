"""ACME Renewal Information (RFC 9773): certificate identifiers and suggested windows."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from stepca.acme.problems import malformed
from stepca.crypto.jose import JOSEError, b64url_decode, b64url_encode


def cert_id(aki: bytes, serial: int) -> str:
    """base64url(AKI keyIdentifier) "." base64url(serial DER INTEGER contents)."""
    length = (serial.bit_length() + 8) // 8  # DER: a leading 0 byte when the high bit is set
    return b64url_encode(aki) + "." + b64url_encode(serial.to_bytes(length, "big"))


@functools.lru_cache(maxsize=8)
def issuer_key_id(issuer: x509.Certificate) -> str:
    """base64url of the issuer's key identifier: the AKI of every certificate it issued."""
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ski = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    return b64url_encode(ski)


def parse_cert_id(value: str) -> str:
    """The decimal serial named by an ARI certificate identifier."""
    aki, sep, serial = value.partition(".")
    if not sep or not aki or not serial:
        raise malformed("the certificate identifier must be base64url(AKI).base64url(serial)")
    try:
        b64url_decode(aki)
        raw = b64url_decode(serial)
    except JOSEError:
        raise malformed("the certificate identifier is not base64url") from None
    if not raw:
        raise malformed("the certificate identifier has an empty serial")
    return str(int.from_bytes(raw, "big"))


def window(not_before: int, not_after: int, *, revoked: bool, now: float) -> dict[str, Any]:
    """The suggested renewal window: inside the last third of the certificate's life, or now
    for a revoked certificate."""
    if revoked:
        start = datetime.fromtimestamp(int(now), UTC) - timedelta(hours=1)
        end = datetime.fromtimestamp(int(now), UTC) + timedelta(hours=1)
    else:
        life = not_after - not_before
        start = datetime.fromtimestamp(not_before + life * 2 // 3, UTC)
        end = datetime.fromtimestamp(not_before + life * 5 // 6, UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {"suggestedWindow": {"start": start.strftime(fmt), "end": end.strftime(fmt)}}
