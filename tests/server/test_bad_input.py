"""Garbage in: 4xx {status, message}, nothing stored, and the CA keeps serving."""

from __future__ import annotations

import contextlib
import socket
import ssl

import pytest

from tests.helpers import CAProcess
from tests.tokens import csr_for, signer_for

CSR, _ = csr_for("svc.example.com")


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "error decoding json"),
        (b"[1, 2, 3]", 400, "error decoding json"),
        (b"", 400, "error decoding json"),
        (b'"just a string"', 400, "error decoding json"),
        (b'{"csr": 5, "ott": "x"}', 400, "certificate request"),
        (
            b'{"csr": "-----BEGIN CERTIFICATE REQUEST-----\\ngarbage\\n-----END CERTIFICATE REQUEST-----\\n", "ott": "x"}',
            400,
            "certificate request",
        ),
        (b'{"ott": "x"}', 400, "certificate request"),
        (b'{"csr": "hello", "ott": "x"}', 400, "certificate request"),
        (b'{"csr": %s, "ott": 17}' % __import__("json").dumps(CSR).encode(), 400, "ott must be a string"),
        (b"\xff\xfe\x00garbage", 400, "error decoding json"),
    ],
)
def test_sign_garbage(session_ca: CAProcess, body: bytes, status: int, fragment: str) -> None:
    got, doc = session_ca.request("POST", "/1.0/sign", body, headers={"Content-Type": "application/json"})
    assert got == status, doc
    assert doc["status"] == status and fragment in doc["message"], doc


def test_csr_with_bad_signature(session_ca: CAProcess) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    csr = x509.load_pem_x509_csr(CSR.encode())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # flip bits inside the signature
    bad = (
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + __import__("base64").encodebytes(bytes(der)).decode()
        + "-----END CERTIFICATE REQUEST-----\n"
    )
    status, doc = session_ca.request(
        "POST", "/1.0/sign", {"csr": bad, "ott": signer_for(session_ca.pki).token()}
    )
    assert status == 400
    assert "certificate request" in doc["message"]


def test_huge_body_refused(session_ca: CAProcess) -> None:
    status, doc = session_ca.request("POST", "/1.0/sign", b'{"csr": "' + b"A" * (2 << 20) + b'"}')
    assert status == 413
    assert doc["status"] == 413


def test_garbage_on_the_socket_keeps_the_ca_serving(session_ca: CAProcess) -> None:
    # not TLS at all
    with socket.create_connection(("127.0.0.1", session_ca.pki.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00" * 1000)
        s.settimeout(5)
        with contextlib.suppress(OSError):
            s.recv(100)
    # TLS then a broken HTTP request
    ctx = session_ca.ssl_context()
    with (
        socket.create_connection(("127.0.0.1", session_ca.pki.port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"POST /1.0/sign HTTP/1.1\r\nContent-Length: nope\r\n\r\n{}")
        reply = tls.recv(200)
        assert reply.split(b" ")[1] == b"400"
    # a client that disconnects mid-body
    with (
        socket.create_connection(("127.0.0.1", session_ca.pki.port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b'POST /1.0/sign HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n{"csr":')
    # wrong client certificate (not from this CA): the handshake fails, the CA does not care
    bad = ssl.create_default_context(cafile=str(session_ca.pki.root))
    assert session_ca.request("GET", "/health", context=bad) == (200, {"status": "ok"})
    assert session_ca.request("GET", "/health") == (200, {"status": "ok"})
    status, body = session_ca.request(
        "POST", "/1.0/sign", {"csr": CSR, "ott": signer_for(session_ca.pki).token()}
    )
    assert status == 201, body


def test_revoke_garbage(session_ca: CAProcess) -> None:
    for body, fragment in [
        ({"serial": ""}, "missing serial"),
        (
            {"serial": "not-a-number", "ott": signer_for(session_ca.pki).token("x", endpoint="revoke")},
            "invalid serial",
        ),
        ({"serial": "1", "reasonCode": "one"}, "reasonCode"),
        ({"serial": 5}, "serial must be a string"),
    ]:
        status, doc = session_ca.request("POST", "/1.0/revoke", body)
        assert status == 400, (body, doc)
        assert fragment in doc["message"]
