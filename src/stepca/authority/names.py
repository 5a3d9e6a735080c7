"""Which names a token authorizes, checked against a CSR.

Rules (decided, and documented in docs/api.md):
- the CSR Common Name must be empty, the token subject, or one of the token ``sans``;
- every SAN in the CSR (DNS, IP, email, URI) must be in the token ``sans``; otherwise 403 naming it;
- the certificate gets the CSR's SANs, or the token's ``sans`` when the CSR has none.
"""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.x509.oid import NameOID

from stepca.crypto.sans import classify
from stepca.errors import Forbidden


def authorize_names(
    csr: x509.CertificateSigningRequest, subject: str, token_sans: tuple[str, ...]
) -> x509.SubjectAlternativeName | None:
    allowed = classify(list(token_sans))
    cn_attrs = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cn_attrs[0].value) if cn_attrs else ""
    if cn and cn != subject and cn not in token_sans and cn.lower() not in allowed.dns:
        raise Forbidden(
            f"certificate request does not contain the valid common name - got {cn}, want {subject}"
        )
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        names = allowed.to_general_names()
        return x509.SubjectAlternativeName(names) if names else None
    except ValueError:
        raise Forbidden("certificate request has an invalid subject alternative name extension") from None
    san = ext.value
    dns_ok = set(allowed.dns)
    ip_ok = set(allowed.ips)
    email_ok = {e.lower() for e in allowed.emails}
    uri_ok = set(allowed.uris)
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
