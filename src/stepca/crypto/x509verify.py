"""Chain verification for `step certificate verify` and the client's trust checks."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

MAX_DEPTH = 8


class ChainError(ValueError):
    """Why a certificate chain is not valid."""


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_time(cert: x509.Certificate, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise ChainError(f"certificate {cert.subject.rfc4514_string()} is not valid yet")
    if now > cert.not_valid_after_utc:
        raise ChainError(f"certificate {cert.subject.rfc4514_string()} has expired")


def _check_host(cert: x509.Certificate, host: str) -> None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ChainError(
            f"certificate is not valid for {host}: it has no subject alternative names"
        ) from None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if ip in san.get_values_for_type(x509.IPAddress):
            return
    else:
        host_l = host.lower().rstrip(".")
        for name in san.get_values_for_type(x509.DNSName):
            n = name.lower().rstrip(".")
            if n == host_l or (n.startswith("*.") and host_l.split(".", 1)[-1] == n[2:] and "." in host_l):
                return
    raise ChainError(f"certificate is not valid for {host}")


def verify_chain(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    roots: list[x509.Certificate],
    *,
    host: str | None = None,
    now: datetime | None = None,
) -> list[x509.Certificate]:
    """Build and check a path leaf → intermediates → one of ``roots``. Returns the path."""
    now = now or datetime.now(UTC)
    _check_time(leaf, now)
    if host:
        _check_host(leaf, host)
    path = [leaf]
    current = leaf
    root_ders = {r.tbs_certificate_bytes for r in roots}
    if current.tbs_certificate_bytes in root_ders:
        return path
    for _ in range(MAX_DEPTH):
        for root in roots:
            if _issued_by(current, root):
                _check_time(root, now)
                path.append(root)
                return path
        parent = next((c for c in intermediates if c not in path and _issued_by(current, c)), None)
        if parent is None:
            raise ChainError("certificate signed by unknown authority")
        if not _is_ca(parent):
            raise ChainError(f"{parent.subject.rfc4514_string()} is not a CA certificate")
        _check_time(parent, now)
        path.append(parent)
        current = parent
    raise ChainError("certificate chain is too long")
