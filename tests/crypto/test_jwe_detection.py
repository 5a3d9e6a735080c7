"""A compact JWE is told apart from binary key files by its alphabet, not by counting dots."""

from __future__ import annotations

import pytest

from stepca.crypto import jose
from stepca.crypto.keyfile import is_compact_jwe, needs_password


def test_real_compact_jwe() -> None:
    token = jose.encrypt_with_password(b'{"kty":"oct"}', b"pw", p2c=1000)
    assert is_compact_jwe(token.encode())
    assert is_compact_jwe(token.encode() + b"\n")
    assert needs_password(token.encode())


@pytest.mark.parametrize(
    "data",
    [
        b"\x30\x82\x04\xa3.\x02.\x01.\x00.\x02",  # DER with four 0x2E bytes by chance
        b"-----BEGIN PRIVATE KEY-----\na.b.c.d.e\n-----END PRIVATE KEY-----\n",
        b"a.b.c.d",
        b"a.b.c.d.e.f",
        b"",
    ],
)
def test_not_a_compact_jwe(data: bytes) -> None:
    assert not is_compact_jwe(data)
