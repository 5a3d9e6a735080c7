"""The OIDC provisioner: ID tokens from an OpenID Provider (Google, Okta, Keycloak, Dex, Azure AD...).

The CA fetches the provider's discovery document and key set (JWKS) over HTTPS in the background
(``start``): the start never waits more than a moment for it and never fails because of it; a
provider that is down is retried with a backoff and logged, and tokens are refused with a 401 that
says why until its keys arrive. The key set is refreshed periodically and, rate-limited, when a
token names a key id it does not know (a provider rotated its keys).

What an ID token must be (OpenID Connect Core §3.1.3.7, with smallstep's rules and a few stricter
ones, decided in docs/oidc.md):

- signed with an asymmetric algorithm the key allows (RS*, PS*, ES*, EdDSA), never ``none`` or HMAC,
  by a key of the provider's JWKS;
- ``iss`` equal to the discovery document's issuer (``{tenantid}`` replaced by ``tenantID``, as
  smallstep does for Azure AD), ``aud`` containing ``clientID``, ``azp`` (when present) equal to it;
- ``exp``, ``nbf`` and ``iat`` with smallstep's one-minute leeway;
- ``email_verified`` true whenever the email is used (smallstep 0.19 ignores it: we do not);
- the email's domain in ``domains`` unless the email is in ``admins`` (and, with ``domains``, an
  email at all); one of ``groups`` when configured;
- used once: the hash of the token is recorded like any one-time token.

Certificates follow smallstep's default template: the common name is ``sub``; the SANs are the
email and ``URI:{iss}#{sub}``. Admins get what their CSR asks (smallstep's certificate-request
template) and may revoke. SSH user certificates get the principals smallstep's default identity
gives: the sanitized local part of the email, the raw local part, and the email.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from stepca.authority.claims import EffectiveClaims
from stepca.config import OIDCProvisionerConfig
from stepca.crypto.jose import JOSEError, key_from_jwk
from stepca.crypto.keys import PRIVATE_KEY_TYPES
from stepca.errors import Forbidden, Unauthorized
from stepca.provisioner.base import (
    LEEWAY_SECONDS,
    ParsedToken,
    Provisioner,
    RevokeOptions,
    SSHSignOptions,
    TokenContext,
    X509SignOptions,
)

if TYPE_CHECKING:
    from stepca.crypto.keys import PublicKey

log = logging.getLogger("stepca.provisioner.oidc")

WELL_KNOWN = "/.well-known/openid-configuration"
#: algorithms an ID token may be signed with (asymmetric only)
ALLOWED_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: how long ``start`` waits for the first fetch before letting the CA serve (it goes on after)
START_WAIT_SECONDS = 3.0
#: periodic key-set refresh, unless the provider's Cache-Control max-age says otherwise (bounded)
REFRESH_SECONDS = 3600.0
MIN_REFRESH_SECONDS = 60.0
MAX_REFRESH_SECONDS = 86400.0
#: retry backoff while the provider cannot be reached
RETRY_MIN_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
#: an unknown ``kid`` triggers at most one key-set fetch this often
UNKNOWN_KID_INTERVAL = 10.0
FETCH_TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 1 << 20

#: characters a URI fragment keeps unescaped (RFC 3986 pchar / "/" / "?")
_FRAGMENT_SAFE = "!$&'()*+,;=:@/?-._~"
_SSH_USER = re.compile(r"^[a-z][-a-z0-9_]*$")


class ProviderError(Exception):
    """The provider's discovery document or key set could not be fetched or used."""


def discovery_url(endpoint: str) -> str:
    """The discovery document URL for ``configurationEndpoint`` (the well-known path is added
    when missing, as smallstep does)."""
    parts = urlsplit(endpoint)
    if WELL_KNOWN in parts.path:
        return endpoint
    return parts._replace(path=parts.path.rstrip("/") + WELL_KNOWN).geturl()


def certificate_names(claims: dict[str, Any]) -> tuple[str, list[str]]:
    """smallstep's default names for an ID token: ``sub`` as the subject; the email and, when
    ``iss`` is a URL, ``{iss}#{sub}`` as SANs. The CLI builds its CSR with the same function."""
    sub = claims.get("sub")
    sub = sub if isinstance(sub, str) else ""
    iss = claims.get("iss")
    iss = iss if isinstance(iss, str) else ""
    email = claims.get("email")
    sans = [email] if isinstance(email, str) and email else []
    if sub and urlsplit(iss).scheme:
        sans.append(iss + "#" + quote(sub, safe=_FRAGMENT_SAFE))
    return sub, sans


def sanitize_ssh_principal(email: str) -> str:
    """smallstep's SanitizeSSHUserPrincipal: the lower-cased local part, dots dropped, anything
    outside ``[a-z0-9-]`` replaced by ``_``."""
    local = email.rsplit("@", 1)[0].lower()
    out = []
    for ch in local:
        if "a" <= ch <= "z" or "0" <= ch <= "9" or ch == "-":
            out.append(ch)
        elif ch != ".":
            out.append("_")
    return "".join(out)


def _normalize_email(email: str) -> str:
    """The domain is case-insensitive, the local part is not (smallstep's sanitizeEmail)."""
    at = email.rfind("@")
    return email[:at] + email[at:].lower() if at >= 0 else email


def _dedupe(items: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return tuple(seen)


class OIDCProvisioner(Provisioner):
    type_name = "OIDC"
    #: the authority awaits :meth:`prepare` before authorizing this provisioner's tokens
    fetches_keys = True

    def __init__(self, config: OIDCProvisionerConfig, claims: EffectiveClaims) -> None:
        super().__init__(config, claims)
        self.oidc_config = config
        if not config.client_id:
            raise ValueError(f"provisioner {config.name!r}: clientID cannot be empty")
        endpoint = config.configuration_endpoint
        if urlsplit(endpoint).scheme != "https" or not urlsplit(endpoint).hostname:
            raise ValueError(
                f"provisioner {config.name!r}: configurationEndpoint must be an https URL, got {endpoint!r}"
            )
        if config.listen_address:
            _host, sep, port = config.listen_address.rpartition(":")
            if not sep or not port.isdigit():
                raise ValueError(
                    f"provisioner {config.name!r}: listenAddress must be host:port, got {config.listen_address!r}"
                )
        self.client_id = config.client_id
        self.discovery_url = discovery_url(endpoint)
        self.admins = frozenset(_normalize_email(a) for a in (config.admins or []))
        self.domains = tuple(d.lower().lstrip("@") for d in (config.domains or []))
        self.groups = frozenset(config.groups or [])
        self.issuer: str | None = None  # from the discovery document
        self.jwks_uri: str | None = None
        self._keys: dict[str, list[tuple[PublicKey, str | None]]] = {}  # kid -> (key, alg)
        self._unnamed: list[tuple[PublicKey, str | None]] = []  # keys without a kid
        self._loaded = asyncio.Event()
        self._last_error = "the provider's keys have not been fetched yet"
        self._last_fetch = 0.0
        self._last_forced = -UNKNOWN_KID_INTERVAL  # last fetch asked for by a token (rate-limited)
        self._refresh_lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: Any = None

    @property
    def credential_id(self) -> str:
        return self.client_id

    @property
    def id(self) -> str:
        return self.client_id

    def describe(self) -> str:
        return f"{self.name} (OIDC) [client: {self.client_id}]"

    def is_admin(self, email: str) -> bool:
        return bool(email) and _normalize_email(email) in self.admins

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._refresh_lock = asyncio.Lock()
        self._task = asyncio.get_running_loop().create_task(self._keep_fresh(), name=f"oidc:{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(self._loaded.wait()), START_WAIT_SECONDS)
        except TimeoutError:
            log.warning(
                "provisioner %s: the OpenID Provider has not answered yet (%s); the CA starts and "
                "keeps trying",
                self.describe(),
                self._last_error,
            )

    async def refresh(self) -> None:
        """Fetch the key set now (rate-limited: at most once every UNKNOWN_KID_INTERVAL)."""
        if self._refresh_lock is None:
            return
        async with self._refresh_lock:
            now = time.monotonic()
            if now - self._last_forced < UNKNOWN_KID_INTERVAL:
                return
            self._last_forced = now
            try:
                await self._fetch()
            except ProviderError as exc:
                self._last_error = str(exc)
                log.warning("provisioner %s: %s", self.describe(), exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def prepare(self, tok: ParsedToken) -> None:
        """Before a token is checked: when it names a key we do not have, fetch the key set
        (rate-limited), so a provider's key rotation is picked up without a restart."""
        kid = tok.kid
        if not self._loaded.is_set() or (kid is not None and kid not in self._keys):
            await self.refresh()

    async def _keep_fresh(self) -> None:
        delay = RETRY_MIN_SECONDS
        while True:
            try:
                lock = self._refresh_lock or asyncio.Lock()
                async with lock:
                    max_age = await self._fetch()
            except ProviderError as exc:
                self._last_error = str(exc)
                log.warning("provisioner %s: %s (retrying in %.0fs)", self.describe(), exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            delay = RETRY_MIN_SECONDS
            await asyncio.sleep(max_age)

    async def _get_json(self, url: str) -> tuple[dict[str, Any], float]:
        import aiohttp
        import orjson

        if urlsplit(url).scheme != "https":
            raise ProviderError(f"{url} is not an https URL")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS),
                headers={"Accept": "application/json"},
            )
        try:
            async with self._session.get(url, allow_redirects=True, max_redirects=3) as resp:
                if resp.status != 200:
                    raise ProviderError(f"{url} answered HTTP {resp.status}")
                body = await resp.content.read(MAX_DOCUMENT_BYTES + 1)
                cache_control = resp.headers.get("Cache-Control", "")
        except ProviderError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderError(f"cannot fetch {url}: {exc.__class__.__name__}: {exc}") from None
        if len(body) > MAX_DOCUMENT_BYTES:
            raise ProviderError(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ProviderError(f"{url} did not return JSON") from None
        if not isinstance(doc, dict):
            raise ProviderError(f"{url} did not return a JSON object")
        return doc, _max_age(cache_control)

    async def _fetch(self) -> float:
        """Discovery document, then the key set; returns how long they may be cached."""
        doc, _ = await self._get_json(self.discovery_url)
        issuer, jwks_uri = doc.get("issuer"), doc.get("jwks_uri")
        if not isinstance(issuer, str) or not issuer:
            raise ProviderError(f"{self.discovery_url}: issuer cannot be empty")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise ProviderError(f"{self.discovery_url}: jwks_uri cannot be empty")
        if self.oidc_config.tenant_id:
            issuer = issuer.replace("{tenantid}", self.oidc_config.tenant_id)
        jwks, max_age = await self._get_json(jwks_uri)
        keys, unnamed = _parse_jwks(jwks, jwks_uri)
        self.issuer, self.jwks_uri = issuer, jwks_uri
        self._keys, self._unnamed = keys, unnamed
        self._last_fetch = time.monotonic()
        if not self._loaded.is_set():
            log.info(
                "provisioner %s: issuer %s, %d signing keys",
                self.describe(),
                issuer,
                len(keys) + len(unnamed),
            )
        self._loaded.set()
        return max_age

    # ------------------------------------------------------------------ tokens

    def _verify(self, tok: ParsedToken, ctx: TokenContext) -> dict[str, Any]:
        if not self._loaded.is_set() or self.issuer is None:
            raise Unauthorized(
                f"provisioner {self.name}: the OpenID Provider's keys are not available ({self._last_error})"
            )
        alg = tok.jws.header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGS:
            raise Unauthorized(f"invalid token: algorithm {alg!r} is not allowed")
        kid = tok.kid
        candidates = self._keys.get(kid, []) if kid is not None else []
        if kid is None or not candidates:
            candidates = candidates or self._unnamed
            if kid is not None and not candidates:
                raise Unauthorized(f"invalid token: key id {kid!r} is not in the provider's key set")
        verified = False
        for key, key_alg in candidates:
            if key_alg and key_alg != alg:
                continue
            if tok.jws.verify(key):
                verified = True
                break
        if not verified:
            raise Unauthorized("invalid token: signature verification failed")
        c = tok.claims
        if tok.issuer != self.issuer:
            raise Unauthorized(f"invalid token: issuer {tok.issuer!r} is not the provider's ({self.issuer})")
        aud = c.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.client_id not in auds:
            raise Unauthorized(
                f"invalid token: audience (aud) does not contain the client id {self.client_id}"
            )
        azp = c.get("azp")
        if azp is not None and azp != self.client_id:
            raise Unauthorized("invalid token: authorized party (azp) is not the client id")
        now = ctx.now
        exp = c.get("exp")
        if not isinstance(exp, int | float):
            raise Unauthorized("invalid token: missing expiration claim (exp)")
        if now > exp + LEEWAY_SECONDS:
            raise Unauthorized("invalid token: token is expired (exp)")
        nbf = c.get("nbf")
        if nbf is not None and (not isinstance(nbf, int | float) or now < nbf - LEEWAY_SECONDS):
            raise Unauthorized("invalid token: token not valid yet (nbf)")
        iat = c.get("iat")
        if iat is not None and (not isinstance(iat, int | float) or now < iat - LEEWAY_SECONDS):
            raise Unauthorized("invalid token: token issued in the future (iat)")
        sub = c.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("invalid token: subject (sub) cannot be empty")
        email = c.get("email")
        if email is not None and not isinstance(email, str):
            raise Unauthorized("invalid token: email must be a string")
        if email:
            verified_claim = c.get("email_verified")
            if verified_claim is not True and verified_claim != "true":
                raise Forbidden(f"the email {email} is not verified by the provider (email_verified)")
        if self.domains and not self.is_admin(email or ""):
            if not email:
                raise Forbidden("the token has no email, and the provisioner only allows some domains")
            domain = _normalize_email(email).rsplit("@", 1)[-1]
            if "@" not in email or domain not in self.domains:
                raise Forbidden(
                    f"the email {email} is not allowed: its domain is not one of the provisioner's"
                )
        if self.groups:
            groups = c.get("groups")
            if not isinstance(groups, list) or not self.groups.intersection(
                g for g in groups if isinstance(g, str)
            ):
                raise Forbidden("the token's groups do not include any group the provisioner allows")
        return c

    def _token_id(self, tok: ParsedToken) -> str:
        """ID tokens rarely have a ``jti``: the hash of the token identifies it for single use."""
        return "oidc:" + hashlib.sha256(tok.jws.raw).hexdigest()

    def authorize_sign(self, tok: ParsedToken, ctx: TokenContext) -> X509SignOptions:
        c = self._verify(tok, ctx)
        sub, sans = certificate_names(c)
        email = c.get("email") or ""
        return X509SignOptions(
            provisioner=self,
            subject=sub,
            sans=tuple(sans),
            token_id=self._token_id(tok),
            token_expires=tok.expires_at,
            names="request" if self.is_admin(email) else "fixed",
        )

    def authorize_revoke(self, tok: ParsedToken, ctx: TokenContext) -> RevokeOptions:
        c = self._verify(tok, ctx)
        if not self.is_admin(c.get("email") or ""):
            raise Unauthorized("only an admin of the OIDC provisioner may revoke certificates")
        return RevokeOptions(
            provisioner=self,
            serial="",
            token_id=self._token_id(tok),
            token_expires=tok.expires_at,
            any_serial=True,
        )

    def authorize_ssh_sign(self, tok: ParsedToken, ctx: TokenContext) -> SSHSignOptions:
        if not self.claims.enable_ssh_ca:
            raise Unauthorized(f"sshCA is disabled for oidc provisioner '{self.name}'")
        c = self._verify(tok, ctx)
        email = c.get("email") or ""
        if not email:
            raise Unauthorized("invalid token: an SSH certificate needs the email claim")
        name = sanitize_ssh_principal(email)
        if not _SSH_USER.match(name):
            raise Forbidden(f"invalid principal {name!r} from email {email!r}")
        principals = _dedupe([name, email.rsplit("@", 1)[0], email])
        admin = self.is_admin(email)
        return SSHSignOptions(
            provisioner=self,
            subject=email,
            cert_type="" if admin else "user",
            key_id=email,
            principals=principals,
            valid_after="",
            valid_before="",
            token_id=self._token_id(tok),
            token_expires=tok.expires_at,
            unrestricted=admin,
        )

    def authorize_ssh_revoke(self, tok: ParsedToken, ctx: TokenContext) -> RevokeOptions:
        return self.authorize_revoke(tok, ctx)


def _max_age(cache_control: str) -> float:
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return min(max(float(value), MIN_REFRESH_SECONDS), MAX_REFRESH_SECONDS)
    return REFRESH_SECONDS


def _parse_jwks(
    doc: dict[str, Any], where: str
) -> tuple[dict[str, list[tuple[PublicKey, str | None]]], list[tuple[PublicKey, str | None]]]:
    raw_keys = doc.get("keys")
    if not isinstance(raw_keys, list):
        raise ProviderError(f"{where}: not a JWK set (no 'keys' list)")
    keys: dict[str, list[tuple[PublicKey, str | None]]] = {}
    unnamed: list[tuple[PublicKey, str | None]] = []
    for jwk in raw_keys:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or "d" in jwk:
            continue
        alg = jwk.get("alg")
        if alg is not None and alg not in ALLOWED_ALGS:
            continue
        try:
            key = key_from_jwk(jwk)
        except JOSEError as exc:
            log.debug("%s: skipping a key: %s", where, exc)
            continue
        if isinstance(key, PRIVATE_KEY_TYPES):
            continue
        entry = (key, alg if isinstance(alg, str) else None)
        kid = jwk.get("kid")
        if isinstance(kid, str) and kid:
            keys.setdefault(kid, []).append(entry)
        else:
            unnamed.append(entry)
    if not keys and not unnamed:
        raise ProviderError(f"{where}: the key set has no usable signing key")
    return keys, unnamed
