"""Challenge validation off the request path, with bounded retries (RFC 8555 §8.2).

A challenge POST moves the challenge to ``processing`` and starts a task here; the task tries
up to ``ATTEMPTS`` times (``RETRY_DELAYS`` apart), then records the outcome through the service:
valid (authorization valid, order ready with its last authorization) or invalid with the error
(authorization and order invalid at once: clients stop polling).

- http-01 (§8.3): ``GET http://NAME/.well-known/acme-challenge/TOKEN`` on port 80 must answer the
  key authorization.
- tls-alpn-01 (RFC 8737): a TLS handshake on port 443 with ALPN ``acme-tls/1`` and SNI NAME
  must show a certificate for NAME alone with a critical acmeIdentifier extension holding
  SHA-256(key authorization).
- dns-01 (§8.4): a TXT record at ``_acme-challenge.NAME`` holds base64url(SHA-256(key
  authorization)).

With ``step-ca --resolver`` every name (dns-01 TXT, addresses for http-01/tls-alpn-01, CAA) is
resolved through that server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import os
import ssl
from typing import TYPE_CHECKING

from stepca.acme.dnsquery import DNSFailure, Resolver
from stepca.acme.problems import AcmeProblem
from stepca.crypto.jose import b64url_encode

if TYPE_CHECKING:
    from stepca.acme.service import AcmeService
    from stepca.db.acme_records import AuthzRecord, ChallengeRecord

log = logging.getLogger("stepca.acme")

ATTEMPTS = 3
RETRY_DELAYS = (2.0, 4.0)
TIMEOUT = 10.0
MAX_BODY = 8192
ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31"


def _port(env: str, default: int) -> int:
    value = os.environ.get(env, "")
    return int(value) if value.isdigit() else default


class Validator:
    def __init__(self, service: AcmeService, resolver: Resolver | None = None) -> None:
        self.service = service
        self.resolver = resolver or Resolver()
        #: the ports challenges are checked on (80 and 443; developers may move them with
        #: $STEPCA_ACME_HTTP01_PORT and $STEPCA_ACME_TLSALPN01_PORT)
        self.http_port = _port("STEPCA_ACME_HTTP01_PORT", 80)
        self.tls_port = _port("STEPCA_ACME_TLSALPN01_PORT", 443)
        self.delays = RETRY_DELAYS
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, ch: ChallengeRecord, authz: AuthzRecord, key_auth: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(ch, authz, key_auth))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, ch: ChallengeRecord, authz: AuthzRecord, key_auth: str) -> None:
        problem: AcmeProblem | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(self.delays[min(attempt - 1, len(self.delays) - 1)])
            try:
                await self.check(ch.type, authz.identifier_type, authz.identifier_value, ch.token, key_auth)
                problem = None
                break
            except AcmeProblem as exc:
                problem = exc
            except Exception as exc:  # never let a validator bug leave the challenge processing
                log.warning("ACME validation error: %s: %s", exc.__class__.__name__, exc)
                problem = AcmeProblem("serverInternal", "the challenge could not be validated", 500)
        try:
            await self.service.record_validation(ch, authz, problem)
        except Exception as exc:
            log.error("could not record an ACME validation: %s", exc)

    async def check(self, kind: str, id_type: str, value: str, token: str, key_auth: str) -> None:
        if kind == "http-01":
            await self.http01(id_type, value, token, key_auth)
        elif kind == "tls-alpn-01":
            await self.tlsalpn01(id_type, value, key_auth)
        elif kind == "dns-01":
            await self.dns01(value, key_auth)
        else:
            raise AcmeProblem("malformed", f"unsupported challenge type {kind}")

    async def _address(self, id_type: str, value: str) -> str:
        """Where to connect: the IP itself, the configured resolver's answer, or the name."""
        if id_type == "ip" or self.resolver.address is None:
            return value
        try:
            found = await self.resolver.addresses(value)
        except DNSFailure as exc:
            raise AcmeProblem("dns", f"{value}: {exc}") from None
        if not found:
            raise AcmeProblem("dns", f"{value} has no A or AAAA record")
        return found[0]

    async def http01(self, id_type: str, value: str, token: str, key_auth: str) -> None:
        import aiohttp

        address = await self._address(id_type, value)
        host = f"[{address}]" if ":" in address else address
        url = f"http://{host}:{self.http_port}/.well-known/acme-challenge/{token}"
        headers = {"Host": value if id_type == "dns" else host, "User-Agent": "stepca-acme-validator"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session,
                session.get(url, headers=headers, max_redirects=10, ssl=False) as resp,
            ):
                body = await resp.content.read(MAX_BODY)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise AcmeProblem(
                "connection", f"http-01 {value}: cannot fetch {url}: {exc.__class__.__name__}"
            ) from None
        if status != 200:
            raise AcmeProblem("unauthorized", f"http-01 {value}: {url} answered {status}", 403)
        if body.strip() != key_auth.encode():
            raise AcmeProblem(
                "incorrectResponse", f"http-01 {value}: {url} did not answer the key authorization"
            )

    async def tlsalpn01(self, id_type: str, value: str, key_auth: str) -> None:
        from cryptography import x509

        address = await self._address(id_type, value)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols([ACME_TLS_ALPN])
        sni = ipaddress.ip_address(value).reverse_pointer if id_type == "ip" else value
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(address, self.tls_port, ssl=ctx, server_hostname=sni), TIMEOUT
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise AcmeProblem(
                "connection", f"tls-alpn-01 {value}: no TLS connection: {exc.__class__.__name__}"
            ) from None
        try:
            sslobj = writer.get_extra_info("ssl_object")
            alpn = sslobj.selected_alpn_protocol() if sslobj else None
            der = sslobj.getpeercert(binary_form=True) if sslobj else None
        finally:
            writer.close()
        if alpn != ACME_TLS_ALPN:
            raise AcmeProblem("tls", f"tls-alpn-01 {value}: the server did not negotiate {ACME_TLS_ALPN}")
        if not der:
            raise AcmeProblem("tls", f"tls-alpn-01 {value}: no certificate")
        cert = x509.load_der_x509_certificate(der)
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise AcmeProblem(
                "incorrectResponse", f"tls-alpn-01 {value}: the certificate has no SAN"
            ) from None
        names = [str(n.value).lower() for n in sans]
        want = str(ipaddress.ip_address(value)) if id_type == "ip" else value.lower()
        if names != [want]:
            raise AcmeProblem(
                "incorrectResponse", f"tls-alpn-01 {value}: the certificate is not for {value} alone"
            )
        try:
            ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(ACME_IDENTIFIER_OID))
        except x509.ExtensionNotFound:
            raise AcmeProblem(
                "incorrectResponse", f"tls-alpn-01 {value}: no acmeIdentifier extension"
            ) from None
        expected = b"\x04\x20" + hashlib.sha256(key_auth.encode()).digest()
        if not ext.critical or ext.value.value != expected:  # type: ignore[attr-defined]
            raise AcmeProblem(
                "incorrectResponse", f"tls-alpn-01 {value}: the acmeIdentifier is not the key authorization"
            )

    async def dns01(self, value: str, key_auth: str) -> None:
        name = f"_acme-challenge.{value}."
        expected = b64url_encode(hashlib.sha256(key_auth.encode()).digest())
        try:
            records = await self.resolver.txt(name)
        except DNSFailure as exc:
            raise AcmeProblem("dns", f"dns-01 {value}: {exc}") from None
        if expected not in records:
            raise AcmeProblem(
                "incorrectResponse",
                f"dns-01 {value}: no TXT record at {name} holds the key authorization digest",
            )
