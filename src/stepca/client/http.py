"""A small HTTPS JSON client on the standard library (fast to import: no aiohttp, no requests).

TLS is verified against the CA's root (``root`` PEM file or data); ``bootstrap`` alone connects
without verification, then pins the root by its fingerprint.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from typing import Any, Protocol, Self, TypeVar

from stepca.errors import BadRequest, StepError
from stepca.messages import (
    ErrorResponse,
    HealthResponse,
    Message,
    ProvisionerKeyResponse,
    ProvisionersResponse,
    RekeyRequest,
    RekeyResponse,
    RenewResponse,
    RevokeRequest,
    RevokeResponse,
    RootResponse,
    RootsResponse,
    SignRequest,
    SignResponse,
    SSHCheckHostRequest,
    SSHCheckHostResponse,
    SSHConfigRequest,
    SSHConfigResponse,
    SSHFederationResponse,
    SSHHostsResponse,
    SSHKeysResponse,
    SSHRekeyRequest,
    SSHRekeyResponse,
    SSHRenewRequest,
    SSHRenewResponse,
    SSHRevokeRequest,
    SSHRootsResponse,
    SSHSignRequest,
    SSHSignResponse,
    VersionResponse,
)

USER_AGENT = "stepca-client/0.1"
TIMEOUT = 30.0

_PREFIXES = (
    "The request could not be completed: ",
    "The request lacked necessary authorization to be completed: ",
    "The request was forbidden by the certificate authority: ",
    "The requested resource could not be found: ",
)
_STATUS_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
}


class _Decodable(Protocol):
    @classmethod
    def from_json(cls, doc: object) -> Self: ...


_R = TypeVar("_R", bound=_Decodable)


class CAError(StepError):
    """An error answer from the CA: ``status`` and the CA's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.ca_message = message

    @property
    def message(self) -> str:
        return self.ca_message

    @property
    def reason(self) -> str:
        """The CA message without smallstep's generic sentence: 'renew is disabled ...'."""
        msg = self.ca_message
        for prefix in _PREFIXES:
            if msg.startswith(prefix):
                return msg[len(prefix) :].rstrip(".")
        return msg.rstrip(".")

    def summary(self) -> str:
        """``Unauthorized: renew is disabled for provisioner 'dev'``."""
        name = _STATUS_NAMES.get(self.status, f"HTTP {self.status}")
        reason = self.reason
        return f"{name}: {reason}" if reason else name

    def __str__(self) -> str:
        return self.summary()


def client_context(
    root_pem: bytes | None,
    *,
    insecure: bool = False,
    cert_file: str | None = None,
    key_file: str | None = None,
    key_password: bytes | None = None,
) -> ssl.SSLContext:
    if insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cadata=root_pem.decode() if root_pem else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file, password=key_password)
    return ctx


class CAClient:
    """Synchronous client for the step-ca HTTP API (``/1.0/...``)."""

    def __init__(
        self,
        ca_url: str,
        root: str | bytes | None = None,
        *,
        insecure: bool = False,
        cert_file: str | None = None,
        key_file: str | None = None,
        key_password: bytes | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        parsed = urllib.parse.urlsplit(ca_url if "://" in ca_url else f"https://{ca_url}")
        if parsed.scheme != "https":
            raise ValueError(f"invalid CA URL {ca_url!r}: the scheme must be https")
        if not parsed.hostname:
            raise ValueError(f"invalid CA URL {ca_url!r}")
        self.ca_url = f"https://{parsed.netloc}"
        self.host = parsed.hostname
        self.port = parsed.port or 443
        root_pem: bytes | None
        if isinstance(root, str):
            from stepca._fs import read_file

            root_pem = read_file(root, "root certificate")
        else:
            root_pem = root
        self.ssl_context = client_context(
            root_pem, insecure=insecure, cert_file=cert_file, key_file=key_file, key_password=key_password
        )
        self.timeout = timeout
        self._conn: http.client.HTTPSConnection | None = None

    # ------------------------------------------------------------------ transport

    def _connection(self) -> http.client.HTTPSConnection:
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.ssl_context, timeout=self.timeout
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> CAClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
                return resp.status, payload
            except ssl.SSLCertVerificationError as exc:
                self.close()
                raise ConnectionError(
                    f"cannot verify the CA at {self.ca_url}: {exc.verify_message or exc.reason}"
                ) from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise ConnectionError(f"the CA at {self.ca_url} closed the connection") from None
            except ssl.SSLError as exc:
                self.close()
                raise ConnectionError(f"TLS error talking to {self.ca_url}: {exc.reason or exc}") from None
            except OSError as exc:
                self.close()
                raise ConnectionError(f"cannot connect to {self.ca_url}: {exc.strerror or exc}") from None
        raise ConnectionError(f"cannot reach {self.ca_url}")  # pragma: no cover

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """The decoded JSON answer; an error answer raises ``CAError`` with the CA's message."""
        return self._call(method, path, body, headers)[1]

    def _call(self, method: str, path: str, body: Any, headers: dict[str, str] | None) -> tuple[int, Any]:
        status, payload = self.request(method, path, body, headers)
        try:
            doc = json.loads(payload) if payload else {}
        except ValueError:
            doc = None
        if status >= 400:
            try:
                message = ErrorResponse.from_json(doc).message
            except BadRequest:
                message = ""
            raise CAError(status, message or payload[:200].decode(errors="replace").strip())
        if doc is None:
            raise CAError(status, f"the CA answered {method} {path} with invalid JSON")
        return status, doc

    def _exchange(
        self,
        method: str,
        path: str,
        answer: type[_R],
        body: Message | None = None,
        headers: dict[str, str] | None = None,
    ) -> _R:
        """Send a wire message, read the answer as ``answer`` (a malformed one is a ``CAError``)."""
        status, doc = self._call(method, path, body.to_json() if body is not None else None, headers)
        try:
            return answer.from_json(doc)
        except BadRequest as exc:
            raise CAError(
                status, f"the CA answered {method} {path} with an unexpected body: {exc.detail}"
            ) from None

    # ------------------------------------------------------------------ API

    def health(self) -> HealthResponse:
        return self._exchange("GET", "/health", HealthResponse)

    def version(self) -> VersionResponse:
        return self._exchange("GET", "/version", VersionResponse)

    def root(self, fingerprint: str) -> str:
        """The PEM of the root with this SHA-256 fingerprint."""
        return self._exchange("GET", f"/root/{urllib.parse.quote(fingerprint)}", RootResponse).ca

    def roots(self) -> list[str]:
        return list(self._exchange("GET", "/roots", RootsResponse).crts)

    def federation(self) -> list[str]:
        return list(self._exchange("GET", "/federation", RootsResponse).crts)

    def intermediates(self) -> list[str]:
        return list(self._exchange("GET", "/intermediates", RootsResponse).crts)

    def provisioners(self) -> list[dict[str, Any]]:
        """Every provisioner (as ca.json has it), following the cursor."""
        out: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(1000):
            query = "?limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
            page = self._exchange("GET", f"/provisioners{query}", ProvisionersResponse)
            out += page.provisioners
            cursor = page.next_cursor
            if not cursor:
                break
        return out

    def encrypted_key(self, kid: str) -> str:
        path = f"/provisioners/{urllib.parse.quote(kid)}/encrypted-key"
        return self._exchange("GET", path, ProvisionerKeyResponse).key

    def sign(
        self, csr_pem: str, ott: str, not_before: str = "", not_after: str = "", template_data: Any = None
    ) -> SignResponse:
        request = SignRequest(csr_pem, ott, not_before, not_after, template_data)
        return self._exchange("POST", "/1.0/sign", SignResponse, request)

    def renew(self, token: str | None = None) -> SignResponse:
        """Renew the client certificate of this connection (mTLS), or with an x5c renew token."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return self._exchange("POST", "/1.0/renew", RenewResponse, None, headers)

    def rekey(self, csr_pem: str) -> SignResponse:
        return self._exchange("POST", "/1.0/rekey", RekeyResponse, RekeyRequest(csr_pem))

    def revoke(
        self,
        serial: str,
        *,
        ott: str = "",
        reason_code: int = 0,
        reason: str = "",
        passive: bool = True,
        invalidity_date: str = "",
    ) -> None:
        """Revoke ``serial``; ``invalidity_date`` (RFC 3339) when the key is known compromised."""
        request = RevokeRequest(serial, ott, reason_code, reason, passive, invalidity_date)
        self._exchange("POST", "/1.0/revoke", RevokeResponse, request)

    # ------------------------------------------------------------------ SSH

    def ssh_sign(
        self,
        public_key: bytes,
        ott: str,
        *,
        cert_type: str = "",
        principals: tuple[str, ...] | list[str] = (),
        valid_after: str = "",
        valid_before: str = "",
        add_user_public_key: bytes | None = None,
    ) -> SSHSignResponse:
        """Certify ``public_key`` (an OpenSSH wire blob)."""
        request = SSHSignRequest(
            public_key=public_key,
            ott=ott,
            cert_type=cert_type,
            principals=tuple(principals),
            valid_after=valid_after,
            valid_before=valid_before,
            add_user_public_key=add_user_public_key,
        )
        return self._exchange("POST", "/1.0/ssh/sign", SSHSignResponse, request)

    def ssh_roots(self) -> SSHKeysResponse:
        return self._exchange("GET", "/1.0/ssh/roots", SSHRootsResponse)

    def ssh_federation(self) -> SSHKeysResponse:
        return self._exchange("GET", "/1.0/ssh/federation", SSHFederationResponse)

    def ssh_config(self, cert_type: str, data: dict[str, str]) -> SSHConfigResponse:
        """The rendered ``user`` or ``host`` templates, with ``data`` as the ``--set`` variables."""
        request = SSHConfigRequest(type=cert_type, data=data)
        return self._exchange("POST", "/1.0/ssh/config", SSHConfigResponse, request)

    def ssh_renew(self, ott: str) -> SSHSignResponse:
        """Renew the host certificate an SSHPOP token carries."""
        return self._exchange("POST", "/1.0/ssh/renew", SSHRenewResponse, SSHRenewRequest(ott))

    def ssh_rekey(self, ott: str, public_key: bytes) -> SSHSignResponse:
        """Like ``ssh_renew`` for a new key (``public_key``: its wire blob)."""
        return self._exchange("POST", "/1.0/ssh/rekey", SSHRekeyResponse, SSHRekeyRequest(ott, public_key))

    def ssh_revoke(self, serial: str, *, ott: str, reason_code: int = 0, reason: str = "") -> None:
        request = SSHRevokeRequest(serial, ott, reason_code, reason, passive=True)
        self._exchange("POST", "/1.0/ssh/revoke", RevokeResponse, request)

    def ssh_check_host(self, principal: str) -> bool:
        request = SSHCheckHostRequest(principal)
        return self._exchange("POST", "/1.0/ssh/check-host", SSHCheckHostResponse, request).exists

    def crl(self, *, delta: bool = False) -> bytes:
        """The CA's CRL (``delta``: its delta CRL), DER."""
        return self._binary("/1.0/crl/delta" if delta else "/1.0/crl")

    def ssh_krl(self) -> bytes:
        """The OpenSSH KRL of the CA's revoked SSH certificates."""
        return self._binary("/1.0/ssh/krl")

    def _binary(self, path: str) -> bytes:
        status, payload = self.request("GET", path, headers={"Accept": "*/*"})
        if status >= 400:
            try:
                message = ErrorResponse.from_json(json.loads(payload)).message
            except (ValueError, BadRequest):
                message = payload[:200].decode(errors="replace").strip()
            raise CAError(status, message)
        return payload

    def ssh_hosts(self) -> list[str]:
        return [h.hostname for h in self._exchange("GET", "/1.0/ssh/hosts", SSHHostsResponse).hosts]
