"""A real OpenID Provider for tests: npm ``oidc-provider`` (OpenID-certified) run by Node.js.

    from tests.oidc.harness import OpenIDProvider

    with OpenIDProvider(tmp_path) as op:          # or the module-scoped ``openid_provider`` fixture
        tokens = op.login("step-cli", "alice@example.com")
        tokens["id_token"]                        # a real ID token, signed by the provider

What it is
    ``tests/oidc/provider.mjs`` under ``node``, over HTTPS on 127.0.0.1 with a certificate from a
    test CA made here (``ca_file``; SANs 127.0.0.1, ::1 and localhost). The issuer is
    ``https://127.0.0.1:PORT`` (an IP literal; the port is picked by the provider at the first
    ``start()`` and kept by later ones). Discovery at ``discovery_url``, keys at the discovery
    document's ``jwks_uri`` (``{issuer}/jwks``). ``npm ci`` runs once when
    ``tests/oidc/node_modules`` is missing (under a file lock, so parallel workers share it).

Signing keys (``keys``: alg -> private key; generated per instance)
    RS256 an RSA-2048 key, ES256 a P-256 key, EdDSA an Ed25519 key. Each JWK's
    ``kid`` is its RFC 7638 thumbprint. A client's ``id_token_signed_response_alg`` picks the one
    that signs its ID tokens. ``rotate_keys()`` puts fresh keys first (they sign from then on)
    and keeps the old ones published unless ``keep_old=False``; a running provider restarts on the
    same port.

Clients (``DEFAULT_CLIENTS``; ``clients`` maps client_id -> ``Client``)
    All are native (any port on a registered loopback redirect: ``http://127.0.0.1``,
    ``http://localhost``, ``http://[::1]``), authorization code only, PKCE S256 required.

    ============== ======================= ===== ================================================
    client_id      client_secret           alg   purpose
    ============== ======================= ===== ================================================
    step-cli       step-cli-secret         RS256 the default CLI client (client_secret_basic)
    step-cli-es256 step-cli-es256-secret   ES256 the same, ES256-signed ID tokens
    step-cli-eddsa step-cli-eddsa-secret   EdDSA the same, EdDSA-signed ID tokens
    step-public    (none)                  RS256 a public client (auth method none): PKCE only
    other-client   other-client-secret     RS256 another audience ("a token for someone else")
    expired-client expired-client-secret   RS256 ID token TTL -300 s: already expired (beyond a
                                                 1-minute leeway) the moment it is issued
    ============== ======================= ===== ================================================

Users (``DEFAULT_USERS``; ``users`` maps login -> ``User``; password ``<login part>-password``)
    Each one isolates one property a CA's OIDC provisioner checks:

    ================== ============ ======== ============== ===========================
    login (= email)    sub          verified groups         password
    ================== ============ ======== ============== ===========================
    alice@example.com  alice        yes      [developers]   alice-password   (happy path)
    bob@other.org      bob          yes      [contractors]  bob-password     (other domain, other group)
    carol@example.com  carol        **no**   [developers]   carol-password   (only email_verified differs from alice)
    admin@corp.example admin        yes      [admins]       admin-password   (for an ``admins`` list)
    ================== ============ ======== ============== ===========================

    Every user also has ``name`` and ``preferred_username`` (the login). With the scopes
    ``openid email profile`` the ID token carries ``sub``, ``groups``, ``email``,
    ``email_verified``, ``name``, ``preferred_username``, ``nonce`` (when sent), ``at_hash``,
    ``aud`` (= client_id, a string), ``iss``, ``iat``, ``exp`` (``auth_time`` only when the
    request asks for it, e.g. ``max_age``).

Methods
    ``start()`` / ``stop()`` (restartable on the same port: "provider down, then up"),
    ``login(client_id, user, nonce=..., ...)`` the whole code + PKCE flow in Python (what
    ``tests/oidc/browser.py`` does for the CLI) returning the token endpoint's JSON,
    ``authorization_url(...)``, ``exchange_code(...)``, ``discovery()``, ``jwks()`` (public, as
    served), ``mint_id_token(claims, alg=...)`` (a token signed with the provider's own key for
    claims no real flow produces: a far-past ``exp``, a wrong ``iss``...), ``rotate_keys()``;
    ``issuer``, ``discovery_url``, ``ca_file``, ``port``, ``running``, ``log()`` (the provider's
    stdout/stderr), ``ssl_context()``, ``env()`` (os.environ + ``SSL_CERT_FILE`` = ``ca_file``).
    For variants, construct another one: ``OpenIDProvider(dir, clients_list=[Client(...)],
    users_list=[User(...)], id_token_ttl=60, client_auth_methods=("client_secret_post",))``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwcrypto import jwk, jws

from tests.oidc.browser import BrowserError, Person

HERE = Path(__file__).resolve().parent
PROVIDER_SCRIPT = HERE / "provider.mjs"
NODE_MODULES = HERE / "node_modules"
LOOPBACK_REDIRECTS = ("http://127.0.0.1", "http://localhost", "http://[::1]")

__all__ = [
    "DEFAULT_CLIENTS",
    "DEFAULT_USERS",
    "Client",
    "NodeMissing",
    "OpenIDProvider",
    "ProviderError",
    "User",
    "ensure_node_modules",
    "pkce_pair",
]


class ProviderError(Exception):
    """The provider did not start, or a flow through it failed."""


class NodeMissing(ProviderError):
    """``node`` (or ``npm``, for the first ``npm ci``) is not on PATH."""


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str = ""
    id_token_signed_response_alg: str = "RS256"
    redirect_uris: tuple[str, ...] = LOOPBACK_REDIRECTS
    #: seconds; None → the provider's ``id_token_ttl``
    id_token_ttl: int | None = None
    #: "" → client_secret_basic with a secret, "none" without
    token_endpoint_auth_method: str = ""

    @property
    def auth_method(self) -> str:
        return self.token_endpoint_auth_method or ("client_secret_basic" if self.client_secret else "none")

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "client_id": self.client_id,
            "redirect_uris": list(self.redirect_uris),
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
            "token_endpoint_auth_method": self.auth_method,
        }
        if self.client_secret:
            meta["client_secret"] = self.client_secret
        if self.id_token_ttl is not None:
            meta["id_token_ttl"] = self.id_token_ttl
        return meta


@dataclass(frozen=True)
class User:
    login: str
    password: str
    sub: str
    email: str
    email_verified: bool = True
    groups: tuple[str, ...] = ()
    name: str = ""

    def config(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "password": self.password,
            "sub": self.sub,
            "email": self.email,
            "email_verified": self.email_verified,
            "groups": list(self.groups),
            "name": self.name or self.login,
            "preferred_username": self.login,
        }


DEFAULT_CLIENTS: tuple[Client, ...] = (
    Client("step-cli", "step-cli-secret"),
    Client("step-cli-es256", "step-cli-es256-secret", id_token_signed_response_alg="ES256"),
    Client("step-cli-eddsa", "step-cli-eddsa-secret", id_token_signed_response_alg="EdDSA"),
    Client("step-public"),
    Client("other-client", "other-client-secret"),
    Client("expired-client", "expired-client-secret", id_token_ttl=-300),
)

DEFAULT_USERS: tuple[User, ...] = (
    User(
        "alice@example.com",
        "alice-password",
        "alice",
        "alice@example.com",
        True,
        ("developers",),
        "Alice Example",
    ),
    User("bob@other.org", "bob-password", "bob", "bob@other.org", True, ("contractors",), "Bob Other"),
    User(
        "carol@example.com",
        "carol-password",
        "carol",
        "carol@example.com",
        False,
        ("developers",),
        "Carol Unverified",
    ),
    User(
        "admin@corp.example", "admin-password", "admin", "admin@corp.example", True, ("admins",), "Corp Admin"
    ),
)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def ensure_node_modules() -> None:
    """``npm ci`` in tests/oidc once, when node_modules is missing. Raises NodeMissing without node/npm."""
    if shutil.which("node") is None:
        raise NodeMissing(
            "node is not installed (the OIDC tests need Node.js 20: apt-get install nodejs npm)"
        )
    if (NODE_MODULES / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise NodeMissing("npm is not installed (needed once for `npm ci --prefix tests/oidc`)")
    with open(HERE / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers: one runs npm ci, the others wait
        if (NODE_MODULES / "oidc-provider" / "package.json").exists():
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise ProviderError(f"npm ci in {HERE} failed:\n{result.stdout}\n{result.stderr}")


# ------------------------------------------------------------------------------ keys and TLS


def _private_jwk(key: Any, alg: str) -> dict[str, Any]:
    k = jwk.JWK.from_pyca(key)
    data: dict[str, Any] = json.loads(k.export_private())
    data.update(kid=k.thumbprint(), alg=alg, use="sig")
    return data


def _new_keys() -> dict[str, Any]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # one key per alg: oidc-provider warns about a kid shared by two JWKs (RS256 and PS256 on one key)
    return {
        "RS256": rsa_key,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }


def _write_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A test root CA and a server certificate for 127.0.0.1, ::1 and localhost: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stepca tests OpenID Provider CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (
        directory / "op-ca.pem",
        directory / "op-cert.pem",
        directory / "op-key.pem",
    )
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


# ------------------------------------------------------------------------------ the provider


@dataclass
class OpenIDProvider:
    """One oidc-provider process (see the module docstring). ``directory`` holds its files."""

    directory: Path
    clients_list: Iterable[Client] = DEFAULT_CLIENTS
    users_list: Iterable[User] = DEFAULT_USERS
    #: the default ID token lifetime in seconds (a client's ``id_token_ttl`` overrides it)
    id_token_ttl: int = 3600
    #: token endpoint auth methods the provider offers (None: oidc-provider's defaults)
    client_auth_methods: tuple[str, ...] | None = None
    start_timeout: float = 30.0

    clients: dict[str, Client] = field(init=False)
    users: dict[str, User] = field(init=False)
    keys: dict[str, Any] = field(init=False)
    ca_file: Path = field(init=False)
    port: int = field(init=False, default=0)
    _retired_keys: list[dict[str, Any]] = field(init=False, default_factory=list)
    _proc: subprocess.Popen[bytes] | None = field(init=False, default=None)
    _log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clients = {c.client_id: c for c in self.clients_list}
        self.users = {u.login: u for u in self.users_list}
        self.keys = _new_keys()
        self.ca_file, self._cert_file, self._key_file = _write_tls(self.directory)
        self._config_path = self.directory / "op-config.json"
        self._log_path = self.directory / "op.log"

    # -------------------------------------------------------------- addresses

    @property
    def issuer(self) -> str:
        if not self.port:
            raise ProviderError("the provider has not been started yet")
        return f"https://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default os.environ) with SSL_CERT_FILE = this provider's CA."""
        env = dict(os.environ if base is None else base)
        env["SSL_CERT_FILE"] = str(self.ca_file)
        return env

    # -------------------------------------------------------------- lifecycle

    def _private_jwks(self) -> dict[str, Any]:
        current = [_private_jwk(key, alg) for alg, key in self.keys.items()]
        return {"keys": current + self._retired_keys}

    def _write_config(self) -> None:
        config: dict[str, Any] = {
            "jwks": self._private_jwks(),
            "id_token_ttl": self.id_token_ttl,
            "clients": [c.metadata() for c in self.clients.values()],
            "users": [u.config() for u in self.users.values()],
            "cookie_key": secrets.token_hex(16),
        }
        if self.client_auth_methods is not None:
            config["client_auth_methods"] = list(self.client_auth_methods)
        self._config_path.write_text(json.dumps(config, indent=1))
        self._config_path.chmod(0o600)

    def start(self) -> OpenIDProvider:
        """Start the provider (on the same port as before, if it ran before); wait until it serves."""
        if self.running:
            return self
        ensure_node_modules()
        self._write_config()
        offset = self._log_path.stat().st_size if self._log_path.exists() else 0
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    "node",
                    str(PROVIDER_SCRIPT),
                    "--config",
                    str(self._config_path),
                    "--cert",
                    str(self._cert_file),
                    "--key",
                    str(self._key_file),
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=HERE,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            with self._log_path.open("rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            for line in text.splitlines():
                if line.startswith("ready https://"):
                    self.port = int(line.rsplit(":", 1)[1])
                    return self
            if self._proc.poll() is not None:
                raise ProviderError(f"provider.mjs exited with {self._proc.returncode}:\n{text}")
            time.sleep(0.05)
        self.stop()
        raise ProviderError(
            f"provider.mjs did not print its ready line in {self.start_timeout}s:\n{self.log()}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def __enter__(self) -> OpenIDProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rotate_keys(self, *, keep_old: bool = True) -> None:
        """New signing keys (they sign from now on); the old ones stay in the JWKS if ``keep_old``.
        A running provider is restarted on the same port."""
        old = [_private_jwk(key, alg) for alg, key in self.keys.items()]
        self._retired_keys = (old + self._retired_keys) if keep_old else []
        self.keys = _new_keys()
        if self.running:
            self.stop()
            self.start()

    # -------------------------------------------------------------- HTTP

    def _request(
        self, url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, headers=headers or {})
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self.ssl_context())
        )
        try:
            with opener.open(req, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            exc.close()
            raise ProviderError(f"{url}: HTTP {exc.code}: {detail}") from None

    def discovery(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request(self.discovery_url)
        return result

    def jwks(self) -> dict[str, Any]:
        """The public JWKS exactly as the provider serves it at ``jwks_uri``."""
        result: dict[str, Any] = self._request(self.discovery()["jwks_uri"])
        return result

    # -------------------------------------------------------------- flows

    def authorization_url(
        self,
        client_id: str,
        *,
        redirect_uri: str,
        state: str,
        code_challenge: str,
        nonce: str | None = None,
        scopes: Iterable[str] = ("openid", "email", "profile"),
        **params: str,
    ) -> str:
        query = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            **params,
        }
        if nonce is not None:
            query["nonce"] = nonce
        return f"{self.issuer}/auth?{urllib.parse.urlencode(query)}"

    def exchange_code(
        self, client_id: str, code: str, *, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        client = self.clients[client_id]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        headers: dict[str, str] = {}
        if client.auth_method == "client_secret_basic":
            pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif client.auth_method == "client_secret_post":
            form.update(client_id=client_id, client_secret=client.client_secret)
        else:
            form["client_id"] = client_id
        result: dict[str, Any] = self._request(self.discovery()["token_endpoint"], form, headers)
        return result

    def login(
        self,
        client_id: str,
        user: str,
        nonce: str | None = None,
        *,
        password: str | None = None,
        scopes: Iterable[str] = ("openid", "email", "profile"),
        redirect_uri: str = "http://127.0.0.1:8400/",
        **params: str,
    ) -> dict[str, Any]:
        """The whole authorization code + PKCE flow for ``user`` (a login) of ``client_id``, as a
        person with a browser would do it; returns the token endpoint's JSON (``id_token``,
        ``access_token``, ``token_type``, ``expires_in``, ``scope``). ``nonce`` None → a random one
        (read it back from the ID token); pass ``nonce=""`` to send none. ``params`` go into the
        authorization request (``prompt``, ``login_hint``, ``max_age``...). Nothing listens on
        ``redirect_uri``: the code is read from the redirect, not delivered."""
        account = self.users.get(user)
        if password is None:
            if account is None:
                raise ProviderError(f"no user {user!r} (pass password= for a login the provider refuses)")
            password = account.password
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        url = self.authorization_url(
            client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=challenge,
            nonce=secrets.token_urlsafe(16) if nonce is None else (nonce or None),
            scopes=scopes,
            **params,
        )
        try:
            back = Person(user, password, ca_file=str(self.ca_file)).authorize(url)
        except BrowserError as exc:
            raise ProviderError(str(exc)) from None
        answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
        if "error" in answer:
            raise ProviderError(
                f"authorization refused: {answer['error']}: {answer.get('error_description', '')}"
            )
        if answer.get("state") != state:
            raise ProviderError(f"state mismatch in {back}")
        return self.exchange_code(
            client_id, answer["code"], redirect_uri=redirect_uri, code_verifier=verifier
        )

    def mint_id_token(
        self,
        claims: dict[str, Any],
        *,
        alg: str = "RS256",
        kid: str | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        """A JWT signed with the provider's own ``alg`` key (its JWKS ``kid`` in the header), with
        exactly ``claims`` — for what no real flow yields (an ``exp`` far in the past, a wrong
        ``iss``, a missing claim). ``iss`` defaults to this issuer; nothing else is added."""
        key = jwk.JWK.from_pyca(self.keys[alg])
        protected = {"alg": alg, "typ": "JWT", "kid": kid or key.thumbprint(), **(header or {})}
        token = jws.JWS(json.dumps({"iss": self.issuer, **claims}).encode())
        token.add_signature(key, alg=None, protected=json.dumps(protected))
        return str(token.serialize(compact=True))
