"""Hot reload under load: 10 SIGHUPs while 20 clients hammer POST /1.0/sign and GET /health.

Every request is counted: a connection error, a timeout or a non-2xx status is a failure, and
the test asserts there were none. 16 clients keep one HTTPS connection alive for the whole run
(a reconnect would be a failure too); 4 more open a new connection per request, so handshakes
also happen while the server certificate and TLS settings are swapped.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import signal
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from stepca.client.token import jwk_token
from stepca.crypto import jose
from stepca.crypto.keys import generate_private_key
from stepca.crypto.x509build import build_csr
from tests.helpers import PASSWORD, PKI, CAProcess

KEEPALIVE_CLIENTS = 16
RECONNECTING_CLIENTS = 4
RELOADS = 10
RELOAD_INTERVAL = 2.0
LOAD_SECONDS = RELOADS * RELOAD_INTERVAL + 3  # load runs before, during and after the reloads
TOKENS = 30_000
SUBJECT = "svc.example.com"


@dataclass
class Tally:
    ok_sign: int = 0
    ok_health: int = 0
    connections: int = 0
    last_sign: float = 0.0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str) -> None:
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)

    def fail(self, what: str) -> None:
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(what)
            else:
                self.failures.append("...")


def make_tokens(pki: PKI, count: int) -> tuple[str, collections.deque[str]]:
    """A CSR and ``count`` one-time tokens for it, signed with the provisioner of ``step ca init``."""
    prov = pki.provisioner()
    key = jose.key_from_jwk(json.loads(jose.decrypt_with_password(prov["encryptedKey"], PASSWORD.encode())))
    csr = build_csr(SUBJECT, [SUBJECT], generate_private_key()).decode()
    aud = f"{pki.url}/1.0/sign"
    expires = int(time.time()) + 600
    tokens = collections.deque(
        jwk_token(
            subject=SUBJECT,
            issuer=prov["name"],
            kid=prov["key"]["kid"],
            key=key,  # type: ignore[arg-type]
            audience=aud,
            sans=[SUBJECT],
            expires=expires,
        )
        for _ in range(count)
    )
    return csr, tokens


class Client(threading.Thread):
    def __init__(
        self,
        ca: CAProcess,
        ctx: ssl.SSLContext,
        csr: str,
        tokens: collections.deque[str],
        tally: Tally,
        stop: threading.Event,
        *,
        keepalive: bool,
    ) -> None:
        super().__init__(daemon=True)
        self.ca, self.ctx, self.csr, self.tokens = ca, ctx, csr, tokens
        self.tally, self.stop, self.keepalive = tally, stop, keepalive
        self.conn: http.client.HTTPSConnection | None = None

    def _connection(self) -> http.client.HTTPSConnection:
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(
                "localhost", self.ca.pki.port, context=self.ctx, timeout=30
            )
            self.tally.add("connections")
        return self.conn

    def _call(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        conn = self._connection()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if not self.keepalive:
            headers["Connection"] = "close"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if not self.keepalive or resp.will_close:
            if self.keepalive:  # the server closed a kept-alive connection: that is a failure
                self.tally.fail(f"{method} {path}: server closed the keep-alive connection")
            conn.close()
            self.conn = None
        return resp.status, data

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                token = self.tokens.popleft() if n % 2 else None
            except IndexError:
                token = None
            if token is None:
                method, path, body, kind, expect = "GET", "/health", None, "ok_health", 200
            else:
                payload = {"csr": self.csr, "ott": token}
                method, path, body, kind, expect = (
                    "POST",
                    "/1.0/sign",
                    json.dumps(payload).encode(),
                    "ok_sign",
                    201,
                )
            try:
                status, data = self._call(method, path, body)
            except Exception as exc:  # every transport error counts
                self.tally.fail(f"{method} {path}: {exc.__class__.__name__}: {exc}")
                if self.conn is not None:
                    self.conn.close()
                    self.conn = None
                continue
            if status != expect:
                self.tally.fail(f"{method} {path}: HTTP {status} {data[:200]!r}")
            else:
                self.tally.add(kind)
                if kind == "ok_sign":
                    self.tally.last_sign = time.monotonic()
        if self.conn is not None:
            self.conn.close()


def _toggle_provisioner(pki: PKI, round_no: int) -> str:
    """Give each reload something to do: replace an extra JWK provisioner with a new one."""
    key = generate_private_key()
    name = f"reload-{round_no}"

    def edit(cfg: dict[str, Any]) -> None:
        provs = cfg["authority"]["provisioners"]
        provs[:] = [p for p in provs if not p["name"].startswith("reload-")]
        provs.append({"type": "JWK", "name": name, "key": jose.public_jwk(key)})

    pki.edit_config(edit)
    return name


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ten_sighups_under_load_fail_no_request(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=2)
    csr, tokens = make_tokens(pki, TOKENS)
    ctx = ca.ssl_context()
    tally, stop = Tally(), threading.Event()
    clients = [
        Client(ca, ctx, csr, tokens, tally, stop, keepalive=i < KEEPALIVE_CLIENTS)
        for i in range(KEEPALIVE_CLIENTS + RECONNECTING_CLIENTS)
    ]
    for c in clients:
        c.start()
    started = time.monotonic()
    last_name, last_hup = "", 0.0
    try:
        time.sleep(1.5)
        for i in range(RELOADS):
            last_name = _toggle_provisioner(pki, i)
            os.kill(ca.proc.pid, signal.SIGHUP)
            last_hup = time.monotonic()
            time.sleep(RELOAD_INTERVAL)
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=40)
    elapsed = time.monotonic() - started

    assert not any(c.is_alive() for c in clients), "a client is stuck"
    assert tally.failures == [], f"{len(tally.failures)} failed requests: {tally.failures[:10]}"
    assert elapsed >= 20
    # the keep-alive clients never reconnected; the others reconnected for every request
    reconnects = tally.connections - KEEPALIVE_CLIENTS
    assert reconnects > 0
    assert tally.ok_sign > 1000, tally
    assert tally.ok_health > 1000, tally
    assert tally.last_sign > last_hup + 1, "certificates were still being signed after the last reload"
    # every worker really reloaded every time, and the last configuration is the one served
    log = ca.log()
    assert log.count("reloaded configuration") == RELOADS * ca.workers, log[-3000:]
    assert "reload failed" not in log
    status, body = ca.request("GET", "/provisioners")
    assert status == 200
    assert [p["name"] for p in body["provisioners"]][-1] == last_name
    assert ca.proc.poll() is None
