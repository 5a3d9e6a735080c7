"""JWT helpers for the OIDC tests: decode without checks, or verify against a served JWKS."""

from __future__ import annotations

import base64
import json
from typing import Any

from jwcrypto import jwk, jws


def _part(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def header(token: str) -> dict[str, Any]:
    return _part(token, 0)


def claims(token: str) -> dict[str, Any]:
    """The claims, unverified (for looking; ``verified_claims`` for trusting)."""
    return _part(token, 1)


def verified_claims(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The claims of ``token`` after its signature verifies with the JWKS key its ``kid`` names
    (raises jwcrypto's InvalidJWSSignature otherwise)."""
    keyset = jwk.JWKSet.from_json(json.dumps(jwks))
    kid = header(token)["kid"]
    key = keyset.get_key(kid)
    if key is None:
        raise KeyError(f"kid {kid} is not in the JWKS")
    signed = jws.JWS()
    signed.allowed_algs = ["RS256", "PS256", "ES256", "EdDSA"]
    signed.deserialize(token)
    signed.verify(key)
    verified: dict[str, Any] = json.loads(signed.payload)
    return verified
