"""Server logs: ``logger.format`` json (one object per line) or text, with the request fields the
issue lists, and never a token, a key or a password."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from typing import Any

import pytest

from stepca.crypto import jose
from tests.helpers import PASSWORD, PKI, CAProcess
from tests.tokens import csr_for, signer_for

REQUEST_FIELDS = (
    "time", "level", "request-id", "remote-address", "method", "path", "status", "duration",
    "provisioner", "subject", "serial", "user-agent",
)  # fmt: skip


def _exercise(ca: CAProcess) -> list[str]:
    """A successful sign, refused tokens, a health check, a 404 and a reload: the tokens sent."""
    pki = ca.pki
    signer = signer_for(pki)
    tokens = []
    csr, _ = csr_for("svc.example.com")
    good = signer.token()
    tokens.append(good)
    status, _ = ca.request(
        "POST", "/1.0/sign", {"csr": csr, "ott": good}, headers={"User-Agent": "log-test/1"}
    )
    assert status == 201
    head, body, sig = good.split(".")
    tampered = f"{head}.{body}.{sig[::-1]}"
    garbage = f"{head}.{body}"  # two parts: not a JWS
    expired = signer.token(exp=int(time.time()) - 3600)
    for bad in (tampered, garbage, expired, good):  # good again: "token already used"
        tokens.append(bad)
        status, _ = ca.request("POST", "/1.0/sign", {"csr": csr, "ott": bad})
        assert status == 401
    status, _ = ca.request("GET", "/health", headers={"X-Request-Id": "req-abc-123", "User-Agent": "probe/2"})
    assert status == 200
    assert ca.request("GET", "/nope")[0] == 404
    before = ca.log().count("reloaded configuration")
    os.kill(ca.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while ca.log().count("reloaded configuration") < before + ca.workers:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return tokens


def _secrets(pki: PKI, tokens: list[str]) -> list[str]:
    prov = pki.provisioner()
    private = json.loads(jose.decrypt_with_password(prov["encryptedKey"], PASSWORD.encode()))
    out = [PASSWORD, prov["encryptedKey"], private["d"]]
    for tok in tokens:
        out.append(tok)
        parts = tok.split(".")
        if len(parts) == 3:
            out.append(parts[2])  # the signature
        out.append(f"{parts[0]}.{parts[1]}")  # header.payload
    return out


@pytest.fixture
def json_ca(pki: PKI, ca_factory: Any) -> CAProcess:
    # the password also sits in ca.json: it must not reach the log either
    pki.edit_config(lambda c: c.update(logger={"format": "json"}, password=PASSWORD))
    ca: CAProcess = ca_factory(pki, workers=2)
    return ca


def _json_lines(ca: CAProcess) -> list[dict[str, Any]]:
    ca.stop()  # flushes every buffered line
    return [json.loads(line) for line in ca.log().splitlines()]  # every line is one JSON object


def test_json_log_lines(json_ca: CAProcess) -> None:
    tokens = _exercise(json_ca)
    records = _json_lines(json_ca)
    log_text = json_ca.log()
    requests = [r for r in records if "status" in r]
    assert len([r for r in requests if r["path"] == "/1.0/sign"]) == 5
    for r in requests:
        assert set(REQUEST_FIELDS) <= set(r), r
        assert isinstance(r["status"], int) and isinstance(r["duration"], float)
        assert r["time"].endswith("Z") and r["remote-address"] == "127.0.0.1"
    signed = [r for r in requests if r["status"] == 201]
    assert len(signed) == 1
    ok = signed[0]
    assert ok["method"] == "POST" and ok["path"] == "/1.0/sign" and ok["level"] == "info"
    assert ok["provisioner"] == "admin@example.com"
    assert ok["serial"].isdigit() and int(ok["serial"]) > 2**64  # 128-bit, as a decimal string
    assert ok["user-agent"] == "log-test/1"
    refused = [r for r in requests if r["status"] == 401]
    assert len(refused) == 4 and all(r["error"] for r in refused)
    assert any("token already used" in r["error"] for r in refused)
    health = next(r for r in requests if r["path"] == "/health" and r["user-agent"] == "probe/2")
    assert health["request-id"] == "req-abc-123" and health["user-agent"] == "probe/2"
    assert len({r["request-id"] for r in requests}) == len(requests)
    assert any(r.get("msg") == "reloaded configuration" for r in records)
    assert records[0]["msg"] == f"Serving HTTPS on 127.0.0.1:{json_ca.pki.port} ..."

    for secret in _secrets(json_ca.pki, tokens):
        assert secret not in log_text, f"the log contains a secret: {secret[:20]}..."


def test_json_log_names_the_subject(json_ca: CAProcess) -> None:
    signer = signer_for(json_ca.pki)
    csr, _ = csr_for("svc.example.com")
    assert json_ca.request("POST", "/1.0/sign", {"csr": csr, "ott": signer.token()})[0] == 201
    signed = [r for r in _json_lines(json_ca) if r.get("status") == 201]
    assert signed[0]["subject"] == "svc.example.com"


def test_text_log_lines(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=1)
    tokens = _exercise(ca)
    ca.stop()
    text = ca.log()
    lines = [line for line in text.splitlines() if "path=/1.0/sign" in line and "status=201" in line]
    assert len(lines) == 1
    line = lines[0]
    for part in ("level=info", "method=POST", "provisioner=admin@example.com", "user-agent=log-test/1"):
        assert part in line, line
    assert line.startswith("time=") and " request-id=" in line and " duration=" in line
    # the start-up line is Go-style, as smallstep prints it (and as the guide shows it)
    assert re.match(
        r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d Serving HTTPS on 127\.0\.0\.1:\d+ \.\.\.$", text.splitlines()[0]
    )
    assert 'msg="reloaded configuration"' in text
    for secret in _secrets(pki, tokens):
        assert secret not in text
