"""The provisioner interface. A type implements what it supports; the base refuses the rest.

Authorization returns typed options (``X509SignOptions``...), never loose dicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from stepca.authority.claims import EffectiveClaims
from stepca.crypto.jose import CompactJWS, JOSEError
from stepca.crypto.x509ext import ProvisionerExtension, provisioner_type_number
from stepca.errors import Unauthorized

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import SSHCertificate

    from stepca.authority.cert_templates import SSHTemplate, X509Template
    from stepca.config import ProvisionerBase

#: clock skew tolerated on nbf / exp, as smallstep
LEEWAY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class TokenContext:
    """What a token is checked against: accepted audiences for the endpoint, time, CA start."""

    audiences: frozenset[str]
    now: float
    start_time: float


@dataclass(frozen=True, slots=True)
class ParsedToken:
    jws: CompactJWS
    claims: dict[str, Any]

    @classmethod
    def parse(cls, ott: str) -> ParsedToken:
        if not isinstance(ott, str) or not ott:
            raise Unauthorized("missing one-time token")
        try:
            jws = CompactJWS(ott)
            claims = jws.claims()
        except JOSEError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        _check_crit(jws.header)
        for name in ("exp", "nbf", "iat"):
            if name in claims:
                _check_time_claim(name, claims[name])
        return cls(jws, claims)

    @property
    def kid(self) -> str | None:
        kid = self.jws.header.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def issuer(self) -> str:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else ""

    @property
    def token_id(self) -> str:
        jti = self.claims.get("jti")
        return jti if isinstance(jti, str) else ""

    @property
    def expires_at(self) -> int:
        exp = self.claims.get("exp")
        return int(exp) if isinstance(exp, int | float) else 0


#: NumericDate claims beyond this (year 9999) cannot be a real time: refused at parse, before any
#: of them reaches the database or a datetime (a token with exp >= 2**63 once failed a batch)
MAX_NUMERIC_DATE = 253402300799


def _check_time_claim(name: str, value: object) -> None:
    if type(value) is int:
        ok = 0 <= value <= MAX_NUMERIC_DATE
    elif type(value) is float:
        ok = math.isfinite(value) and 0 <= value <= MAX_NUMERIC_DATE
    else:
        ok = False
    if not ok:
        raise Unauthorized(f"invalid token: claim {name} is not a valid NumericDate")


def _check_crit(header: dict[str, Any]) -> None:
    """RFC 7515 §4.1.11: we understand no extension header, so any ``crit`` is refused."""
    if "crit" in header:
        raise Unauthorized("invalid token: unsupported critical header (crit)")


#: how a certificate's names follow from the token (see ``stepca.authority.names``): "token" — the
#: CSR's names, each authorized by the token's ``sans`` [JWK]; "fixed" — checked the same way, but the
#: certificate gets every authorized name [OIDC]; "request" — the CSR's names as they are [OIDC admin]
NameRule = Literal["token", "fixed", "request"]


@dataclass(frozen=True, slots=True)
class X509SignOptions:
    provisioner: Provisioner
    subject: str
    sans: tuple[str, ...]
    token_id: str
    token_expires: int
    names: NameRule = "token"


@dataclass(frozen=True, slots=True)
class RevokeOptions:
    provisioner: Provisioner
    serial: str
    token_id: str
    token_expires: int
    #: the token may revoke any certificate (an OIDC admin), not only the one named by ``serial``
    any_serial: bool = False


@dataclass(frozen=True, slots=True)
class SSHSignOptions:
    """What an SSH sign token authorizes (its ``step.ssh`` claim); empty values are unset."""

    provisioner: Provisioner
    subject: str
    cert_type: str  # "" | "user" | "host"
    key_id: str
    principals: tuple[str, ...]
    valid_after: str  # RFC 3339 time or duration relative to the request, "" when unset
    valid_before: str
    token_id: str
    token_expires: int
    #: the request chooses type, key id and principals (an OIDC admin); ``principals`` are then
    #: only the default
    unrestricted: bool = False


@dataclass(frozen=True, slots=True)
class SSHPOPOptions:
    """A proof-of-possession token: signed by the key of ``certificate``, carried in its header.

    The provisioner checks the token; the SSH authority checks that it issued the certificate.
    """

    provisioner: Provisioner
    subject: str
    certificate: SSHCertificate
    certificate_blob: bytes
    token_id: str
    token_expires: int


def audience_key(aud: str) -> str | None:
    """``https://Host:port/path#frag`` → ``host/path#frag``: the form audiences are compared in
    (scheme https, host case-insensitive, port ignored as smallstep does)."""
    if not aud.startswith("https://"):
        return None
    rest = aud[8:]
    slash = rest.find("/")
    if slash <= 0:
        return None
    hostport, path = rest[:slash], rest[slash:]
    if hostport.startswith("["):
        end = hostport.find("]")
        host = hostport[: end + 1] if end > 0 else hostport
    else:
        host = hostport.rsplit(":", 1)[0] if ":" in hostport else hostport
    return host.lower() + path


def check_registered_claims(
    tok: ParsedToken, ctx: TokenContext, *, issuer: str, disable_iat_check: bool
) -> None:
    """iss, aud, exp, nbf, iat, jti, sub — smallstep's rules with a 1 minute leeway."""
    c = tok.claims
    if tok.issuer != issuer:
        raise Unauthorized("invalid token: issuer does not match the provisioner")
    aud = c.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and audience_key(a) in ctx.audiences for a in auds):
        raise Unauthorized("invalid token: invalid audience claim (aud)")
    exp = c.get("exp")
    if not isinstance(exp, int | float):
        raise Unauthorized("invalid token: missing expiration claim (exp)")
    if ctx.now > exp + LEEWAY_SECONDS:
        raise Unauthorized("invalid token: token is expired (exp)")
    nbf = c.get("nbf")
    if nbf is not None:
        if not isinstance(nbf, int | float):
            raise Unauthorized("invalid token: invalid not-before claim (nbf)")
        if ctx.now < nbf - LEEWAY_SECONDS:
            raise Unauthorized("invalid token: token not valid yet (nbf)")
    iat = c.get("iat")
    if iat is not None:
        if not isinstance(iat, int | float):
            raise Unauthorized("invalid token: invalid issued-at claim (iat)")
        if ctx.now < iat - LEEWAY_SECONDS:
            raise Unauthorized("invalid token: token issued in the future (iat)")
        if not disable_iat_check and iat < int(ctx.start_time):
            raise Unauthorized(
                "invalid token: token issued before the bootstrap of the certificate authority"
            )
    if not tok.token_id:
        raise Unauthorized("invalid token: missing token id (jti)")
    sub = c.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("invalid token: subject (sub) cannot be empty")


class Provisioner:
    """Base class. ``credential_id`` goes into the certificate's provisioner extension."""

    type_name: ClassVar[str] = "NOOP"
    #: True when :meth:`prepare` must be awaited before a token is authorized (keys fetched from
    #: elsewhere, e.g. an OpenID Provider's JWKS)
    fetches_keys: ClassVar[bool] = False

    def __init__(self, config: ProvisionerBase, claims: EffectiveClaims) -> None:
        self.config = config
        self.name = config.name
        self.claims = claims
        self._extension: bytes | None = None
        #: the ``options.x509`` / ``options.ssh`` certificate templates (set by the registry)
        self.x509_template: X509Template | None = None
        self.ssh_template: SSHTemplate | None = None

    @property
    def credential_id(self) -> str:
        return ""

    @property
    def id(self) -> str:
        """A stable identifier (smallstep: ``<type>/<name>`` for most, ``name:kid`` for JWK)."""
        return f"{self.type_name.lower()}/{self.name}"

    def extension_der(self) -> bytes:
        if self._extension is None:
            self._extension = ProvisionerExtension(
                type=provisioner_type_number(self.type_name), name=self.name, credential_id=self.credential_id
            ).to_der()
        return self._extension

    def describe(self) -> str:
        return f"{self.name} ({self.type_name})"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Called once the configuration is loaded, on the worker's event loop (e.g. fetch an
        OpenID Provider's discovery document and keys). Must not block the loop."""

    async def refresh(self) -> None:
        """Called when keys may have changed (e.g. a token with an unknown ``kid``)."""

    async def close(self) -> None:
        """Called after a reload swapped this configuration out, and at shutdown."""

    async def prepare(self, tok: ParsedToken) -> None:
        """Awaited before ``tok`` is authorized when ``fetches_keys`` (e.g. fetch a key set that
        does not have the token's ``kid`` yet)."""

    # ------------------------------------------------------------------ capabilities

    def authorize_sign(self, tok: ParsedToken, ctx: TokenContext) -> X509SignOptions:
        raise Unauthorized(f"provisioner {self.describe()} cannot authorize certificate signing with a token")

    def authorize_revoke(self, tok: ParsedToken, ctx: TokenContext) -> RevokeOptions:
        raise Unauthorized(f"provisioner {self.describe()} cannot authorize revocation with a token")

    def authorize_ssh_sign(self, tok: ParsedToken, ctx: TokenContext) -> SSHSignOptions:
        raise Unauthorized(f"provisioner {self.describe()} cannot authorize SSH certificate signing")

    def authorize_ssh_renew(self, tok: ParsedToken, ctx: TokenContext) -> SSHPOPOptions:
        raise Unauthorized(f"provisioner {self.describe()} cannot authorize SSH certificate renewal")

    def authorize_ssh_rekey(self, tok: ParsedToken, ctx: TokenContext) -> SSHPOPOptions:
        raise Unauthorized(f"provisioner {self.describe()} cannot authorize SSH certificate rekeying")

    def authorize_ssh_revoke(self, tok: ParsedToken, ctx: TokenContext) -> RevokeOptions | SSHPOPOptions:
        raise Unauthorized(f"provisioner {self.describe()} cannot authorize SSH certificate revocation")

    def authorize_renew(self, cert: x509.Certificate) -> None:
        if self.claims.disable_renewal:
            raise Unauthorized(f"renew is disabled for provisioner '{self.name}'")
