"""ca.json provisioner entries as smallstep writes them, and which entries a removal selects.

Pure functions: no prompts, no file writes (``stepca.cli.ca_provisioner`` asks, and
``stepca.pki.config_edit`` writes).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from stepca._durations import format_duration, parse_duration
from stepca.crypto.keyfile import is_compact_jwe
from stepca.errors import UserError

TYPES = ("JWK", "OIDC", "ACME", "X5C", "SSHPOP")
ACME_CHALLENGES = ("http-01", "dns-01", "tls-alpn-01", "device-attest-01")
_PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")

#: claims flag name -> ca.json claim name, in the order smallstep writes them
DURATION_CLAIMS = {
    "x509_min_dur": "minTLSCertDuration",
    "x509_max_dur": "maxTLSCertDuration",
    "x509_default_dur": "defaultTLSCertDuration",
    "ssh_user_min_dur": "minUserSSHCertDuration",
    "ssh_user_max_dur": "maxUserSSHCertDuration",
    "ssh_user_default_dur": "defaultUserSSHCertDuration",
    "ssh_host_min_dur": "minHostSSHCertDuration",
    "ssh_host_max_dur": "maxHostSSHCertDuration",
    "ssh_host_default_dur": "defaultHostSSHCertDuration",
}


@dataclass(frozen=True)
class ClaimsFlags:
    durations: dict[str, str | None]
    disable_renewal: bool | None = None
    allow_renewal_after_expiry: bool | None = None
    enable_ssh_ca: bool | None = None


def claims_entry(flags: ClaimsFlags) -> dict[str, Any] | None:
    """The ``claims`` object for the flags given (None when no claims flag was used)."""
    out: dict[str, Any] = {}
    for flag, claim in DURATION_CLAIMS.items():
        value = flags.durations.get(flag)
        if value is None:
            continue
        try:
            duration = parse_duration(value)
        except ValueError:
            raise UserError(
                f"invalid value '{value}' for flag '--{flag.replace('_', '-')}': "
                'use a duration like "5m", "12h" or "2h45m"'
            ) from None
        if duration.total_seconds() <= 0:
            raise UserError(
                f"invalid value '{value}' for flag '--{flag.replace('_', '-')}': must be positive"
            )
        out[claim] = format_duration(duration)
    if flags.disable_renewal is not None:
        out["disableRenewal"] = flags.disable_renewal
    if flags.allow_renewal_after_expiry is not None:
        out["allowRenewalAfterExpiry"] = flags.allow_renewal_after_expiry
    if flags.enable_ssh_ca is not None:
        out["enableSSHCA"] = flags.enable_ssh_ca
    # keep smallstep's field order: TLS durations, renewal, SSH durations, enableSSHCA
    order = [*list(DURATION_CLAIMS.values())[:3], "disableRenewal", "allowRenewalAfterExpiry"]
    order += [*list(DURATION_CLAIMS.values())[3:], "enableSSHCA"]
    return {k: out[k] for k in order if k in out} or None


# ------------------------------------------------------------------------------------ JWK


def _password_jwe(key: Any, password: bytes) -> str:
    from stepca.crypto import jose

    payload = json.dumps(jose.private_jwk(key), separators=(",", ":")).encode()
    return jose.encrypt_with_password(payload, password)


def jwk_create(password: bytes) -> tuple[dict[str, Any], str]:
    """A new EC P-256 key: (public JWK, private JWK encrypted with ``password``)."""
    from stepca.crypto import jose
    from stepca.crypto.keys import generate_private_key

    key = generate_private_key("EC", "P-256")
    return jose.public_jwk(key), _password_jwe(key, password)


def _read(path: str, what: str) -> bytes:
    from stepca._fs import read_file

    return read_file(path, what)


def _key_from_file(data: bytes, path: str) -> tuple[Any, dict[str, Any] | None]:
    """(cryptography key, the JWK dict if the file was a JWK) from a JWK or PEM file."""
    from stepca.crypto import jose
    from stepca.crypto.keys import load_private_key, load_public_key

    text = data.strip()
    if text.startswith(b"{"):
        try:
            jwk = json.loads(text)
            return jose.key_from_jwk(jwk), jwk
        except (ValueError, jose.JOSEError) as exc:
            raise UserError(f"{path}: not a valid JWK: {exc}") from None
    if b"CERTIFICATE-----" in text:
        from cryptography import x509

        try:
            return x509.load_pem_x509_certificate(text).public_key(), None
        except ValueError:
            raise UserError(f"{path}: not a valid certificate") from None
    if b"PRIVATE KEY-----" in text:
        if b"ENCRYPTED" in text:
            raise UserError(f"{path}: the key is encrypted: use a public key or a JWK")
        try:
            return load_private_key(text, None, name=path), None
        except ValueError as exc:
            raise UserError(str(exc)) from None
    try:
        return load_public_key(text, name=path), None
    except ValueError as exc:
        raise UserError(f"{path}: not a JWK, PEM public key or certificate ({exc})") from None


def jwk_public_from_file(path: str) -> dict[str, Any]:
    """The public JWK of a key file (JWK, PEM public/private key or certificate); kid defaults to
    the RFC 7638 thumbprint."""
    from stepca.crypto import jose

    data = _read(path, "public key file")
    if is_compact_jwe(data):
        raise UserError(f"{path} is an encrypted key: pass the public key with --public-key")
    key, jwk = _key_from_file(data, path)
    if jwk is not None and jwk.get("kty") == "oct":
        raise UserError(f"{path}: a symmetric key cannot be used as a provisioner")
    pub = key.public_key() if hasattr(key, "private_bytes") else key
    try:
        out = jose.public_jwk(pub, alg=(jwk or {}).get("alg"))
    except jose.JOSEError as exc:
        raise UserError(f"{path}: {exc}") from None
    if jwk and jwk.get("kid"):
        out["kid"] = str(jwk["kid"])
    return out


def jwk_private_from_file(path: str, public: dict[str, Any], password: Callable[[], bytes]) -> str:
    """``encryptedKey`` from a private key file: a compact JWE is kept as it is; a JWK or PEM
    private key must match ``public`` and is encrypted with ``password()``."""
    from stepca.crypto import jose

    data = _read(path, "private key file")
    text = data.strip()
    if is_compact_jwe(text):
        try:
            header = jose.jwe_header(text.decode())
        except (jose.JOSEError, UnicodeDecodeError):
            raise UserError(f"{path}: not a valid encrypted key") from None
        if not str(header.get("alg", "")).startswith("PBES2-"):
            raise UserError(f"{path}: the encrypted key must use a PBES2 password algorithm")
        return text.decode()
    key, _ = _key_from_file(data, path)
    if not hasattr(key, "private_bytes"):
        raise UserError(f"{path} is a public key: --private-key needs the private key")
    if jose.thumbprint(jose.public_jwk(key)) != jose.thumbprint(public):
        raise UserError(f"{path} is not the private key of the public key")
    return _password_jwe(key, password())


def jwk_entry(name: str, public: dict[str, Any], encrypted_key: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "JWK", "name": name, "key": public}
    if encrypted_key:
        entry["encryptedKey"] = encrypted_key
    return entry


# ------------------------------------------------------------------------------------ others


def oidc_entry(
    name: str,
    *,
    client_id: str | None,
    client_secret: str | None,
    configuration_endpoint: str | None,
    admins: tuple[str, ...] = (),
    domains: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
    listen_address: str | None = None,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    if not client_id:
        raise UserError("flag '--client-id' is required with '--type OIDC'")
    if not configuration_endpoint:
        raise UserError("flag '--configuration-endpoint' is required with '--type OIDC'")
    url = urlparse(configuration_endpoint)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise UserError(
            f"invalid value '{configuration_endpoint}' for flag '--configuration-endpoint': "
            "must be an http(s) URL"
        )
    entry: dict[str, Any] = {
        "type": "OIDC",
        "name": name,
        "clientID": client_id,
        "clientSecret": client_secret or "",
        "configurationEndpoint": configuration_endpoint,
    }
    if admins:
        entry["admins"] = list(admins)
    if domains:
        entry["domains"] = list(domains)
    if groups:
        entry["groups"] = list(groups)
    if listen_address:
        entry["listenAddress"] = listen_address
    if tenant_id:
        entry["tenantID"] = tenant_id
    return entry


def acme_entry(
    name: str, *, force_cn: bool = False, require_eab: bool = False, challenges: tuple[str, ...] = ()
) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "ACME", "name": name}
    if force_cn:
        entry["forceCN"] = True
    if require_eab:
        entry["requireEAB"] = True
    if challenges:
        chosen: list[str] = []
        for c in challenges:
            if c.lower() not in ACME_CHALLENGES:
                raise UserError(
                    f"invalid value '{c}' for flag '--challenge'; options are {', '.join(ACME_CHALLENGES)}"
                )
            if c.lower() not in chosen:
                chosen.append(c.lower())
        entry["challenges"] = chosen
    return entry


def x5c_entry(name: str, roots_file: str | None) -> dict[str, Any]:
    """``roots`` is the PEM bundle, base64-encoded, as smallstep stores it."""
    if not roots_file:
        raise UserError("flag '--x5c-roots' is required with '--type X5C'")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from stepca.crypto.pem import certificate_ders

    data = _read(roots_file, "roots file")
    try:
        certs = [x509.load_der_x509_certificate(d) for d in certificate_ders(data)]
    except ValueError:
        raise UserError(f"{roots_file}: not a PEM certificate bundle") from None
    if not certs:
        raise UserError(f"{roots_file}: no certificate found")
    for cert in certs:
        try:
            ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            can_sign = ku.key_cert_sign
        except x509.ExtensionNotFound:
            can_sign = False
        if not can_sign:
            raise UserError(
                f"{roots_file}: certificate '{cert.subject.rfc4514_string()}' cannot be an X5C root: "
                "it lacks the 'Certificate Sign' key usage"
            )
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    return {"type": "X5C", "name": name, "roots": base64.b64encode(pem).decode()}


def sshpop_entry(name: str) -> dict[str, Any]:
    return {"type": "SSHPOP", "name": name}


# ------------------------------------------------------------------------------------ removal


@dataclass(frozen=True)
class RemoveQuery:
    name: str | None = None
    kid: str | None = None
    client_id: str | None = None
    type: str | None = None
    all: bool = False

    def check(self) -> None:
        if self.kid and self.client_id:
            raise UserError("flags '--kid' and '--client-id' are mutually exclusive")
        if self.all and (self.kid or self.client_id):
            raise UserError(
                f"flags '--all' and '--{'kid' if self.kid else 'client-id'}' are mutually exclusive"
            )
        if self.all and not self.name:
            raise UserError("'--all' needs the provisioner NAME: step ca provisioner remove NAME --all")
        if not (self.name or self.kid or self.client_id):
            raise UserError("provide the provisioner NAME, '--kid' or '--client-id'")

    def matches(self, entry: dict[str, Any]) -> bool:
        kind = str(entry.get("type", "")).upper()
        if self.name is not None and entry.get("name") != self.name:
            return False
        if self.type and kind != self.type.upper():
            return False
        if self.kid is not None:
            key = entry.get("key")
            return kind == "JWK" and isinstance(key, dict) and key.get("kid") == self.kid
        if self.client_id is not None:
            return kind == "OIDC" and entry.get("clientID") == self.client_id
        return True

    def describe(self) -> str:
        parts = [f"name={self.name}" if self.name else "", f"kid={self.kid}" if self.kid else ""]
        parts += [
            f"client-id={self.client_id}" if self.client_id else "",
            f"type={self.type}" if self.type else "",
        ]
        return " and ".join(p for p in parts if p)


def select_removal(
    provs: list[dict[str, Any]], query: RemoveQuery
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, removed). A NAME alone must select one provisioner (else --kid/--all say which)."""
    query.check()
    removed = [p for p in provs if query.matches(p)]
    if not removed:
        raise UserError(f"no provisioners with {query.describe()} found")
    if len(removed) > 1 and not query.all and not (query.kid or query.client_id):
        from stepca.pki.config_edit import describe

        names = ", ".join(describe(p) for p in removed)
        raise UserError(
            f"{len(removed)} provisioners match {query.describe()} ({names}): use '--kid', '--client-id' or '--all'"
        )
    kept = [p for p in provs if not any(p is r for r in removed)]
    return kept, removed


def default_ca_config() -> Path:
    """--ca-config's default: defaults.json ``ca-config``."""
    from stepca.config import load_defaults

    value = load_defaults().ca_config
    if not value:
        raise UserError("flag '--ca-config' is required (defaults.json has no ca-config)")
    return Path(value).expanduser()
