"""The CA's own HTTPS: a server certificate it issues itself for ``dnsNames`` (renewed at 2/3 of
its lifetime, loaded into the live SSLContext), and the ca.json ``tls`` block."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import tempfile
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from stepca.authority.x509_issuer import LeafRequest, X509Issuer
from stepca.config import TLSConfig
from stepca.crypto.keys import generate_private_key, private_key_to_pem


def _server_cert_lifetime() -> timedelta:
    """24h like smallstep; $STEPCA_TLS_CERT_LIFETIME (a Go duration, >= 5s) overrides it."""
    value = os.environ.get("STEPCA_TLS_CERT_LIFETIME")
    if not value:
        return timedelta(hours=24)
    from stepca._durations import parse_duration

    return max(parse_duration(value), timedelta(seconds=5))


SERVER_CERT_LIFETIME = _server_cert_lifetime()

# Go (crypto/tls) cipher suite names -> OpenSSL names. TLS 1.3 suites are always enabled (as in Go).
GO_CIPHERS: dict[str, str | None] = {
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
TLS_VERSIONS = {
    1.0: ssl.TLSVersion.TLSv1,
    1.1: ssl.TLSVersion.TLSv1_1,
    1.2: ssl.TLSVersion.TLSv1_2,
    1.3: ssl.TLSVersion.TLSv1_3,
}


class TLSConfigError(ValueError):
    pass


def openssl_ciphers(names: list[str]) -> str | None:
    """The OpenSSL cipher string for Go suite names; unknown names raise with all of them listed."""
    unknown = [n for n in names if n not in GO_CIPHERS]
    if unknown:
        raise TLSConfigError(f"ca.json: tls.cipherSuites: unsupported cipher suites: {', '.join(unknown)}")
    mapped = [GO_CIPHERS[n] for n in names if GO_CIPHERS[n]]
    return ":".join(dict.fromkeys(m for m in mapped if m)) or None


def _version(value: float | None, field: str) -> ssl.TLSVersion | None:
    if value is None or value == 0:
        return None
    version = TLS_VERSIONS.get(round(value, 1))
    if version is None:
        raise TLSConfigError(f"ca.json: tls.{field}: unsupported TLS version {value} (use 1.0 to 1.3)")
    return version


def check_tls_config(tls: TLSConfig | None) -> None:
    """Validate the tls block without building a context (used at load and on reload)."""
    if tls is None:
        return
    if tls.cipher_suites:
        openssl_ciphers(tls.cipher_suites)
    lo = _version(tls.min_version, "minVersion")
    hi = _version(tls.max_version, "maxVersion")
    if lo and hi and lo > hi:
        raise TLSConfigError("ca.json: tls.minVersion is greater than tls.maxVersion")
    ciphers = openssl_ciphers(tls.cipher_suites) if tls.cipher_suites else None
    if ciphers:
        try:  # the names are known, but this OpenSSL may not offer them (e.g. 3DES)
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(ciphers)
        except ssl.SSLError:
            raise TLSConfigError(
                "ca.json: tls.cipherSuites: none of the TLS 1.2 cipher suites is available in this "
                f"OpenSSL ({ssl.OPENSSL_VERSION})"
            ) from None


def issue_server_certificate(
    issuer: X509Issuer, dns_names: list[str], common_name: str
) -> tuple[bytes, bytes, datetime, datetime]:
    """(chain PEM, key PEM, issued_at, not_after) of a fresh server certificate (valid from one
    minute before ``issued_at``, like every certificate the CA issues; renewal is timed from
    ``issued_at``)."""
    key = generate_private_key("EC", "P-256")
    names: list[x509.GeneralName] = []
    for name in dns_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    now = datetime.now(UTC).replace(microsecond=0)
    nb = now - timedelta(minutes=1)
    na = now + SERVER_CERT_LIFETIME
    cert, _ = issuer.issue(
        LeafRequest(
            public_key=key.public_key(),
            common_name=common_name,
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]),
            sans=x509.SubjectAlternativeName(names),
            not_before=nb,
            not_after=na,
            provisioner_extension=b"",
        )
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + issuer.pem.encode()
    return chain, private_key_to_pem(key), now, na


def load_chain_into(ctx: ssl.SSLContext, chain_pem: bytes, key_pem: bytes) -> None:
    """``load_cert_chain`` needs files: write them to a private temporary directory, load, delete."""
    with tempfile.TemporaryDirectory(prefix="stepca-tls-") as tmp:
        os.chmod(tmp, 0o700)
        crt = os.path.join(tmp, "crt.pem")
        key = os.path.join(tmp, "key.pem")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
        with open(crt, "wb") as fh:
            fh.write(chain_pem)
        try:
            ctx.load_cert_chain(crt, key)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(key)


def build_server_context(tls: TLSConfig | None, trusted_pems: list[str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    ctx.set_alpn_protocols(["http/1.1"])
    # client certificates are optional (renew, rekey, revoke use them) and must chain to a root
    ctx.verify_mode = ssl.CERT_OPTIONAL
    apply_tls_settings(ctx, tls, trusted_pems)
    return ctx


def apply_tls_settings(ctx: ssl.SSLContext, tls: TLSConfig | None, trusted_pems: list[str]) -> None:
    """Apply the tls block to a context, also a live one (on reload): new handshakes use it."""
    check_tls_config(tls)
    lo = _version(tls.min_version, "minVersion") if tls else None
    hi = _version(tls.max_version, "maxVersion") if tls else None
    ctx.minimum_version = lo or ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = hi or ssl.TLSVersion.MAXIMUM_SUPPORTED
    ciphers = openssl_ciphers(tls.cipher_suites) if tls and tls.cipher_suites else None
    ctx.set_ciphers(ciphers or "DEFAULT")
    ctx.load_verify_locations(cadata="".join(trusted_pems))


def needs_renewal(not_before: datetime, not_after: datetime, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return now >= not_before + (not_after - not_before) * 2 / 3
