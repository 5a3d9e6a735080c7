"""DNS look-ups for ACME (dns-01 TXT records, CAA, addresses for http-01 and tls-alpn-01),
through the resolver ``step-ca --resolver host:port`` names, or the system's.

dnspython is imported only when an ACME validation or CAA check runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class DNSFailure(Exception):
    """The name could not be resolved (timeout, SERVFAIL...): not the same as "no records"."""


@dataclass(frozen=True, slots=True)
class Resolver:
    """``address``: (host, port) of the DNS server to ask, or None for the system's resolvers."""

    address: tuple[str, int] | None = None

    @classmethod
    def parse(cls, value: str | None) -> Resolver:
        if not value:
            return cls(None)
        host, sep, port = value.rpartition(":")
        if not sep:
            host, port = value, "53"
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--resolver {value!r}: expected host:port")
        return cls((host, int(port)))

    def _resolver(self) -> Any:
        import dns.asyncresolver

        if self.address is None:
            r = dns.asyncresolver.Resolver()
        else:
            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = [self.address[0]]
            r.port = self.address[1]
        r.lifetime = 10.0
        r.timeout = 5.0
        return r

    async def _query(self, name: str, rdtype: str) -> list[Any]:
        import dns.exception
        import dns.resolver

        try:
            answer = await self._resolver().resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise DNSFailure(f"{rdtype} {name}: {exc.__class__.__name__}") from None
        return list(answer)

    async def txt(self, name: str) -> list[str]:
        return [b"".join(r.strings).decode(errors="replace") for r in await self._query(name, "TXT")]

    async def caa(self, name: str) -> list[tuple[int, str, str]]:
        """(flags, tag, value) of the CAA records at ``name``."""
        return [
            (int(r.flags), r.tag.decode().lower(), r.value.decode()) for r in await self._query(name, "CAA")
        ]

    async def addresses(self, name: str) -> list[str]:
        """IPv4 then IPv6 addresses of ``name`` (only with a configured resolver)."""
        found = [r.address for r in await self._query(name, "A")]
        found += [r.address for r in await self._query(name, "AAAA")]
        return found
