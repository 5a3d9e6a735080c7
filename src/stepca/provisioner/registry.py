"""All provisioners of one configuration, indexed for the lookups the CA needs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stepca.authority.claims import EffectiveClaims
from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension
from stepca.errors import Unauthorized
from stepca.provisioner.base import (
    ParsedToken,
    Provisioner,
    RevokeOptions,
    SSHSignOptions,
    TokenContext,
    X509SignOptions,
)

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography import x509

    from stepca.config import ProvisionerConfig

log = logging.getLogger("stepca.provisioner")

DEFAULT_PAGE_LIMIT = 20
MAX_PAGE_LIMIT = 100


def _jwk() -> type[Provisioner]:
    from stepca.provisioner.jwk import JWKProvisioner

    return JWKProvisioner


def _oidc() -> type[Provisioner]:
    from stepca.provisioner.oidc import OIDCProvisioner

    return OIDCProvisioner


def _acme() -> type[Provisioner]:
    from stepca.provisioner.acme import ACMEProvisioner

    return ACMEProvisioner


def _sshpop() -> type[Provisioner]:
    from stepca.provisioner.sshpop import SSHPOPProvisioner

    return SSHPOPProvisioner


#: every provisioner type stepca implements, by its ca.json ``type`` (upper case); the module of a
#: type is imported only when a configuration uses it. A type missing here is reported once at
#: load and refuses every token with a 401 that says so.
TYPES: dict[str, Callable[[], type[Provisioner]]] = {
    "JWK": _jwk,
    "OIDC": _oidc,
    "SSHPOP": _sshpop,
    "ACME": _acme,
}


class UnsupportedProvisioner(Provisioner):
    """A provisioner of a type stepca does not implement (yet): listed, but authorizes nothing."""

    def __init__(self, config: ProvisionerConfig, claims: EffectiveClaims) -> None:
        super().__init__(config, claims)
        self.type_name = config.type.upper()  # type: ignore[misc]

    def _refuse(self) -> Unauthorized:
        return Unauthorized(f"provisioner type {self.type_name} is not supported by stepca ({self.name})")

    def authorize_sign(self, tok: ParsedToken, ctx: TokenContext) -> X509SignOptions:
        raise self._refuse()

    def authorize_revoke(self, tok: ParsedToken, ctx: TokenContext) -> RevokeOptions:
        raise self._refuse()

    def authorize_ssh_sign(self, tok: ParsedToken, ctx: TokenContext) -> SSHSignOptions:
        raise self._refuse()


def build_provisioner(
    config: ProvisionerConfig, authority_claims: EffectiveClaims, base: Path | None = None
) -> Provisioner:
    claims = authority_claims.merged(config.claims)
    claims.check_consistent(f"provisioner {config.name!r}")
    kind = config.type.upper()
    factory = TYPES.get(kind)
    if factory is None:
        log.warning(
            "provisioner %r of type %s is not supported by stepca: it will authorize nothing",
            config.name,
            config.type,
        )
        return UnsupportedProvisioner(config, claims)
    provisioner = factory()(config, claims)
    load_profiles = getattr(provisioner, "load_profile_templates", None)
    if load_profiles is not None:  # ACME profiles with their own certificate templates
        load_profiles(base)
    if config.options:
        from stepca.authority.cert_templates import load_templates

        provisioner.x509_template, provisioner.ssh_template = load_templates(
            config.name, config.options, base
        )
    return provisioner


class ProvisionerRegistry:
    def __init__(
        self,
        configs: list[ProvisionerConfig],
        raw: list[dict[str, Any]],
        authority_claims: EffectiveClaims,
        base: Path | None = None,
    ) -> None:
        """``base``: where relative ``templateFile`` paths are (the STEPPATH of ca.json)."""
        self.all: list[Provisioner] = []
        self.raw = raw
        self._by_name_kid: dict[tuple[str, str], Provisioner] = {}
        self._by_kid: dict[str, Provisioner] = {}
        self._by_name: dict[str, list[Provisioner]] = {}
        self._by_credential: dict[tuple[str, str], Provisioner] = {}
        self._by_client_id: dict[str, Provisioner] = {}
        seen: set[tuple[str, str, str]] = set()
        for cfg in configs:
            p = build_provisioner(cfg, authority_claims, base)
            key = (p.type_name, p.name, p.credential_id)
            if key in seen:
                raise ValueError(f"duplicated provisioner {p.describe()}")
            seen.add(key)
            self.all.append(p)
            self._by_name.setdefault(p.name, []).append(p)
            self._by_credential[(p.name, p.credential_id)] = p
            client_id = getattr(p, "client_id", None)
            if client_id:
                if client_id in self._by_client_id:
                    raise ValueError(
                        f"provisioners {self._by_client_id[client_id].describe()} and {p.describe()} "
                        f"share the client id {client_id}"
                    )
                self._by_client_id[client_id] = p
            kid = getattr(p, "kid", None)
            if kid:
                if kid in self._by_kid:
                    raise ValueError(
                        f"provisioners {self._by_kid[kid].describe()} and {p.describe()} share key {kid}"
                    )
                self._by_kid[kid] = p
                self._by_name_kid[(p.name, kid)] = p

    def __len__(self) -> int:
        return len(self.all)

    def for_token(self, tok: ParsedToken) -> Provisioner:
        """The provisioner a token claims to come from: ``iss`` (the provisioner name) and the
        header ``kid`` for JWK; for an OpenID Provider's ID token, the client id in ``azp`` or
        ``aud`` (as smallstep looks OIDC provisioners up)."""
        kid = tok.kid
        if kid:
            p = self._by_name_kid.get((tok.issuer, kid))
            if p is not None:
                return p
        candidates = [p for p in self._by_name.get(tok.issuer, []) if not getattr(p, "kid", None)]
        if len(candidates) == 1:
            return candidates[0]
        if self._by_client_id:
            azp = tok.claims.get("azp")
            if isinstance(azp, str) and azp in self._by_client_id:
                return self._by_client_id[azp]
            aud = tok.claims.get("aud")
            for a in [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []:
                if isinstance(a, str) and a in self._by_client_id:
                    return self._by_client_id[a]
            # an ID token of a known provider for another client: no provisioner has its client id,
            # so any provisioner of that provider refuses it, and says why (the audience)
            for p in self._by_client_id.values():
                if getattr(p, "issuer", None) == tok.issuer:
                    return p
        raise Unauthorized("invalid token: no provisioner matches the token issuer and key id")

    def by_kid(self, kid: str) -> Provisioner | None:
        return self._by_kid.get(kid)

    async def start(self) -> None:
        """Start every provisioner (fetch keys, discovery...). One that fails is logged and
        keeps refusing until its ``refresh`` works; it never stops the CA."""
        for p in self.all:
            try:
                await p.start()
            except Exception as exc:
                log.warning("provisioner %s could not start: %s", p.describe(), exc)

    async def close(self) -> None:
        for p in self.all:
            try:
                await p.close()
            except Exception as exc:
                log.warning("provisioner %s did not close cleanly: %s", p.describe(), exc)

    def for_certificate(self, cert: x509.Certificate) -> Provisioner | None:
        """The provisioner named in a certificate's step provisioner extension."""
        from cryptography import x509 as _x509

        try:
            ext = cert.extensions.get_extension_for_oid(_x509.ObjectIdentifier(PROVISIONER_OID))
        except _x509.ExtensionNotFound:
            return None
        try:
            info = ProvisionerExtension.from_der(ext.value.value)  # type: ignore[attr-defined]
        except ValueError:
            return None
        return self._by_credential.get((info.name, info.credential_id))

    def page(self, cursor: str, limit: int) -> tuple[list[dict[str, Any]], str]:
        """``(provisioners, next_cursor)``; the cursor is an opaque position in ca.json order."""
        # ASCII digits only (``"²".isdigit()`` is true, ``int("²")`` fails), and no number past
        # the list (``int`` refuses 4300 digits and more): both were a 500
        if cursor.isascii() and cursor.isdigit():
            start = int(cursor) if len(cursor) <= 18 else len(self.raw)
        else:
            start = 0
        limit = max(1, min(limit or DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT))
        items = self.raw[start : start + limit]
        nxt = start + limit
        return items, (str(nxt) if nxt < len(self.raw) else "")
