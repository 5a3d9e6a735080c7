"""Replay nonces (RFC 8555 §6.5) that any instance can check without a read.

A nonce is 16 random bytes, its expiry (8 bytes) and a truncated HMAC-SHA256 of both under a key
every instance shares (``Store.acme_secret``), base64url. Checking the MAC and the expiry needs
no database; *single use* is the ``acme_nonces`` primary key: the first request that inserts a
nonce wins on every instance, every later one gets ``badNonce``. Used rows are purged after expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

from stepca.crypto.jose import b64url_decode, b64url_encode

#: a nonce is accepted this long after it was made (seconds)
NONCE_LIFETIME = 3600
_MAC = 16


class NonceBox:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def make(self, now: float | None = None) -> str:
        expiry = int(now if now is not None else time.time()) + NONCE_LIFETIME
        body = os.urandom(16) + expiry.to_bytes(8, "big")
        return b64url_encode(body + self._mac(body))

    def check(self, nonce: object, now: float | None = None) -> int:
        """The nonce's expiry if it is one we made and it has not expired; else ValueError."""
        if not isinstance(nonce, str) or not nonce or len(nonce) > 64:
            raise ValueError("the JWS has no valid nonce")
        try:
            raw = b64url_decode(nonce)
        except ValueError:
            raise ValueError("the nonce is not one this CA issued") from None
        if len(raw) != 24 + _MAC or not hmac.compare_digest(raw[24:], self._mac(raw[:24])):
            raise ValueError("the nonce is not one this CA issued")
        expiry = int.from_bytes(raw[16:24], "big")
        if expiry < (now if now is not None else time.time()):
            raise ValueError("the nonce has expired")
        return expiry

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC]
