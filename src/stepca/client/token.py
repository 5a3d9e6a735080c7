"""One-time tokens as smallstep's step CLI builds them."""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from stepca.crypto.jose import sign_jwt
from stepca.crypto.keys import PrivateKey

DEFAULT_TTL = 300  # seconds, as step


def audience(ca_url: str, endpoint: str) -> str:
    return f"{ca_url.rstrip('/')}/1.0/{endpoint}"


def new_jti() -> str:
    return os.urandom(32).hex()


def jwk_token(
    *,
    subject: str,
    issuer: str,
    kid: str,
    key: PrivateKey,
    audience: str,
    sans: list[str] | None = None,
    root_fingerprint: str | None = None,
    not_before: int | None = None,
    expires: int | None = None,
    extra: dict[str, Any] | None = None,
    alg: str | None = None,
) -> str:
    """A JWK provisioner token: ``{aud, exp, iat, iss, jti, nbf, sans, sha, sub}`` (+ ``step``)."""
    now = int(time.time())
    nbf = not_before if not_before is not None else now
    claims: dict[str, Any] = {
        "aud": audience,
        "exp": expires if expires is not None else nbf + DEFAULT_TTL,
        "iat": now,
        "iss": issuer,
        "jti": new_jti(),
        "nbf": nbf,
    }
    if sans is not None:
        claims["sans"] = sans
    if root_fingerprint:
        claims["sha"] = root_fingerprint
    claims["sub"] = subject
    if extra:
        claims.update(extra)
    return sign_jwt(claims, key, kid=kid, alg=alg)


def x5c_token(
    *,
    subject: str,
    audience: str,
    chain_ders: list[bytes],
    key: PrivateKey,
    issuer: str = "step-ca-client/1.0",
) -> str:
    """A token signed by a certificate's key with the chain in ``x5c`` (renew after expiry)."""
    now = int(time.time())
    claims = {
        "aud": audience,
        "exp": now + DEFAULT_TTL,
        "iat": now,
        "iss": issuer,
        "jti": new_jti(),
        "nbf": now,
        "sub": subject,
    }
    x5c = [base64.b64encode(d).decode() for d in chain_ders]
    return sign_jwt(claims, key, x5c=x5c)


def sshpop_token(
    *,
    provisioner: str,
    audience: str,
    subject: str,
    cert_blob: bytes,
    key: PrivateKey,
    root_fingerprint: str | None = None,
) -> str:
    """An SSHPOP token: signed by an SSH certificate's key, the certificate in the ``sshpop``
    header, and ``#sshpop/<provisioner>`` in the audience, as smallstep's step builds it."""
    from stepca.crypto.jose import public_jwk

    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": f"{audience}#sshpop/{provisioner}",
        "exp": now + DEFAULT_TTL,
        "iat": now,
        "iss": provisioner,
        "jti": new_jti(),
        "nbf": now,
    }
    if root_fingerprint:
        claims["sha"] = root_fingerprint
    claims["sub"] = subject
    return sign_jwt(claims, key, kid=public_jwk(key)["kid"], sshpop=base64.b64encode(cert_blob).decode())
