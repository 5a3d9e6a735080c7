"""The JWK provisioner: one-time tokens signed by a provisioner key whose public JWK is in ca.json."""

from __future__ import annotations

from stepca.authority.claims import EffectiveClaims
from stepca.config import JWKProvisionerConfig
from stepca.crypto.jose import JOSEError, key_from_jwk, thumbprint
from stepca.crypto.keys import PublicKey
from stepca.errors import BadRequest, Unauthorized
from stepca.provisioner.base import (
    ParsedToken,
    Provisioner,
    RevokeOptions,
    SSHSignOptions,
    TokenContext,
    X509SignOptions,
    check_registered_claims,
)


class JWKProvisioner(Provisioner):
    type_name = "JWK"

    def __init__(self, config: JWKProvisionerConfig, claims: EffectiveClaims) -> None:
        super().__init__(config, claims)
        self.jwk_config = config
        try:
            key = key_from_jwk(config.key)
        except JOSEError as exc:
            raise ValueError(f"provisioner {config.name!r}: key: {exc}") from None
        if hasattr(key, "private_bytes"):
            raise ValueError(f"provisioner {config.name!r}: key: must be a public key")
        self.public_key: PublicKey = key
        self.kid: str = config.key.get("kid") or thumbprint(config.key)

    @property
    def credential_id(self) -> str:
        return self.kid

    @property
    def id(self) -> str:
        return f"{self.name}:{self.kid}"

    def describe(self) -> str:
        return f"{self.name} (JWK) [kid: {self.kid}]"

    def _authorize(self, tok: ParsedToken, ctx: TokenContext) -> None:
        alg = tok.jws.header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none" or alg.upper().startswith("HS"):
            raise Unauthorized(f"invalid token: algorithm {alg!r} is not allowed")
        expected_alg = self.jwk_config.key.get("alg")
        if expected_alg and alg != expected_alg:
            raise Unauthorized(
                f"invalid token: algorithm {alg} does not match the provisioner key ({expected_alg})"
            )
        if not tok.jws.verify(self.public_key):
            raise Unauthorized("invalid token: signature verification failed")
        check_registered_claims(
            tok, ctx, issuer=self.name, disable_iat_check=self.claims.disable_issued_at_check
        )

    def authorize_sign(self, tok: ParsedToken, ctx: TokenContext) -> X509SignOptions:
        self._authorize(tok, ctx)
        sans = tok.claims.get("sans")
        if sans is None:
            sans = [tok.claims["sub"]]
        if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
            raise Unauthorized("invalid token: sans must be a list of strings")
        if tok.claims.get("step", {}) and not isinstance(tok.claims.get("step"), dict):
            raise Unauthorized("invalid token: invalid step claim")
        return X509SignOptions(
            provisioner=self,
            subject=tok.claims["sub"],
            sans=tuple(sans),
            token_id=tok.token_id,
            token_expires=tok.expires_at,
        )

    def authorize_revoke(self, tok: ParsedToken, ctx: TokenContext) -> RevokeOptions:
        self._authorize(tok, ctx)
        return RevokeOptions(
            provisioner=self, serial=tok.claims["sub"], token_id=tok.token_id, token_expires=tok.expires_at
        )

    def authorize_ssh_sign(self, tok: ParsedToken, ctx: TokenContext) -> SSHSignOptions:
        if not self.claims.enable_ssh_ca:
            raise Unauthorized(f"sshCA is disabled for jwk provisioner '{self.name}'")
        self._authorize(tok, ctx)
        step = tok.claims.get("step")
        ssh = step.get("ssh") if isinstance(step, dict) else None
        if not isinstance(ssh, dict):
            raise Unauthorized("jwk token must be an SSH provisioning token")
        cert_type = _ssh_str(ssh, "certType")
        if cert_type not in ("", "user", "host"):
            raise BadRequest(f"ssh certificate has an unknown type '{cert_type}'")
        principals = ssh.get("principals") or []
        if not isinstance(principals, list) or not all(isinstance(p, str) and p for p in principals):
            raise Unauthorized("invalid token: step.ssh.principals must be a list of names")
        return SSHSignOptions(
            provisioner=self,
            subject=tok.claims["sub"],
            cert_type=cert_type,
            key_id=_ssh_str(ssh, "keyID"),
            principals=tuple(principals),
            valid_after=_ssh_str(ssh, "validAfter"),
            valid_before=_ssh_str(ssh, "validBefore"),
            token_id=tok.token_id,
            token_expires=tok.expires_at,
        )

    def authorize_ssh_revoke(self, tok: ParsedToken, ctx: TokenContext) -> RevokeOptions:
        self._authorize(tok, ctx)
        return RevokeOptions(
            provisioner=self, serial=tok.claims["sub"], token_id=tok.token_id, token_expires=tok.expires_at
        )


def _ssh_str(ssh: dict[str, object], name: str) -> str:
    value = ssh.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Unauthorized(f"invalid token: step.ssh.{name} must be a string")
    return value
