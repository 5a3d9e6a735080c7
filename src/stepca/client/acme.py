"""An ACME client (RFC 8555) for `step ca certificate --acme`: account, order, http-01 (a
standalone server on port 80 or files in a webroot), finalize, download.

Standard library HTTP (like ``stepca.client.http``); cryptography is imported by the callers'
key and CSR helpers.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from stepca.crypto.jose import b64url_encode, default_alg, public_jwk, sign_compact, thumbprint
from stepca.crypto.keys import PrivateKey
from stepca.errors import StepError

USER_AGENT = "stepca-acme-client/0.1"
POLL_TIMEOUT = 120.0
CHALLENGE_PATH = "/.well-known/acme-challenge/"


class AcmeError(StepError):
    status = 400
    prefix = "ACME"


@dataclass
class _Response:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise AcmeError(f"the ACME server answered {self.status} without JSON") from None


def _jwk(key: PrivateKey) -> dict[str, Any]:
    members = public_jwk(key)
    keep = {"EC": ("kty", "crv", "x", "y"), "RSA": ("kty", "n", "e"), "OKP": ("kty", "crv", "x")}
    return {k: members[k] for k in keep[members["kty"]]}


class AcmeClient:
    def __init__(self, directory_url: str, context: ssl.SSLContext, account_key: PrivateKey) -> None:
        self.directory_url = directory_url
        self.context = context
        self.key = account_key
        self.kid = ""
        self._nonce = ""
        self.directory: dict[str, Any] = self._http("GET", directory_url).json()
        if not isinstance(self.directory, dict) or "newOrder" not in self.directory:
            raise AcmeError(f"{directory_url} is not an ACME directory")

    @property
    def thumbprint(self) -> str:
        return thumbprint(_jwk(self.key))

    def _http(self, method: str, url: str, body: bytes | None = None) -> _Response:
        headers = {"User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/jose+json"
        if not url.lower().startswith(("https://", "http://")):
            raise AcmeError(f"{url} is not an http(s) URL")
        req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 (checked above)
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as resp:  # noqa: S310
                out = _Response(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as exc:
            out = _Response(exc.code, exc.headers, exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise AcmeError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
        nonce = out.headers.get("Replay-Nonce") if out.headers else None
        if nonce:
            self._nonce = nonce
        return out

    def post(self, url: str, payload: Any, *, jwk: bool = False) -> _Response:
        for attempt in range(3):
            if not self._nonce:
                self._http("HEAD", self.directory["newNonce"])
            protected: dict[str, Any] = {"alg": default_alg(self.key), "nonce": self._nonce, "url": url}
            self._nonce = ""
            if jwk:
                protected["jwk"] = _jwk(self.key)
            else:
                protected["kid"] = self.kid
            raw = b"" if payload is None else json.dumps(payload).encode()
            p, pl, s = sign_compact(protected, raw, self.key).split(".")
            resp = self._http(
                "POST", url, json.dumps({"protected": p, "payload": pl, "signature": s}).encode()
            )
            if resp.status < 400:
                return resp
            problem = _problem(resp)
            if problem.get("type", "").endswith(":badNonce") and attempt < 2:
                continue
            raise AcmeError(f"{problem.get('type', resp.status)}: {problem.get('detail', '')}".strip())
        raise AcmeError("the ACME server kept refusing nonces")

    def new_account(self, contact: list[str]) -> None:
        payload: dict[str, Any] = {"termsOfServiceAgreed": True}
        if contact:
            payload["contact"] = [c if c.startswith("mailto:") else f"mailto:{c}" for c in contact]
        resp = self.post(self.directory["newAccount"], payload, jwk=True)
        self.kid = resp.headers.get("Location") or ""
        if not self.kid:
            raise AcmeError("the ACME server did not return the account URL")

    def new_order(self, identifiers: list[dict[str, str]]) -> tuple[str, dict[str, Any]]:
        resp = self.post(self.directory["newOrder"], {"identifiers": identifiers})
        return resp.headers.get("Location") or "", resp.json()

    def poll(self, url: str, done: set[str], timeout: float = POLL_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.post(url, None).json()
            if body.get("status") in done:
                return body
            if time.monotonic() > deadline:
                raise AcmeError(f"{url} is still {body.get('status')} after {timeout:.0f}s")
            time.sleep(0.5)

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint}"


def _problem(resp: _Response) -> dict[str, Any]:
    try:
        doc = json.loads(resp.body)
    except ValueError:
        return {"detail": f"HTTP {resp.status}"}
    return doc if isinstance(doc, dict) else {"detail": f"HTTP {resp.status}"}


class _Tokens(http.server.BaseHTTPRequestHandler):
    tokens: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        value = (
            self.tokens.get(self.path[len(CHALLENGE_PATH) :])
            if self.path.startswith(CHALLENGE_PATH)
            else None
        )
        body = (value or "").encode()
        self.send_response(200 if value else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def standalone(address: str, tokens: dict[str, str]) -> Iterator[None]:
    """An HTTP server answering http-01 requests for ``tokens`` while the block runs."""
    host, _, port = address.rpartition(":")

    class Handler(_Tokens):
        pass

    Handler.tokens = tokens
    try:
        server = http.server.ThreadingHTTPServer((host.strip("[]"), int(port or 80)), Handler)
    except OSError as exc:
        raise AcmeError(
            f"cannot listen on {address} for the http-01 challenge: {exc.strerror or exc}"
        ) from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def webroot(directory: str, tokens: dict[str, str]) -> Iterator[None]:
    """The http-01 files under ``directory/.well-known/acme-challenge/`` while the block runs."""
    base = Path(directory) / CHALLENGE_PATH.strip("/")
    base.mkdir(parents=True, exist_ok=True)
    written = []
    for token, value in tokens.items():
        path = base / token
        path.write_text(value)
        written.append(path)
    try:
        yield
    finally:
        for path in written:
            path.unlink(missing_ok=True)


def obtain(
    client: AcmeClient,
    identifiers: list[dict[str, str]],
    csr_der: bytes,
    *,
    contact: list[str],
    serve: Any,
) -> str:
    """Run one order with http-01 challenges; ``serve(tokens)`` is the context that answers them.
    Returns the PEM chain."""
    client.new_account(contact)
    order_url, order = client.new_order(identifiers)
    tokens: dict[str, str] = {}
    pending: list[tuple[str, str]] = []  # (authz url, challenge url)
    for authz_url in order["authorizations"]:
        authz = client.post(authz_url, None).json()
        if authz.get("status") == "valid":
            continue
        ch = next((c for c in authz.get("challenges", []) if c.get("type") == "http-01"), None)
        if ch is None:
            raise AcmeError(f"no http-01 challenge offered for {authz['identifier']['value']}")
        tokens[ch["token"]] = client.key_authorization(ch["token"])
        pending.append((authz_url, ch["url"]))
    with serve(tokens):
        for _, ch_url in pending:
            client.post(ch_url, {})
        for authz_url, _ in pending:
            authz = client.poll(authz_url, {"valid", "invalid", "deactivated", "expired", "revoked"})
            if authz["status"] != "valid":
                errors = [c.get("error", {}) for c in authz.get("challenges", []) if c.get("error")]
                detail = errors[0].get("detail", "") if errors else ""
                raise AcmeError(
                    f"the authorization for {authz['identifier']['value']} is {authz['status']}: {detail}"
                )
    client.poll(order_url, {"ready", "invalid", "valid"})
    client.post(order["finalize"], {"csr": b64url_encode(csr_der)})
    final = client.poll(order_url, {"valid", "invalid"})
    if final["status"] != "valid":
        raise AcmeError(f"the order is {final['status']}: {final.get('error', {}).get('detail', '')}")
    return client.post(final["certificate"], None).body.decode()
