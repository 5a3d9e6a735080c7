"""Building (and forging) one-time tokens in tests, with the provisioner key of a test PKI."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac, serialization

from stepca.crypto import jose
from stepca.crypto.keys import PrivateKey, generate_private_key
from stepca.crypto.x509build import build_csr
from tests.helpers import PASSWORD, PKI


@dataclass
class Signer:
    name: str
    kid: str
    key: PrivateKey
    audience: str
    fingerprint: str

    def claims(self, subject: str = "svc.example.com", endpoint: str = "sign", **over: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": self.audience.replace("/1.0/sign", f"/1.0/{endpoint}"),
            "exp": now + 300,
            "iat": now,
            "iss": self.name,
            "jti": os.urandom(16).hex(),
            "nbf": now,
            "sans": [subject],
            "sha": self.fingerprint,
            "sub": subject,
        }
        claims.update(over)
        return {k: v for k, v in claims.items() if v is not _DROP}

    def token(
        self,
        subject: str = "svc.example.com",
        *,
        header: dict[str, Any] | None = None,
        key: PrivateKey | None = None,
        endpoint: str = "sign",
        **over: Any,
    ) -> str:
        hdr = {"alg": "ES256", "kid": self.kid, "typ": "JWT", **(header or {})}
        return jose.sign_compact(
            hdr, json.dumps(self.claims(subject, endpoint, **over)).encode(), key or self.key
        )


_DROP = object()
DROP: Any = _DROP  # pass as a claim value to leave the claim out


def signer_for(pki: PKI, index: int = 0, password: str = PASSWORD) -> Signer:
    prov = pki.config()["authority"]["provisioners"][index]
    key = jose.key_from_jwk(json.loads(jose.decrypt_with_password(prov["encryptedKey"], password.encode())))
    from stepca.crypto.pem import certificate_ders, sha256_fingerprint

    fp = sha256_fingerprint(certificate_ders(pki.root.read_bytes())[0])
    return Signer(prov["name"], prov["key"]["kid"], key, f"{pki.url}/1.0/sign", fp)  # type: ignore[arg-type]


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    enc = jose.b64url_encode
    return f"{enc(json.dumps(header).encode())}.{enc(json.dumps(claims).encode())}.{enc(signature)}"


def hs256_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    enc = jose.b64url_encode
    signing_input = f"{enc(json.dumps(header).encode())}.{enc(json.dumps(claims).encode())}".encode()
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(signing_input)
    return signing_input.decode() + "." + enc(mac.finalize())


def csr_for(
    subject: str, sans: list[str] | None = None, key: PrivateKey | None = None
) -> tuple[str, PrivateKey]:
    key = key or generate_private_key()
    return build_csr(subject, sans if sans is not None else [subject], key).decode(), key


def public_key_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
