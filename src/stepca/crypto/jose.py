"""JOSE pieces step uses: JWKs and their RFC 7638 thumbprints, password-encrypted JWE
(PBES2-HS256+A128KW / A256GCM) for provisioner keys, and compact JWS/JWT.

Signing and verification go straight to ``cryptography`` (a JOSE library's generic path costs
more than the signature itself); only PBES2 JWE uses jwcrypto.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any, cast

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from stepca.crypto.keys import (
    CURVE_NAMES,
    CURVES,
    PRIVATE_KEY_TYPES,
    PrivateKey,
    PublicKey,
    WrongPasswordError,
    key_kind,
)

#: PBKDF2 iterations step writes today (older versions wrote 100000; both are read from the header)
DEFAULT_P2C = 600_000
#: refuse JWEs asking for more iterations than this (a cheap denial-of-service otherwise)
MAX_P2C = 2_000_000

_EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_EC_HASH: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "ES256": hashes.SHA256,
    "ES384": hashes.SHA384,
    "ES512": hashes.SHA512,
}
_EC_SIZE = {"ES256": 32, "ES384": 48, "ES512": 66}
_ECDSA = {alg: ec.ECDSA(h()) for alg, h in _EC_HASH.items()}  # immutable, shared
_RSA_ALGS: dict[str, tuple[type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512], bool]] = {
    "RS256": (hashes.SHA256, False),
    "RS384": (hashes.SHA384, False),
    "RS512": (hashes.SHA512, False),
    "PS256": (hashes.SHA256, True),
    "PS384": (hashes.SHA384, True),
    "PS512": (hashes.SHA512, True),
}


class JOSEError(ValueError):
    """A malformed or unverifiable JOSE object."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")


def b64url_decode(data: str | bytes) -> bytes:
    """base64url with or without padding; what ``base64.urlsafe_b64decode`` accepts (characters
    outside the alphabet are skipped), in one C call instead of three Python frames."""
    if isinstance(data, str):
        data = data.encode()
    try:
        return binascii.a2b_base64(data.translate(_URLSAFE_TO_STD) + b"=" * (-len(data) % 4))
    except (ValueError, TypeError, AttributeError) as exc:
        raise JOSEError("invalid base64url") from exc


def _int_b64(n: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (n.bit_length() + 7) // 8)
    return b64url_encode(n.to_bytes(length, "big"))


def _b64_int(s: str) -> int:
    return int.from_bytes(b64url_decode(s), "big")


# ---------------------------------------------------------------------------------------- JWK


def default_alg(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return _EC_ALGS[CURVE_NAMES[key.curve.name]]
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    return "EdDSA"


def _public_members(pub: PublicKey) -> dict[str, str]:
    if isinstance(pub, ec.EllipticCurvePublicKey):
        crv = CURVE_NAMES[pub.curve.name]
        size = (pub.curve.key_size + 7) // 8
        nums = pub.public_numbers()
        return {"kty": "EC", "crv": crv, "x": _int_b64(nums.x, size), "y": _int_b64(nums.y, size)}
    if isinstance(pub, rsa.RSAPublicKey):
        rn = pub.public_numbers()
        return {"kty": "RSA", "n": _int_b64(rn.n), "e": _int_b64(rn.e)}
    if isinstance(pub, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives import serialization

        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    raise JOSEError(f"unsupported key type {type(pub).__name__}")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url: the ``kid`` step gives provisioner keys."""
    kty = jwk.get("kty")
    names: tuple[str, ...]
    if kty == "EC":
        names = ("crv", "kty", "x", "y")
    elif kty == "RSA":
        names = ("e", "kty", "n")
    elif kty == "OKP":
        names = ("crv", "kty", "x")
    else:
        raise JOSEError(f"unsupported JWK kty {kty!r}")
    try:
        members = {n: jwk[n] for n in names}
    except KeyError as exc:
        raise JOSEError(f"JWK is missing the {exc.args[0]!r} member") from None
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def public_jwk(key: PrivateKey | PublicKey, *, alg: str | None = None, use: str = "sig") -> dict[str, Any]:
    """The public JWK, members in step's order (use, kty, kid, crv, alg, x, y / n, e)."""
    pub = key.public_key() if isinstance(key, PRIVATE_KEY_TYPES) else key
    members = _public_members(pub)
    kid = thumbprint(members)
    out: dict[str, Any] = {"use": use, "kty": members["kty"], "kid": kid}
    if "crv" in members:
        out["crv"] = members["crv"]
    out["alg"] = alg or default_alg(key)
    for name in ("x", "y", "n", "e"):
        if name in members:
            out[name] = members[name]
    return out


def private_jwk(key: PrivateKey, *, alg: str | None = None, use: str = "sig") -> dict[str, Any]:
    out = public_jwk(key, alg=alg, use=use)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        out["d"] = _int_b64(key.private_numbers().private_value, size)
    elif isinstance(key, rsa.RSAPrivateKey):
        pn = key.private_numbers()
        out.update(
            d=_int_b64(pn.d),
            p=_int_b64(pn.p),
            q=_int_b64(pn.q),
            dp=_int_b64(pn.dmp1),
            dq=_int_b64(pn.dmq1),
            qi=_int_b64(pn.iqmp),
        )
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        from cryptography.hazmat.primitives import serialization

        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        out["d"] = b64url_encode(raw)
    return out


def key_from_jwk(jwk: dict[str, Any]) -> PrivateKey | PublicKey:
    """A cryptography key (private if ``d`` is present) from a JWK dict."""
    try:
        kty = jwk["kty"]
        if kty == "EC":
            curve = CURVES[jwk["crv"]]()
            pub_nums = ec.EllipticCurvePublicNumbers(_b64_int(jwk["x"]), _b64_int(jwk["y"]), curve)
            if "d" in jwk:
                return ec.EllipticCurvePrivateNumbers(_b64_int(jwk["d"]), pub_nums).private_key()
            return pub_nums.public_key()
        if kty == "RSA":
            rpub = rsa.RSAPublicNumbers(_b64_int(jwk["e"]), _b64_int(jwk["n"]))
            if "d" in jwk:
                p, q, d = _b64_int(jwk["p"]), _b64_int(jwk["q"]), _b64_int(jwk["d"])
                return rsa.RSAPrivateNumbers(
                    p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), rpub
                ).private_key()
            return rpub.public_key()
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            if "d" in jwk:
                return ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(jwk["d"]))
            return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    except KeyError as exc:
        raise JOSEError(f"JWK is missing the {exc.args[0]!r} member") from None
    except (ValueError, TypeError) as exc:
        raise JOSEError(f"invalid JWK: {exc}") from None
    raise JOSEError(f"unsupported JWK kty {jwk.get('kty')!r} / crv {jwk.get('crv')!r}")


# ---------------------------------------------------------------------------------------- JWE


def encrypt_with_password(
    payload: bytes, password: bytes, *, p2c: int = DEFAULT_P2C, cty: str = "jwk+json"
) -> str:
    """Compact JWE, PBES2-HS256+A128KW key wrapping and A256GCM content encryption."""
    from jwcrypto import jwa, jwe, jwk

    jwa.default_max_pbkdf2_iterations = max(jwa.default_max_pbkdf2_iterations, MAX_P2C)
    header = {
        "alg": "PBES2-HS256+A128KW",
        "cty": cty,
        "enc": "A256GCM",
        "p2c": p2c,
        "p2s": b64url_encode(os.urandom(16)),
    }
    token = jwe.JWE(payload, protected=json.dumps(header, separators=(",", ":")))
    token.add_recipient(jwk.JWK.from_password(password.decode("utf-8", "surrogateescape")))
    return str(token.serialize(compact=True))


def decrypt_with_password(compact: str, password: bytes, *, name: str = "key") -> bytes:
    """Decrypt a password-based compact JWE (p2c read from the header, up to MAX_P2C)."""
    from jwcrypto import jwa, jwe, jwk
    from jwcrypto.common import JWException

    header = jwe_header(compact)
    if not str(header.get("alg", "")).startswith("PBES2-"):
        raise JOSEError(f"{name}: unsupported JWE algorithm {header.get('alg')!r}")
    p2c = header.get("p2c")
    if not isinstance(p2c, int) or p2c <= 0 or p2c > MAX_P2C:
        raise JOSEError(f"{name}: invalid PBES2 iteration count {p2c!r}")
    jwa.default_max_pbkdf2_iterations = max(jwa.default_max_pbkdf2_iterations, MAX_P2C)
    token = jwe.JWE()
    try:
        token.deserialize(compact, key=jwk.JWK.from_password(password.decode("utf-8", "surrogateescape")))
    except (JWException, ValueError) as exc:
        if "decrypt" in str(exc).lower() or "unwrap" in str(exc).lower() or isinstance(exc, JWException):
            raise WrongPasswordError(f"error decrypting {name}: wrong password") from None
        raise JOSEError(f"{name}: {exc}") from None
    return bytes(token.payload)


def jwe_header(compact: str) -> dict[str, Any]:
    parts = compact.strip().split(".")
    if len(parts) != 5:
        raise JOSEError("not a compact JWE")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise JOSEError("invalid JWE header") from exc
    if not isinstance(header, dict):
        raise JOSEError("invalid JWE header")
    return header


# ---------------------------------------------------------------------------------------- JWS


def sign_compact(header: dict[str, Any], payload: bytes, key: PrivateKey) -> str:
    """Compact JWS over ``payload`` (bytes already serialized) with ``header['alg']``."""
    alg = header["alg"]
    signing_input = (
        b64url_encode(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url_encode(payload)
    ).encode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if alg not in _EC_HASH:
            raise JOSEError(f"alg {alg} does not fit an EC key")
        der = key.sign(signing_input, ec.ECDSA(_EC_HASH[alg]()))
        r, s = utils.decode_dss_signature(der)
        size = _EC_SIZE[alg]
        sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    elif isinstance(key, rsa.RSAPrivateKey):
        if alg not in _RSA_ALGS:
            raise JOSEError(f"alg {alg} does not fit an RSA key")
        hash_cls, pss = _RSA_ALGS[alg]
        pad = (
            padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls().digest_size)
            if pss
            else padding.PKCS1v15()
        )
        sig = key.sign(signing_input, pad, hash_cls())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        if alg != "EdDSA":
            raise JOSEError(f"alg {alg} does not fit an Ed25519 key")
        sig = key.sign(signing_input)
    else:
        raise JOSEError("unsupported signing key")
    return signing_input.decode() + "." + b64url_encode(sig)


def verify_signature(alg: str, key: PublicKey, signing_input: bytes, sig: bytes) -> bool:
    """Check a JWS signature; ``alg`` must fit the key type (no 'none', no HMAC)."""
    kind = key_kind(key)
    try:
        if kind == "ec":
            ec_key = cast(ec.EllipticCurvePublicKey, key)
            size = _EC_SIZE.get(alg)
            if size is None or _EC_ALGS.get(CURVE_NAMES.get(ec_key.curve.name, "")) != alg:
                return False
            if len(sig) != 2 * size:
                return False
            der = utils.encode_dss_signature(
                int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
            )
            ec_key.verify(der, signing_input, _ECDSA[alg])
            return True
        if kind == "rsa":
            rsa_key = cast(rsa.RSAPublicKey, key)
            if alg not in _RSA_ALGS:
                return False
            hash_cls, pss = _RSA_ALGS[alg]
            pad = (
                padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls().digest_size)
                if pss
                else padding.PKCS1v15()
            )
            rsa_key.verify(sig, signing_input, pad, hash_cls())
            return True
        if kind == "ed25519":
            if alg != "EdDSA":
                return False
            cast(ed25519.Ed25519PublicKey, key).verify(sig, signing_input)
            return True
    except InvalidSignature:
        return False
    return False


class CompactJWS:
    """A parsed, *unverified* compact JWS: header, payload bytes, signing input, signature."""

    __slots__ = ("header", "payload", "raw", "signature", "signing_input")

    def __init__(self, token: str | bytes) -> None:
        raw = token.encode() if isinstance(token, str) else token
        raw = raw.strip()
        parts = raw.split(b".")
        if len(parts) != 3:
            raise JOSEError("token is not a compact JWS")
        try:
            header = orjson.loads(b64url_decode(parts[0]))
        except ValueError:
            raise JOSEError("token header is not valid JSON") from None
        if not isinstance(header, dict):
            raise JOSEError("token header is not a JSON object")
        self.raw = raw
        self.header: dict[str, Any] = header
        self.payload = b64url_decode(parts[1])
        self.signature = b64url_decode(parts[2])
        self.signing_input = parts[0] + b"." + parts[1]

    def claims(self) -> dict[str, Any]:
        try:
            claims = orjson.loads(self.payload)
        except ValueError:
            raise JOSEError("token payload is not valid JSON") from None
        if not isinstance(claims, dict):
            raise JOSEError("token payload is not a JSON object")
        return claims

    def verify(self, key: PublicKey) -> bool:
        alg = self.header.get("alg")
        if not isinstance(alg, str):
            return False
        return verify_signature(alg, key, self.signing_input, self.signature)


def sign_jwt(claims: dict[str, Any], key: PrivateKey, *, kid: str | None = None, **extra_header: Any) -> str:
    """A JWT like step's tokens: header ``{"alg", "kid", "typ": "JWT"}`` + claims."""
    header: dict[str, Any] = {"alg": extra_header.pop("alg", None) or default_alg(key)}
    if kid:
        header["kid"] = kid
    header["typ"] = "JWT"
    header.update(extra_header)
    return sign_compact(header, json.dumps(claims, separators=(",", ":")).encode(), key)
