"""ACME flows shared by the tests: problem types, polling, a dns-01 order made ready."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from stepca.crypto.jose import b64url_encode
from tests.acme.client import AcmeClient
from tests.acme.dns_server import LoopbackDNS

NS = "urn:ietf:params:acme:error:"


def problem(resp: Any) -> str:
    body = resp.json()
    assert resp.headers["Content-Type"].startswith("application/problem+json"), resp.headers
    return str(body["type"]).removeprefix(NS)


def wait_status(client: AcmeClient, url: str, want: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.post(url, None).json()
        if body["status"] in want or time.monotonic() > deadline:
            return body  # type: ignore[no-any-return]
        time.sleep(0.2)


def dns01_order(client: AcmeClient, dns: LoopbackDNS, *names: str, **payload: Any) -> dict[str, Any]:
    """An order whose authorizations are validated through dns-01; returns the ready order."""
    resp = client.new_order(*names, **payload)
    assert resp.status == 201, resp.body
    order = resp.json()
    order_url = resp.location
    for authz_url in order["authorizations"]:
        authz = client.post(authz_url, None).json()
        ch = next(c for c in authz["challenges"] if c["type"] == "dns-01")
        digest = b64url_encode(hashlib.sha256(client.key_authorization(ch["token"]).encode()).digest())
        dns.txt.setdefault(f"_acme-challenge.{authz['identifier']['value']}.", []).append(digest)
        assert client.post(ch["url"], {}).status == 200
    ready = wait_status(client, order_url, {"ready", "invalid"})
    assert ready["status"] == "ready", ready
    ready["url"] = order_url
    return ready
