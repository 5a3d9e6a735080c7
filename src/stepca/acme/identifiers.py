"""ACME identifiers (RFC 8555 §7.1.4, RFC 8738): ``dns`` names (wildcards allowed) and ``ip``
addresses, checked and normalized; and the names a CSR asks for."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from stepca.acme.problems import AcmeProblem, malformed

MAX_IDENTIFIERS = 100
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    type: str  # dns | ip
    value: str

    @property
    def wildcard(self) -> bool:
        return self.type == "dns" and self.value.startswith("*.")

    @property
    def base(self) -> str:
        """The name an authorization is for (a wildcard's without ``*.``)."""
        return self.value[2:] if self.wildcard else self.value

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


def rejected(detail: str) -> AcmeProblem:
    return AcmeProblem("rejectedIdentifier", detail, 400)


def check_dns_name(value: str) -> str:
    name = value.lower()
    if name.startswith("*."):
        rest = name[2:]
        if "*" in rest:
            raise rejected(f"{value!r}: a wildcard must be one '*.' label at the start")
    else:
        rest = name
    if "*" in rest:
        raise rejected(f"{value!r}: a wildcard must be one '*.' label at the start")
    if not rest or len(rest) > 253 or not all(_LABEL.match(label) for label in rest.split(".")):
        raise rejected(f"{value!r} is not a valid DNS name")
    try:
        ipaddress.ip_address(rest)
    except ValueError:
        return name
    raise rejected(f"{value!r} is an IP address: use an identifier of type ip")


def parse_identifier(raw: object) -> Identifier:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("type"), str)
        or not isinstance(raw.get("value"), str)
    ):
        raise malformed("an identifier must be an object with string type and value")
    kind, value = raw["type"], raw["value"]
    if kind == "dns":
        try:  # some clients (lego before RFC 8738 support) send IP addresses as dns identifiers
            return Identifier("ip", str(ipaddress.ip_address(value)))
        except ValueError:
            pass
        return Identifier("dns", check_dns_name(value))
    if kind == "ip":
        try:
            return Identifier("ip", str(ipaddress.ip_address(value)))
        except ValueError:
            raise rejected(f"{value!r} is not an IP address") from None
    raise AcmeProblem("unsupportedIdentifier", f"identifier type {kind!r} is not supported (dns, ip)")


def parse_identifiers(raw: object) -> tuple[Identifier, ...]:
    if not isinstance(raw, list) or not raw:
        raise malformed("identifiers must be a non-empty list")
    if len(raw) > MAX_IDENTIFIERS:
        raise rejected(f"an order may have at most {MAX_IDENTIFIERS} identifiers")
    seen: dict[Identifier, None] = {}
    for item in raw:
        seen.setdefault(parse_identifier(item), None)
    return tuple(seen)


def csr_identifiers(csr: object) -> set[Identifier]:
    """The names a CSR asks for: its common name and its DNS and IP subject alternative names."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    assert isinstance(csr, x509.CertificateSigningRequest)
    found: set[Identifier] = set()
    for attr in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        cn = str(attr.value)
        try:
            found.add(Identifier("ip", str(ipaddress.ip_address(cn))))
        except ValueError:
            found.add(Identifier("dns", cn.lower()))
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return found
    for name in san:
        if isinstance(name, x509.DNSName):
            try:  # an IP written as a DNS name (as the order's identifier, see parse_identifier)
                found.add(Identifier("ip", str(ipaddress.ip_address(name.value))))
            except ValueError:
                found.add(Identifier("dns", name.value.lower()))
        elif isinstance(name, x509.IPAddress):
            found.add(Identifier("ip", str(name.value)))
        else:
            raise AcmeProblem("badCSR", "the CSR may only ask for DNS names and IP addresses")
    return found
