"""Which names a token authorizes, checked against a CSR.

Rules (decided, and documented in docs/api.md):
- the CSR Common Name must be empty, the token subject, or one of the token ``sans``;
- every SAN in the CSR (DNS, IP, email, URI) must be in the token ``sans``; otherwise 403 naming it;
- the certificate gets the CSR's SANs, or the token's ``sans`` when the CSR has none;
- ``fixed`` (an OIDC provisioner's default template): the same checks, but the certificate always
  gets every name the token authorizes (the email and the ``iss#sub`` URI), as smallstep does;
- :func:`request_names` (an OIDC admin): the CSR's common name and SANs as they are.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import NamedTuple

from cryptography import x509
from cryptography.x509.oid import NameOID

from stepca.crypto import der
from stepca.crypto.sans import classify
from stepca.errors import Forbidden

_OID_CN = der.oid("2.5.4.3")
_OID_EXTENSION_REQUEST = der.oid("1.2.840.113549.1.9.14")
_OID_SAN = der.oid("2.5.29.17")
_EMPTY_NAME = der.sequence()
#: X.680 PrintableString characters
_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


class _Allowed(NamedTuple):
    """What a token's ``sans`` allow, computed once per distinct ``sans`` (they repeat)."""

    dns: frozenset[str]
    ips: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]
    emails: frozenset[str]
    uris: frozenset[str]
    san: x509.SubjectAlternativeName | None  # the extension when the CSR brings none
    san_der: bytes  # its encoding: a CSR asking for exactly these names is accepted at once


@lru_cache(maxsize=4096)
def _allowed(token_sans: tuple[str, ...]) -> _Allowed:
    names = classify(list(token_sans))
    general = names.to_general_names()
    san = x509.SubjectAlternativeName(general) if general else None
    return _Allowed(
        dns=frozenset(names.dns),
        ips=frozenset(names.ips),
        emails=frozenset(e.lower() for e in names.emails),
        uris=frozenset(names.uris),
        san=san,
        san_der=san.public_bytes() if san is not None else b"",
    )


@lru_cache(maxsize=4096)
def _subject_ders(subject: str) -> frozenset[bytes]:
    """The subject Names that hold only ``CN=subject`` (UTF8String, or PrintableString as Go
    writes a printable one), and the empty Name: a CSR naming exactly one of these passes the
    common-name rule at once."""
    out = {_EMPTY_NAME}
    value = subject.encode()
    tags = [der.UTF8_STRING]
    if subject and all(ch in _PRINTABLE for ch in subject):  # else not a valid PrintableString
        tags.append(der.PRINTABLE_STRING)
    for tag in tags:
        out.add(der.sequence(der.tlv(0x31, der.sequence(_OID_CN, der.tlv(tag, value)))))
    return frozenset(out)


_SLOW = object()
_VERSION_1 = b"\x02\x01\x00"


@lru_cache(maxsize=4096)
def _attributes_der(san_der: bytes) -> bytes:
    """The CSR attributes asking for exactly this SAN extension (one extensionRequest, one
    non-critical extension), as cryptography, openssl and Go write them."""
    extension = der.sequence(_OID_SAN, der.tlv(der.OCTET_STRING, san_der))
    return der.tlv(0xA0, der.sequence(_OID_EXTENSION_REQUEST, der.tlv(0x31, der.sequence(extension))))


def _exact_request(
    csr: x509.CertificateSigningRequest, subject: str, allowed: _Allowed
) -> x509.SubjectAlternativeName | object | None:
    """The common case without building cryptography's Name and Extensions objects: a CSR
    whose subject is ``CN=<token subject>`` (or empty) and whose only attribute asks for exactly
    the names the token authorizes (or that has no attribute). Compared byte for byte with the
    encodings of those; returns what ``_check_names`` would, or ``_SLOW`` for any other CSR
    (which then takes the full checks)."""
    try:
        _, info, _ = der.read_tlv(csr.tbs_certrequest_bytes)  # CertificationRequestInfo
        if not info.startswith(_VERSION_1):
            return _SLOW
        tag, name, at = der.read_tlv(info, len(_VERSION_1))
        if der.tlv(tag, name) not in _subject_ders(subject):
            return _SLOW
        _, _, at = der.read_tlv(info, at)  # subjectPKInfo (load_csr checked it)
    except ValueError:
        return _SLOW
    attributes = info[at:]
    if attributes == b"\xa0\x00":
        return allowed.san  # no SAN asked for: the token's names
    if allowed.san is not None and attributes == _attributes_der(allowed.san_der):
        return allowed.san
    return _SLOW


def authorize_names(
    csr: x509.CertificateSigningRequest, subject: str, token_sans: tuple[str, ...], *, fixed: bool = False
) -> x509.SubjectAlternativeName | None:
    allowed = _allowed(token_sans)
    exact = _exact_request(csr, subject, allowed)
    if exact is not _SLOW:
        return allowed.san if fixed else exact  # type: ignore[return-value]
    if fixed:
        _check_names(csr, subject, token_sans, allowed)
        return allowed.san
    return _check_names(csr, subject, token_sans, allowed)


def request_names(
    csr: x509.CertificateSigningRequest, subject: str
) -> tuple[str, x509.SubjectAlternativeName | None]:
    """The CSR's own common name (``subject`` when it has none) and SAN extension."""
    cn_attrs = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cn_attrs[0].value) if cn_attrs else subject
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except ValueError:
        raise Forbidden("certificate request has an invalid subject alternative name extension") from None
    return cn, san


def _check_names(
    csr: x509.CertificateSigningRequest, subject: str, token_sans: tuple[str, ...], allowed: _Allowed
) -> x509.SubjectAlternativeName | None:
    cn_attrs = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cn_attrs[0].value) if cn_attrs else ""
    if cn and cn != subject and cn not in token_sans and cn.lower() not in allowed.dns:
        raise Forbidden(
            f"certificate request does not contain the valid common name - got {cn}, want {subject}"
        )
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return allowed.san
    except ValueError:
        raise Forbidden("certificate request has an invalid subject alternative name extension") from None
    san = ext.value
    if allowed.san is not None and san.public_bytes() == allowed.san_der:
        return san
    dns_ok, ip_ok, email_ok, uri_ok = allowed.dns, allowed.ips, allowed.emails, allowed.uris
    for name in san:
        if isinstance(name, x509.DNSName):
            if name.value.lower() not in dns_ok:
                raise Forbidden(_unauthorized("DNS name", name.value, token_sans))
        elif isinstance(name, x509.IPAddress):
            value = name.value
            if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network) or value not in ip_ok:
                raise Forbidden(_unauthorized("IP address", str(value), token_sans))
        elif isinstance(name, x509.RFC822Name):
            if name.value.lower() not in email_ok:
                raise Forbidden(_unauthorized("email address", name.value, token_sans))
        elif isinstance(name, x509.UniformResourceIdentifier):
            if name.value not in uri_ok:
                raise Forbidden(_unauthorized("URI", name.value, token_sans))
        else:
            raise Forbidden(f"certificate request contains an unsupported subject alternative name {name}")
    return san


def _unauthorized(kind: str, value: str, token_sans: tuple[str, ...]) -> str:
    return (
        f"certificate request contains the {kind} {value!r}, which the token does not authorize "
        f"(token sans: [{' '.join(token_sans)}])"
    )
