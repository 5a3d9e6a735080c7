"""Expiry warnings on a real CA: a certificate past two thirds of its life and ending within
`within`, not renewed, not revoked, is reported once — a warning in the log and a signed webhook
POST to a real HTTP server — and never again (not after a restart either); the renewed, the
revoked and the young ones are not; a failing webhook is tried again."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CAProcess, make_pki, start_ca
from tests.tokens import csr_for, signer_for

SECRET = "hook-secret-1234"


class Hook:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: nothing left open

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append((dict(self.headers), body))
                self.send_response(500 if hook.fail else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(b) for _, b in self.received]


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def _sign(ca: CAProcess, subject: str, *, not_before: str | None = None, not_after: str | None = None) -> int:
    from cryptography import x509

    signer = signer_for(ca.pki)
    csr, _ = csr_for(subject)
    body: dict[str, Any] = {"csr": csr, "ott": signer.token(subject)}
    if not_before:
        body["notBefore"] = not_before
    if not_after:
        body["notAfter"] = not_after
    status, resp = ca.request("POST", "/1.0/sign", body)
    assert status == 201, resp
    return x509.load_pem_x509_certificate(resp["crt"].encode()).serial_number


def _rfc3339(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_reported_once_signed_and_not_for_the_others(tmp_path: Path, hook: Hook) -> None:
    pki = make_pki(tmp_path)
    ca = start_ca(pki, workers=2)
    try:
        old = _rfc3339(timedelta(minutes=-50))
        soon = _rfc3339(timedelta(minutes=5))
        due = _sign(ca, "due.example.com", not_before=old, not_after=soon)
        # renewed: a later certificate of the same subject and provisioner exists
        _sign(ca, "renewed.example.com", not_before=old, not_after=soon)
        _sign(ca, "renewed.example.com")
        # revoked
        revoked = _sign(ca, "revoked.example.com", not_before=old, not_after=soon)
        pki.step("ca", "revoke", str(revoked), "--provisioner-password-file", str(pki.password_file))
        # young: ends within the hour but has most of its life left
        _sign(ca, "young.example.com", not_after="30m")
        # far: 24 h left
        _sign(ca, "far.example.com")
        # turned on by a reload, once the set is in place
        pki.edit_config(
            lambda cfg: cfg.__setitem__(
                "expiryWarnings",
                {"within": "1h", "checkEvery": "1s", "webhookURL": hook.url, "webhookSecret": SECRET},
            )
        )
        ca.proc.send_signal(signal.SIGHUP)

        deadline = time.monotonic() + 15
        while not hook.received:
            assert time.monotonic() < deadline, "no webhook call"
            time.sleep(0.2)
        time.sleep(3)  # more checks run: nothing is reported twice
        assert [b["serial"] for b in hook.bodies()] == [str(due)]
        headers, raw = hook.received[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Stepca-Signature"], expected)
        body = hook.bodies()[0]
        assert body["type"] == "certificate.expiring" and body["subject"] == "due.example.com"
        assert 0 < body["secondsLeft"] <= 300 and body["kind"] == "x509"
        assert "certificate expiring without renewal" in ca.log() and str(due) in ca.log()
    finally:
        ca.stop()
    # a restart does not report it again (the notice is in the database)
    ca = start_ca(pki, workers=1)
    try:
        time.sleep(3)
        assert len(hook.received) == 1
    finally:
        ca.stop()


def test_a_failing_webhook_is_tried_again(tmp_path: Path, hook: Hook) -> None:
    hook.fail = True
    pki = make_pki(tmp_path)
    pki.edit_config(
        lambda cfg: cfg.__setitem__(
            "expiryWarnings", {"within": "1h", "checkEvery": "1s", "webhookURL": hook.url}
        )
    )
    ca = start_ca(pki, workers=1)
    try:
        due = _sign(
            ca,
            "retry.example.com",
            not_before=_rfc3339(timedelta(minutes=-50)),
            not_after=_rfc3339(timedelta(minutes=5)),
        )
        deadline = time.monotonic() + 15
        while len(hook.received) < 2:
            assert time.monotonic() < deadline, "the failed webhook was not tried again"
            time.sleep(0.2)
        hook.fail = False
        deadline = time.monotonic() + 10
        count = len(hook.received)
        while len(hook.received) == count:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        settled = len(hook.received)
        time.sleep(2.5)
        assert len(hook.received) == settled  # delivered: not again
        assert "X-Stepca-Signature" not in hook.received[-1][0]  # no secret, no signature
        assert all(b["serial"] == str(due) for b in hook.bodies())
        assert "expiry webhook" in ca.log() and "answered 500" in ca.log()
    finally:
        ca.stop()


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"within": "0s"}, "expiryWarnings.within: Value error, must be a duration greater than 0"),
        (
            {"webhookURL": "ftp://x"},
            "expiryWarnings.webhookURL: Value error, must be an http:// or https:// URL",
        ),
        ({"checkEvery": "soon"}, "expiryWarnings.checkEvery"),
    ],
)
def test_bad_blocks(block: dict[str, object], message: str) -> None:
    from stepca.config import parse_ca_config
    from stepca.errors import ConfigError

    base = {"root": "r", "crt": "c", "key": "k", "address": ":443", "dnsNames": ["ca.example.com"]}
    with pytest.raises(ConfigError) as info:
        parse_ca_config({**base, "expiryWarnings": block}, "ca.json")
    assert str(info.value).startswith(f"ca.json: {message}"), str(info.value)
