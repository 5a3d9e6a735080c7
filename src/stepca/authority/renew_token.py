"""Renew tokens: a JWT signed by the certificate's own key, the certificate in the ``x5c`` header
(``step ca token --renew --x5c-cert crt --x5c-key key``). This is how a certificate that has
already expired is renewed when ``allowRenewalAfterExpiry`` is set."""

from __future__ import annotations

import base64
import binascii

from cryptography import x509

from stepca.errors import Unauthorized
from stepca.provisioner.base import ParsedToken, TokenContext, check_registered_claims


def verify_renew_token(tok: ParsedToken, issuer: x509.Certificate, ctx: TokenContext) -> x509.Certificate:
    chain = tok.jws.header.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise Unauthorized("invalid renew token: missing x5c header")
    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
    except (ValueError, binascii.Error):
        raise Unauthorized("invalid renew token: x5c certificate cannot be parsed") from None
    try:
        if leaf.issuer != issuer.subject:
            raise ValueError
        leaf.verify_directly_issued_by(issuer)
    except Exception:
        raise Unauthorized("invalid renew token: the certificate was not issued by this CA") from None
    if not tok.jws.verify(leaf.public_key()):  # type: ignore[arg-type]
        raise Unauthorized("invalid renew token: signature verification failed")
    check_registered_claims(tok, ctx, issuer=tok.issuer, disable_iat_check=True)
    return leaf
