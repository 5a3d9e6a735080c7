"""The SSHPOP provisioner: SSH proof of possession.

A token carries an SSH certificate (base64 wire blob) in its ``sshpop`` header and is signed by
that certificate's private key. It authorizes renewing or rekeying a host certificate, and
revoking any certificate, without a provisioner password. This module checks the token and the
certificate's validity window; the SSH authority checks that the certificate is one it issued.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace

from cryptography.hazmat.primitives.serialization import SSHCertificateType

from stepca.crypto.sshcert import SSHFormatError, certificate_from_blob
from stepca.errors import BadRequest, Unauthorized
from stepca.provisioner.base import (
    ParsedToken,
    Provisioner,
    SSHPOPOptions,
    TokenContext,
    check_registered_claims,
)


class SSHPOPProvisioner(Provisioner):
    type_name = "SSHPOP"

    def _authorize(self, tok: ParsedToken, ctx: TokenContext) -> SSHPOPOptions:
        encoded = tok.jws.header.get("sshpop")
        if not isinstance(encoded, str):
            raise Unauthorized("invalid token: missing sshpop header")
        try:
            blob = base64.b64decode(encoded, validate=True)
            cert = certificate_from_blob(blob)
        except (binascii.Error, SSHFormatError) as exc:
            raise Unauthorized(f"invalid token: sshpop header: {exc}") from None
        now = ctx.now
        if cert.valid_after and cert.valid_after > now:
            raise Unauthorized("sshpop certificate validAfter is in the future")
        if cert.valid_before < now:
            raise Unauthorized("sshpop certificate validBefore is in the past")
        if not tok.jws.verify(cert.public_key()):
            raise Unauthorized("invalid token: signature verification failed")
        # step's CLI sends the audience with this provisioner's id as fragment
        audiences = ctx.audiences | {f"{aud}#{self.id}" for aud in ctx.audiences}
        check_registered_claims(
            tok,
            replace(ctx, audiences=audiences),
            issuer=self.name,
            disable_iat_check=self.claims.disable_issued_at_check,
        )
        return SSHPOPOptions(
            provisioner=self,
            subject=tok.claims["sub"],
            certificate=cert,
            certificate_blob=blob,
            token_id=tok.token_id,
            token_expires=tok.expires_at,
        )

    def _host_only(self, opts: SSHPOPOptions) -> SSHPOPOptions:
        if opts.certificate.type != SSHCertificateType.HOST:
            raise BadRequest("sshpop certificate must be a host ssh certificate")
        if self.claims.disable_renewal:
            raise Unauthorized(f"renew is disabled for provisioner '{self.name}'")
        return opts

    def authorize_ssh_renew(self, tok: ParsedToken, ctx: TokenContext) -> SSHPOPOptions:
        return self._host_only(self._authorize(tok, ctx))

    def authorize_ssh_rekey(self, tok: ParsedToken, ctx: TokenContext) -> SSHPOPOptions:
        return self._host_only(self._authorize(tok, ctx))

    def authorize_ssh_revoke(self, tok: ParsedToken, ctx: TokenContext) -> SSHPOPOptions:
        opts = self._authorize(tok, ctx)
        if opts.subject != str(opts.certificate.serial):
            raise BadRequest("sshpop token subject must be equivalent to sshpop certificate serial number")
        return opts
