"""ACME request bodies: flattened JSON JWS (RFC 8555 §6.2, RFC 7515 §7.2.2).

This module checks what needs no database: the shape, the algorithm, the protected header's
``url`` against the request URL, ``jwk`` vs ``kid``, and the signature against a given key.
Nonce use and account look-up are the service's (``stepca.acme.service``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson

from stepca.acme.problems import AcmeProblem, malformed, unauthorized
from stepca.crypto.jose import JOSEError, b64url_decode, key_from_jwk, thumbprint, verify_signature
from stepca.crypto.keys import PRIVATE_KEY_TYPES, PublicKey

#: account key algorithms accepted (RFC 8555 §6.2: ES256 and EdDSA at least; no none, no MAC)
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A parsed, *unverified* flattened JWS."""

    protected: dict[str, Any]
    payload_raw: bytes  # the decoded payload ("" for POST-as-GET)
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.protected.get("alg"))

    @property
    def kid(self) -> str | None:
        kid = self.protected.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def jwk(self) -> dict[str, Any] | None:
        jwk = self.protected.get("jwk")
        return jwk if isinstance(jwk, dict) else None

    @property
    def post_as_get(self) -> bool:
        return self.payload_raw == b""

    def payload(self) -> dict[str, Any]:
        """The payload as a JSON object (``{}`` for POST-as-GET)."""
        if self.post_as_get:
            return {}
        try:
            value = orjson.loads(self.payload_raw)
        except orjson.JSONDecodeError:
            raise malformed("the JWS payload is not valid JSON") from None
        if not isinstance(value, dict):
            raise malformed("the JWS payload must be a JSON object")
        return value

    def verify(self, key: PublicKey) -> None:
        if not verify_signature(self.alg, key, self.signing_input, self.signature):
            raise malformed("the JWS signature is not valid for the account key")


def parse(body: bytes | object, *, url: str, inner: bool = False) -> SignedRequest:
    """Parse a flattened JWS (bytes, or an already decoded object for a keyChange's inner JWS)
    and check its header against the request ``url``."""
    if isinstance(body, bytes):
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed("the request body is not JSON") from None
    else:
        doc = body
    if not isinstance(doc, dict):
        raise malformed("the request body must be a flattened JWS JSON object")
    if "signatures" in doc or "header" in doc:
        raise malformed("only the flattened JWS JSON serialization with a protected header is supported")
    protected_b64, payload_b64, sig_b64 = (doc.get(k) for k in ("protected", "payload", "signature"))
    if not (isinstance(protected_b64, str) and isinstance(payload_b64, str) and isinstance(sig_b64, str)):
        raise malformed("the JWS needs string protected, payload and signature members")
    try:
        protected = orjson.loads(b64url_decode(protected_b64))
        payload = b64url_decode(payload_b64)
        signature = b64url_decode(sig_b64)
    except (JOSEError, orjson.JSONDecodeError):
        raise malformed("the JWS members are not valid base64url JSON") from None
    if not isinstance(protected, dict):
        raise malformed("the JWS protected header must be a JSON object")
    alg = protected.get("alg")
    if alg not in ALGORITHMS:
        raise AcmeProblem(
            "badSignatureAlgorithm",
            f"the JWS algorithm {alg!r} is not supported",
            400,
            extra={"algorithms": list(ALGORITHMS)},
        )
    if "crit" in protected:
        raise malformed("the JWS has a critical header this server does not understand")
    has_jwk, has_kid = "jwk" in protected, "kid" in protected
    if has_jwk == has_kid:
        raise malformed("the JWS protected header must have exactly one of jwk and kid")
    if has_jwk and not isinstance(protected["jwk"], dict):
        raise malformed("the JWS jwk member must be a JSON object")
    if has_kid and not isinstance(protected["kid"], str):
        raise malformed("the JWS kid member must be a string")
    if protected.get("url") != url:
        raise unauthorized("the JWS url does not match the request URL")
    if inner and "nonce" in protected:
        raise malformed("the inner JWS of a key change must not have a nonce")
    return SignedRequest(
        protected=protected,
        payload_raw=payload,
        signing_input=protected_b64.encode() + b"." + payload_b64.encode(),
        signature=signature,
    )


def jwk_key(jwk: dict[str, Any]) -> tuple[PublicKey, str]:
    """The public key of a JWK and its RFC 7638 thumbprint; private JWKs are refused."""
    if "d" in jwk:
        raise malformed("the JWS jwk must be a public key")
    try:
        key = key_from_jwk(jwk)
        tp = thumbprint(jwk)
    except JOSEError as exc:
        raise AcmeProblem("badPublicKey", f"the account key is not usable: {exc}") from None
    if isinstance(key, PRIVATE_KEY_TYPES):
        raise malformed("the JWS jwk must be a public key")
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise AcmeProblem("badPublicKey", "RSA account keys must have at least 2048 bits")
    return key, tp


def public_jwk_members(jwk: dict[str, Any]) -> dict[str, Any]:
    """The members of a public JWK that define it (stored, compared)."""
    keep = {"EC": ("kty", "crv", "x", "y"), "RSA": ("kty", "n", "e"), "OKP": ("kty", "crv", "x")}
    return {k: jwk[k] for k in keep.get(str(jwk.get("kty")), ()) if k in jwk}


def verify_eab(binding: object, *, url: str, account_jwk: dict[str, Any], hmac_key: bytes) -> str:
    """Check an externalAccountBinding (RFC 8555 §7.3.4) and return its key id.

    ``hmac_key`` is looked up by the caller from the key id, so this runs in two steps:
    :func:`eab_key_id` first, then this."""
    doc = _eab_doc(binding)
    try:
        protected = orjson.loads(b64url_decode(doc["protected"]))
        signature = b64url_decode(doc["signature"])
    except (JOSEError, orjson.JSONDecodeError):
        raise malformed("the EAB JWS is not valid base64url JSON") from None
    if not isinstance(protected, dict):
        raise malformed("the EAB protected header must be a JSON object")
    alg = protected.get("alg")
    digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    if alg not in digests:
        raise AcmeProblem("badSignatureAlgorithm", f"the EAB algorithm {alg!r} is not supported")
    if protected.get("url") != url:
        raise unauthorized("the EAB url does not match the newAccount URL")
    if "nonce" in protected:
        raise malformed("the EAB JWS must not have a nonce")
    try:
        inner = orjson.loads(b64url_decode(doc["payload"]))
    except (JOSEError, orjson.JSONDecodeError):
        raise malformed("the EAB payload is not a JWK") from None
    if not isinstance(inner, dict) or public_jwk_members(inner) != public_jwk_members(account_jwk):
        raise unauthorized("the EAB payload is not the account key")
    signing_input = (doc["protected"] + "." + doc["payload"]).encode()
    expected = hmac.new(hmac_key, signing_input, digests[alg]).digest()
    if not hmac.compare_digest(expected, signature):
        raise unauthorized("the EAB signature is not valid")
    return str(protected.get("kid"))


def eab_key_id(binding: object) -> str:
    doc = _eab_doc(binding)
    try:
        protected = orjson.loads(b64url_decode(doc["protected"]))
    except (JOSEError, orjson.JSONDecodeError):
        raise malformed("the EAB protected header is not valid base64url JSON") from None
    kid = protected.get("kid") if isinstance(protected, dict) else None
    if not isinstance(kid, str) or not kid:
        raise malformed("the EAB protected header has no kid")
    return kid


def _eab_doc(binding: object) -> dict[str, str]:
    if not isinstance(binding, dict) or not all(
        isinstance(binding.get(k), str) for k in ("protected", "payload", "signature")
    ):
        raise malformed("externalAccountBinding must be a flattened JWS")
    return {k: binding[k] for k in ("protected", "payload", "signature")}
