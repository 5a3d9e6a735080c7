"""Secrets a client puts in any field it controls (headers, method, path, query, JSON fields)
never reach the log or come back in a response (issue 10, item 6)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepca.crypto import jose
from stepca.crypto.keys import generate_private_key
from stepca.redact import LIMIT, PLACEHOLDER, clean, redact
from tests.helpers import PASSWORD, PKI, CAProcess
from tests.tokens import csr_for, signer_for

# ------------------------------------------------------------------------------------ unit


def _pem_key() -> str:
    return (
        generate_private_key()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4IiwiZXhwIjoxfQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("req-abc-123", "req-abc-123"),
        ("step/0.19.0 (linux/amd64)", "step/0.19.0 (linux/amd64)"),
        ("/1.0/root/" + "ab" * 32, "/1.0/root/" + "ab" * 32),  # a fingerprint stays readable
        (
            "/1.0/provisioners/" + "K" * 43 + "/encrypted-key",
            "/1.0/provisioners/" + "K" * 43 + "/encrypted-key",
        ),
        (TOKEN, PLACEHOLDER),
        (f"Bearer {TOKEN}", f"Bearer {PLACEHOLDER}"),
        (TOKEN.rsplit(".", 1)[0], PLACEHOLDER),  # header.payload without a signature
        ('x {"kty":"EC","crv":"P-256","d":"secret"} y', f"x {PLACEHOLDER} y"),
        ('{"crv":"P-256","d":"secret","kty":"EC"', PLACEHOLDER),  # cut before its end
        ("a\x1b[31mb\r\nc\x00d", "a[31mbcd"),  # control characters are dropped
        ("Z" * 120, PLACEHOLDER),  # an unarmored base64 blob (a DER key)
        ("a" * (LIMIT + 50), "a" * LIMIT + "…"),
    ],
)
def test_clean(value: str, expected: str) -> None:
    assert clean(value) == expected


def test_clean_pem_blocks() -> None:
    pem = _pem_key()
    assert clean(pem) == PLACEHOLDER
    assert clean(f"key={pem}tail") == f"key={PLACEHOLDER}tail"
    assert clean(pem.strip().replace("\n", " ")) == PLACEHOLDER  # as a header carries it
    assert clean(pem[:80]) == PLACEHOLDER  # cut before its END line


def test_redact_keeps_length_and_plain_text() -> None:
    text = "certificate request contains an unsupported subject alternative name " + "x.example.com, " * 60
    assert redact(text) == text
    assert redact(f"got {TOKEN!r}") == f"got '{PLACEHOLDER}'"


# ------------------------------------------------------------------------------ end to end


def _secrets(pki: PKI) -> dict[str, tuple[str, list[str]]]:
    """name → (the value sent, the fragments that must appear nowhere)."""
    signer = signer_for(pki)
    token = signer.token()
    head_payload, _, signature = token.rpartition(".")
    pem = _pem_key()
    prov = pki.provisioner()
    jwe = prov["encryptedKey"]
    private_jwk = json.loads(jose.decrypt_with_password(jwe, PASSWORD.encode()))
    jwk_text = json.dumps(private_jwk)
    pem_lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    return {
        "token": (token, [head_payload, signature]),
        "pem": (pem, pem_lines),
        "jwk": (jwk_text, [private_jwk["d"]]),
        "jwe": (jwe, [part for part in jwe.split(".") if len(part) > 16]),
    }


def _issue(ca: CAProcess) -> int:
    csr, _ = csr_for("redact.example.com")
    status, body = ca.request(
        "POST", "/1.0/sign", {"csr": csr, "ott": signer_for(ca.pki).token("redact.example.com")}
    )
    assert status == 201, body
    return x509.load_pem_x509_certificate(body["crt"].encode()).serial_number


def _send_everywhere(ca: CAProcess, value: str) -> list[Any]:
    """``value`` in every client-controlled field; the response bodies."""
    header = value.replace("\n", " ")  # a header cannot carry a newline
    quoted = urllib.parse.quote(value, safe="")
    responses: list[Any] = []

    def send(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> int:
        status, answer = ca.request(method, path, body, headers=headers)
        responses.append(answer)
        return status

    assert send("GET", "/health", headers={"X-Request-Id": header, "User-Agent": header}) == 200
    assert send("GET", "/1.0/health", headers={"X-Smallstep-Id": header}) == 200
    assert send("GET", f"/1.0/{quoted}") == 404
    assert send("GET", f"/{quoted}?{quoted}={quoted}") == 404
    assert send("GET", f"/1.0/root/{quoted}") == 404
    assert send("GET", f"/1.0/provisioners/{quoted}/encrypted-key") == 404
    assert send("GET", f"/1.0/provisioners?limit={quoted}") == 400
    status, _ = ca.request("GET", f"/1.0/provisioners?cursor={quoted}")  # a listing: it holds the JWE
    assert status == 200
    assert send("POST", "/1.0/revoke", {"serial": value, "ott": "x.y.z", "passive": True}) == 400
    assert send("POST", "/1.0/revoke", {"serial": value, "reason": value}) == 400
    assert send("POST", "/1.0/sign", {"csr": value, "ott": value}) in (400, 401)
    assert send("POST", "/1.0/sign", {"csr": "", "ott": "", "notAfter": value, "notBefore": value}) == 400
    assert send("POST", "/1.0/renew", headers={"Authorization": f"Bearer {header}"}) in (400, 401)
    # a revocation that succeeds, its reason the secret
    serial = _issue(ca)
    ott = signer_for(ca.pki).token(str(serial), endpoint="revoke")
    body = {"serial": str(serial), "ott": ott, "reason": value, "passive": True}
    assert send("POST", "/1.0/revoke", body, headers={"User-Agent": header}) == 200
    return responses


def test_secrets_in_client_fields_are_neither_logged_nor_echoed(pki: PKI, ca_factory: Any) -> None:
    pki.edit_config(lambda c: c.update(logger={"format": "json"}))
    ca: CAProcess = ca_factory(pki, workers=1)
    secrets = _secrets(pki)
    responses: dict[str, str] = {}
    for name, (value, _) in secrets.items():
        responses[name] = json.dumps(
            [r if isinstance(r, dict) else repr(r) for r in _send_everywhere(ca, value)]
        )
    # the token as the method: aiohttp's own parser refuses it, and must not quote it back
    token = secrets["token"][0]
    status, answer = ca.request(token, "/health")
    assert status == 400
    responses["method"] = repr(answer)
    ca.stop()  # flushes every line
    log = ca.log()
    records = [json.loads(line) for line in log.splitlines()]
    assert sum(r.get("path") == "/health" for r in records) >= len(secrets)  # the requests were logged
    assert PLACEHOLDER in log
    for name, (_, fragments) in secrets.items():
        for fragment in fragments:
            assert fragment not in log, f"the log holds the {name}: {fragment[:24]}..."
            for where, text in responses.items():
                assert fragment not in text, f"a response ({where}) echoes the {name}: {fragment[:24]}..."
    for record in records:
        for key in ("request-id", "user-agent", "path", "method", "serial"):
            assert len(record.get(key, "")) <= LIMIT + 1, record
