"""Admin credentials for tests: an admin certificate issued by the CA itself (a JWK token of the
admin provisioner, as `step ca admin` gets one), and x5c admin tokens signed with its key."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from stepca.crypto import jose
from stepca.crypto.keys import PrivateKey
from tests.helpers import PKI, CAProcess, make_pki
from tests.tokens import csr_for, signer_for


def admin_pki(base: Path, **kwargs: Any) -> PKI:
    """A PKI whose ca.json has remote administration on (as `step ca init --remote-management`)."""
    pki = make_pki(base, **kwargs)
    pki.edit_config(lambda cfg: cfg["authority"].__setitem__("enableAdmin", True))
    return pki


@dataclass
class AdminCredentials:
    url: str
    chain: list[x509.Certificate]
    key: PrivateKey
    subject: str

    def token(self, path: str, *, aud: str | None = None, **over: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": aud or f"{self.url}{path.split('?', maxsplit=1)[0]}",
            "exp": now + 300,
            "iat": now,
            "iss": "step-admin-client/1.0",
            "jti": os.urandom(16).hex(),
            "nbf": now,
            "sub": self.subject,
        }
        claims.update(over)
        x5c = [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in self.chain]
        return jose.sign_jwt(claims, self.key, x5c=x5c)


def issue_cert(
    ca: CAProcess, pki: PKI, subject: str, *, index: int = 0, not_after: str | None = None
) -> tuple[list[x509.Certificate], PrivateKey, str]:
    """A certificate for ``subject`` from the JWK provisioner ``index`` of ca.json."""
    signer = signer_for(pki, index)
    signer.audience = f"{ca.url}/1.0/sign"
    csr, key = csr_for(subject)
    body: dict[str, Any] = {"csr": csr, "ott": signer.token(subject)}
    if not_after:
        body["notAfter"] = not_after
    status, resp = ca.request("POST", "/1.0/sign", body)
    assert status == 201, resp
    chain = [x509.load_pem_x509_certificate(p.encode()) for p in [resp["crt"], resp["ca"]]]
    return chain, key, resp["crt"]


def admin_credentials(ca: CAProcess, pki: PKI, subject: str = "step", **kw: Any) -> AdminCredentials:
    chain, key, _ = issue_cert(ca, pki, subject, **kw)
    return AdminCredentials(ca.url, chain, key, subject)


def call(
    ca: CAProcess, creds: AdminCredentials | None, method: str, path: str, body: Any = None, **tok: Any
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if creds is not None:
        headers["Authorization"] = creds.token(path, **tok)
    data = None if body is None else json.dumps(body).encode()
    return ca.request(method, path, data, headers)


def jwk_document(name: str) -> tuple[dict[str, Any], PrivateKey]:
    """A new JWK provisioner in ca.json form, and its private key."""
    from stepca.crypto.keys import generate_private_key

    key = generate_private_key()
    public = jose.public_jwk(key)
    return {"type": "JWK", "name": name, "key": public}, key
