"""All provisioners of one configuration, indexed for the lookups the CA needs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from stepca.authority.claims import EffectiveClaims
from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension
from stepca.errors import Unauthorized
from stepca.provisioner.base import ParsedToken, Provisioner

if TYPE_CHECKING:
    from cryptography import x509

    from stepca.config import ProvisionerConfig

log = logging.getLogger("stepca.provisioner")

DEFAULT_PAGE_LIMIT = 20
MAX_PAGE_LIMIT = 100


def build_provisioner(config: ProvisionerConfig, authority_claims: EffectiveClaims) -> Provisioner:
    claims = authority_claims.merged(config.claims)
    claims.check_consistent(f"provisioner {config.name!r}")
    kind = config.type.upper()
    if kind == "JWK":
        from stepca.provisioner.jwk import JWKProvisioner

        return JWKProvisioner(config, claims)  # type: ignore[arg-type]
    for module_name, class_name, type_name in _OPTIONAL_TYPES:
        if kind == type_name:
            import importlib

            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                break
            return getattr(module, class_name)(config, claims)  # type: ignore[no-any-return]
    log.warning(
        "provisioner %r of type %s is not supported by stepca: it will authorize nothing",
        config.name,
        config.type,
    )
    p = Provisioner(config, claims)
    return p


# types implemented in their own modules (loaded when a configuration uses them)
_OPTIONAL_TYPES = [
    ("stepca.provisioner.oidc", "OIDCProvisioner", "OIDC"),
    ("stepca.provisioner.acme", "ACMEProvisioner", "ACME"),
    ("stepca.provisioner.x5c", "X5CProvisioner", "X5C"),
    ("stepca.provisioner.sshpop", "SSHPOPProvisioner", "SSHPOP"),
]


class ProvisionerRegistry:
    def __init__(
        self,
        configs: list[ProvisionerConfig],
        raw: list[dict[str, Any]],
        authority_claims: EffectiveClaims,
    ) -> None:
        self.all: list[Provisioner] = []
        self.raw = raw
        self._by_name_kid: dict[tuple[str, str], Provisioner] = {}
        self._by_kid: dict[str, Provisioner] = {}
        self._by_name: dict[str, list[Provisioner]] = {}
        self._by_credential: dict[tuple[str, str], Provisioner] = {}
        seen: set[tuple[str, str, str]] = set()
        for cfg in configs:
            p = build_provisioner(cfg, authority_claims)
            key = (p.type_name, p.name, p.credential_id)
            if key in seen:
                raise ValueError(f"duplicated provisioner {p.describe()}")
            seen.add(key)
            self.all.append(p)
            self._by_name.setdefault(p.name, []).append(p)
            self._by_credential[(p.name, p.credential_id)] = p
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
        """The provisioner a token claims to come from (``iss`` + header ``kid``)."""
        kid = tok.kid
        if kid:
            p = self._by_name_kid.get((tok.issuer, kid))
            if p is not None:
                return p
        candidates = [p for p in self._by_name.get(tok.issuer, []) if not getattr(p, "kid", None)]
        if len(candidates) == 1:
            return candidates[0]
        for p in self.all:
            matcher = getattr(p, "matches_token", None)
            if matcher is not None and matcher(tok):
                return p
        raise Unauthorized("invalid token: no provisioner matches the token issuer and key id")

    def by_kid(self, kid: str) -> Provisioner | None:
        return self._by_kid.get(kid)

    def by_name(self, name: str) -> list[Provisioner]:
        return list(self._by_name.get(name, []))

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
        start = int(cursor) if cursor.isdigit() else 0
        limit = max(1, min(limit or DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT))
        items = self.raw[start : start + limit]
        nxt = start + limit
        return items, (str(nxt) if nxt < len(self.raw) else "")
