"""Subject alternative names as step classifies them: IP, email, URI or DNS name."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from cryptography import x509


@dataclass
class SANs:
    dns: list[str] = field(default_factory=list)
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)

    def to_general_names(self) -> list[x509.GeneralName]:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in self.dns]
        names += [x509.IPAddress(ip) for ip in self.ips]
        names += [x509.RFC822Name(e) for e in self.emails]
        names += [x509.UniformResourceIdentifier(u) for u in self.uris]
        return names

    def all_strings(self) -> list[str]:
        return [*self.dns, *(str(i) for i in self.ips), *self.emails, *self.uris]

    def __bool__(self) -> bool:
        return bool(self.dns or self.ips or self.emails or self.uris)


def classify(values: list[str]) -> SANs:
    """Split names like step: IP literal, then email (has '@', no scheme), URI (has a scheme), else DNS."""
    out = SANs()
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        ip = None
        if value[0].isdigit() or ":" in value or value[0] == "[":
            try:
                ip = ipaddress.ip_address(value.strip("[]"))
            except ValueError:
                ip = None
        if ip is not None:
            if ip not in out.ips:
                out.ips.append(ip)
        elif "://" in value or (
            value.count(":") == 1 and value.split(":", 1)[0] in ("urn", "spiffe", "mailto")
        ):
            if value not in out.uris:
                out.uris.append(value)
        elif "@" in value:
            if value not in out.emails:
                out.emails.append(value)
        elif value.lower() not in out.dns:
            out.dns.append(value.lower() if value.isascii() else value)
    return out


def from_extension(ext_value: x509.SubjectAlternativeName) -> SANs:
    out = SANs()
    out.dns = list(ext_value.get_values_for_type(x509.DNSName))
    out.ips = list(ext_value.get_values_for_type(x509.IPAddress))  # type: ignore[arg-type]
    out.emails = list(ext_value.get_values_for_type(x509.RFC822Name))
    out.uris = list(ext_value.get_values_for_type(x509.UniformResourceIdentifier))
    return out
