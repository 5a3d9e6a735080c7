"""Encrypted key files as a unit: decrypt any kind step writes, re-encrypt in the same kind."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from stepca.crypto import jose
from stepca.crypto.keys import (
    PrivateKey,
    WrongPasswordError,
    is_encrypted_key,
    load_private_key,
    private_key_to_pem,
)


class KeyFileError(ValueError):
    """One line saying why the key file cannot be opened or written."""


@dataclass
class OpenedKey:
    kind: Literal["pem", "openssh", "jwe-compact", "jwe-json", "jwk"]
    key: PrivateKey | None = None
    payload: bytes = b""
    cty: str = "jwk+json"
    p2c: int = jose.DEFAULT_P2C


_COMPACT_JWE = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def is_compact_jwe(text: bytes) -> bool:
    """Five base64url parts joined by dots (a DER key may contain four 0x2E bytes by chance)."""
    return _COMPACT_JWE.fullmatch(text.strip()) is not None


def needs_password(data: bytes) -> bool:
    """Whether opening this key file takes a password (so a prompt is only shown when it does)."""
    text = data.strip()
    if text.startswith(b"{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return False
        return isinstance(doc, dict) and "ciphertext" in doc
    if is_compact_jwe(text):
        return True
    return is_encrypted_key(data)


def decrypt_key_file(data: bytes, password: bytes, *, name: str) -> OpenedKey:
    text = data.strip()
    if text.startswith(b"{") or is_compact_jwe(text):
        return _decrypt_jwe(text, password, name)
    kind: Literal["pem", "openssh"] = "openssh" if b"OPENSSH PRIVATE KEY" in text else "pem"
    try:
        key = load_private_key(data, password, name=name)
    except WrongPasswordError as exc:
        raise KeyFileError(str(exc)) from None
    except ValueError as exc:
        raise KeyFileError(str(exc)) from None
    return OpenedKey(kind=kind, key=key)


def _decrypt_jwe(text: bytes, password: bytes, name: str) -> OpenedKey:
    if text.startswith(b"{"):
        try:
            doc = json.loads(text)
        except ValueError:
            raise KeyFileError(f"{name} is not valid JSON") from None
        if isinstance(doc, dict) and "kty" in doc and "ciphertext" not in doc:
            if "d" not in doc:
                raise KeyFileError(f"{name} is a public JWK: there is no private key to protect")
            return OpenedKey(kind="jwk", payload=json.dumps(doc, separators=(",", ":")).encode())
        if not isinstance(doc, dict) or "ciphertext" not in doc:
            raise KeyFileError(f"{name} is not an encrypted JWK (JWE) file")
        try:
            compact = ".".join(
                (doc["protected"], doc.get("encrypted_key", ""), doc["iv"], doc["ciphertext"], doc["tag"])
            )
        except KeyError as exc:
            raise KeyFileError(f"{name}: JWE is missing {exc.args[0]!r}") from None
        kind: Literal["jwe-compact", "jwe-json"] = "jwe-json"
    else:
        compact = text.decode()
        kind = "jwe-compact"
    try:
        header = jose.jwe_header(compact)
        payload = jose.decrypt_with_password(compact, password, name=name)
    except WrongPasswordError as exc:
        raise KeyFileError(str(exc)) from None
    except jose.JOSEError as exc:
        raise KeyFileError(str(exc)) from None
    return OpenedKey(
        kind=kind, payload=payload, cty=str(header.get("cty", "jwk+json")), p2c=int(header["p2c"])
    )


def reencrypt(opened: OpenedKey, password: bytes | None) -> bytes:
    if opened.kind in ("pem", "openssh"):
        assert opened.key is not None
        if opened.kind == "openssh":
            from cryptography.hazmat.primitives import serialization

            enc: serialization.KeySerializationEncryption = (
                serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
            )
            return opened.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc
            )
        return private_key_to_pem(opened.key, password)
    if password is None:
        # an unencrypted JWK file is just the JSON
        return opened.payload if opened.payload.endswith(b"\n") else opened.payload + b"\n"
    compact = jose.encrypt_with_password(
        opened.payload, password, p2c=max(opened.p2c, jose.DEFAULT_P2C), cty=opened.cty
    )
    if opened.kind == "jwe-compact":
        return compact.encode() + b"\n"
    # JSON serialization, as smallstep's step writes a JWK it encrypts
    protected, ek, iv, ct, tag = compact.split(".")
    doc = {"protected": protected, "encrypted_key": ek, "iv": iv, "ciphertext": ct, "tag": tag}
    return json.dumps(doc, indent=2).encode() + b"\n"
