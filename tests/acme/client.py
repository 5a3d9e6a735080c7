"""A small ACME client for protocol tests: every request is built here, so a test can send
exactly the wrong thing (a replayed nonce, another url, a jwk where a kid belongs...)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stepca.crypto.jose import b64url_encode, default_alg, public_jwk, sign_compact, thumbprint
from stepca.crypto.keys import PrivateKey


@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def nonce(self) -> str:
        return str(self.headers.get("Replay-Nonce") or "")

    @property
    def location(self) -> str:
        return str(self.headers.get("Location") or "")


def jwk_of(key: PrivateKey) -> dict[str, Any]:
    members = public_jwk(key)
    keep = {"EC": ("kty", "crv", "x", "y"), "RSA": ("kty", "n", "e"), "OKP": ("kty", "crv", "x")}
    return {k: members[k] for k in keep[members["kty"]]}


def flattened(protected: dict[str, Any], payload: bytes, key: PrivateKey) -> dict[str, str]:
    compact = sign_compact(protected, payload, key)
    p, pl, s = compact.split(".")
    return {"protected": p, "payload": pl, "signature": s}


@dataclass
class AcmeClient:
    directory_url: str
    context: ssl.SSLContext
    key: PrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    kid: str = ""
    alg: str = ""
    _dir: dict[str, Any] | None = None
    _nonce: str = ""

    def http(
        self, method: str, url: str, body: bytes | None = None, ctype: str = "application/jose+json"
    ) -> Response:
        headers = {"Content-Type": ctype} if body is not None else {}
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as resp:
                out = Response(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as exc:
            out = Response(exc.code, exc.headers, exc.read())
        if out.nonce:
            self._nonce = out.nonce
        return out

    @property
    def directory(self) -> dict[str, Any]:
        if self._dir is None:
            self._dir = self.http("GET", self.directory_url).json()
        return self._dir

    def nonce(self) -> str:
        if not self._nonce:
            self.http("HEAD", self.directory["newNonce"])
        nonce, self._nonce = self._nonce, ""
        return nonce

    @property
    def thumbprint(self) -> str:
        return thumbprint(jwk_of(self.key))

    def signed(
        self,
        url: str,
        payload: Any,
        *,
        key: PrivateKey | None = None,
        use_jwk: bool | None = None,
        nonce: str | None = None,
        protected_url: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> bytes:
        key = key or self.key
        protected: dict[str, Any] = {
            "alg": self.alg or default_alg(key),
            "nonce": nonce if nonce is not None else self.nonce(),
            "url": protected_url or url,
        }
        if use_jwk or (use_jwk is None and not self.kid):
            protected["jwk"] = jwk_of(key)
        else:
            protected["kid"] = self.kid
        protected.update(extra or {})
        raw = b"" if payload is None else json.dumps(payload).encode()
        return json.dumps(flattened(protected, raw, key)).encode()

    def post(self, url: str, payload: Any, **kw: Any) -> Response:
        return self.http("POST", url, self.signed(url, payload, **kw))

    # ------------------------------------------------------------------ flows

    def new_account(self, **payload: Any) -> Response:
        resp = self.post(
            self.directory["newAccount"], {"termsOfServiceAgreed": True, **payload}, use_jwk=True
        )
        if resp.status in (200, 201):
            self.kid = resp.location
        return resp

    def new_order(self, *names: str, **payload: Any) -> Response:
        identifiers = [{"type": "ip" if _is_ip(n) else "dns", "value": n} for n in names]
        return self.post(self.directory["newOrder"], {"identifiers": identifiers, **payload})

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint}"

    def finalize(
        self, order: dict[str, Any], names: list[str], key: PrivateKey | None = None
    ) -> tuple[Response, PrivateKey]:
        cert_key = key or ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for n in names:
            if _is_ip(n):
                import ipaddress

                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            else:
                sans.append(x509.DNSName(n))
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(cert_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        der = csr.public_bytes(serialization.Encoding.DER)
        return self.post(order["finalize"], {"csr": b64url_encode(der)}), cert_key


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
