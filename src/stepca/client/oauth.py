"""The client side of an OpenID Connect login: what `step oauth` and `step ca certificate` /
`step ssh login` with an OIDC provisioner run before they talk to the CA.

    from stepca.client.oauth import OIDCLoginRequest, oidc_login

    tokens = oidc_login(OIDCLoginRequest("https://accounts.example.com", "my-client-id", "secret"))
    tokens.id_token        # the JWT the CA's OIDC provisioner verifies

The flow is the authorization code flow of a native app (RFC 8252) with PKCE S256 (RFC 7636):

1. ``discover``: the provider's discovery document, over HTTPS only (``http://`` is refused:
   the client secret and the tokens would travel in clear), verified with the system trust
   (Python's default context, which honours ``$SSL_CERT_FILE``/``$SSL_CERT_DIR``). The document's
   ``issuer`` must be the URL given (trailing ``/`` aside), as OIDC Discovery §4.3 requires.
2. A loopback listener (RFC 8252 §7.3) on 127.0.0.1 and a random port, or ``listen``
   (``HOST:PORT``; HOST empty → 127.0.0.1, ``localhost`` → listens on 127.0.0.1 and sends
   ``http://localhost:PORT``; only loopback hosts are accepted). The redirect URI is
   ``http://HOST:PORT`` — smallstep's form; providers match loopback redirects on any port.
3. The authorization URL (``state``, ``nonce``, ``code_challenge``, ``login_hint``,
   ``prompt``) is opened with ``$BROWSER`` (Python's ``webbrowser`` convention: a command, or
   several separated by ``os.pathsep``, with ``%s`` replaced by the URL or the URL appended),
   else ``xdg-open`` / ``open``; if nothing can be started the URL is only printed. With
   ``console=True`` nothing is opened: the URL is printed and a pasted code, or the full
   redirect URL (what the address bar shows when the browser, on another machine, cannot reach
   this loopback listener), is read from stdin — the listener keeps waiting too, and the first
   answer wins. stdin is read byte by byte up to the newline, so nothing after that line is
   taken from a later prompt.
4. The listener answers the browser only after step 5, with a small page saying whether to
   look at the terminal or what went wrong. Requests for other paths get 404; a request
   without ``code``/``error`` is answered 400 and ignored (browser extensions, pre-fetches).
5. ``state`` is checked (the listener refuses a redirect whose state is not ours: CSRF), the
   code is exchanged at the token endpoint with the PKCE verifier (``client_secret_basic`` when
   the discovery document allows it — the default when it says nothing — else
   ``client_secret_post``; a client without a secret sends its ``client_id``: auth method
   ``none``). The returned ID token is decoded WITHOUT verifying its signature (the CA
   verifies it against the provider's keys; this client has nothing to gain from a check it
   cannot enforce) and its ``iss``, ``aud`` (and ``azp``) and ``nonce`` are checked.

Errors are ``OAuthError``: one line, no traceback — the timeout, a denied consent (with the
provider's ``error_description``), a state or nonce mismatch, a token endpoint refusal, a
provider that is not HTTPS, an unreachable or non-JSON discovery.

Only the standard library is imported, and only inside the functions that use it: the `step`
commands that import this module for their options pay nothing until a login runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepca.errors import StepError

if TYPE_CHECKING:
    import queue
    import subprocess
    import threading
    from http.server import ThreadingHTTPServer

__all__ = ["OAuthError", "OIDCLoginRequest", "TokenResponse", "discover", "oidc_login"]

WELL_KNOWN = "/.well-known/openid-configuration"
DEFAULT_SCOPES: tuple[str, ...] = ("openid", "email", "profile")
#: seconds for each HTTP exchange with the provider (discovery, token endpoint)
HTTP_TIMEOUT = 30.0
#: how long the listener keeps the browser waiting for the outcome of the token exchange
_ANSWER_TIMEOUT = 90.0
_LOOPBACK_NAMES = ("localhost",)


class OAuthError(StepError):
    """An OIDC login that did not succeed. ``message`` is one line for the user."""

    status = 401
    prefix = "OIDC login failed"

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True, slots=True)
class OIDCLoginRequest:
    provider: str  # issuer URL or discovery URL (…/.well-known/openid-configuration)
    client_id: str
    client_secret: str = ""
    listen: str = ""  # "127.0.0.1:0" style; "" → 127.0.0.1 on a random port
    console: bool = False  # print the URL instead of opening a browser; accept a pasted code/URL
    timeout: float = 120.0
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    login_hint: str = ""  # e.g. the email the user typed
    prompt: str = ""  # optional OIDC prompt param


@dataclass(frozen=True, slots=True)
class TokenResponse:
    id_token: str
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TokenResponse:
        def text(name: str) -> str:
            value = doc.get(name, "")
            if value is None:
                return ""
            if not isinstance(value, str):
                raise OAuthError(f"the token endpoint answered a non-string {name}")
            return value

        expires = doc.get("expires_in", 0)
        try:
            expires_in = int(expires or 0)
        except (TypeError, ValueError):
            raise OAuthError(f"the token endpoint answered an invalid expires_in {expires!r}") from None
        return cls(
            id_token=text("id_token"),
            access_token=text("access_token"),
            refresh_token=text("refresh_token"),
            token_type=text("token_type"),
            expires_in=expires_in,
            raw=dict(doc),
        )


# ------------------------------------------------------------------------------ HTTP


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _http_json(
    url: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    what: str,
    timeout: float = HTTP_TIMEOUT,
) -> tuple[int, Any]:
    """(status, parsed JSON or None) of one HTTPS request. Network and TLS failures are
    ``OAuthError``s naming ``what`` and the URL; an HTTP error status is returned, not raised."""
    import http.client
    import json
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request

    _require_https(url, what)
    parts = urllib.parse.urlsplit(url)
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
    ]
    if _is_loopback(parts.hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))  # like Go: loopback never via a proxy
    if form is not None:

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None  # a POST carrying a secret or a code is never sent on elsewhere

        handlers.append(NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(  # noqa: S310 - https only, checked above
        url, data=data, headers={"Accept": "application/json", "User-Agent": "stepca-step", **(headers or {})}
    )
    try:
        with opener.open(request, timeout=timeout) as resp:
            status, body, final = resp.status, resp.read(1 << 20), resp.geturl()
    except urllib.error.HTTPError as exc:
        status, body, final = exc.code, exc.read(1 << 20), url
        exc.close()
    except http.client.HTTPException as exc:  # a broken HTTP answer (not an OSError)
        raise OAuthError(f"the {what} at {url} sent a broken HTTP answer: {exc.__class__.__name__}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise OAuthError(
                f"cannot reach the {what} at {url}: its TLS certificate is not trusted "
                f"({reason.verify_message}; set SSL_CERT_FILE to a CA file that holds its root)"
            ) from None
        detail = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        raise OAuthError(f"cannot reach the {what} at {url}: {detail}") from None
    except (TimeoutError, OSError) as exc:
        raise OAuthError(f"cannot reach the {what} at {url}: {exc.strerror or exc}") from None
    if urllib.parse.urlsplit(final).scheme != "https":
        raise OAuthError(f"the {what} at {url} redirected to {final}, which is not HTTPS")
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def _require_https(url: str, what: str) -> None:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise OAuthError(f"the {what} must be an https:// URL, not {url!r}")


# ------------------------------------------------------------------------------ discovery


def _discovery_url(provider: str) -> str:
    provider = provider.strip()
    _require_https(provider, "OpenID Provider")
    if WELL_KNOWN in provider:
        return provider
    return provider.rstrip("/") + WELL_KNOWN


def discover(provider: str, *, timeout: float = 10) -> dict[str, Any]:
    """The provider's discovery document (``provider``: its issuer URL or discovery URL), checked
    for what a login needs: ``issuer`` (equal to the URL given), HTTPS authorization and token
    endpoints, and S256 among the PKCE methods when the document lists them."""
    url = _discovery_url(provider)
    status, doc = _http_json(url, what="OpenID Provider", timeout=timeout)
    if status != 200:
        raise OAuthError(f"OpenID Provider discovery at {url} failed: HTTP {status}")
    if not isinstance(doc, dict):
        raise OAuthError(f"OpenID Provider discovery at {url} did not answer a JSON object")
    for name in ("issuer", "authorization_endpoint", "token_endpoint"):
        value = doc.get(name)
        if not isinstance(value, str) or not value:
            raise OAuthError(f"the discovery document at {url} has no {name}")
        _require_https(value, f"{name} of the discovery document at {url}")
    expected = url[: url.index(WELL_KNOWN)] if url.endswith(WELL_KNOWN) else None
    if expected is not None and doc["issuer"].rstrip("/") != expected.rstrip("/"):
        raise OAuthError(f"the discovery document at {url} names another issuer: {doc['issuer']}")
    methods = doc.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise OAuthError(f"the OpenID Provider {doc['issuer']} does not support PKCE with S256")
    return doc


# ------------------------------------------------------------------------------ the loopback listener


@dataclass
class _Answer:
    """A redirect (or a pasted code/URL) waiting for its outcome; the browser's request waits too."""

    params: dict[str, str]
    from_listener: bool
    done: threading.Event
    ok: bool = False
    message: str = ""

    def finish(self, ok: bool, message: str) -> None:
        self.ok, self.message = ok, message
        self.done.set()


def _parse_listen(listen: str) -> tuple[str, str, int]:
    """(address to bind, host for the redirect URI, port) from ``HOST:PORT``."""
    if not listen:
        return "127.0.0.1", "127.0.0.1", 0
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise OAuthError(f"invalid listen address {listen!r}: use HOST:PORT, e.g. 127.0.0.1:10000 or :0")
    host = host or "127.0.0.1"
    if not _is_loopback(host):
        raise OAuthError(
            f"the listen address {listen!r} is not a loopback address (127.0.0.1, [::1], localhost)"
        )
    bind = "127.0.0.1" if host.lower() == "localhost" else host.strip("[]")
    return bind, host, int(port_text)


_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
    "<body style='font-family:sans-serif;text-align:center;margin-top:4em'>"
    "<h1>{title}</h1><p>{text}</p></body></html>"
)


def _start_listener(
    bind: str, port: int, path: str, answers: queue.Queue[_Answer], over: threading.Event
) -> ThreadingHTTPServer:
    """The redirect listener, serving in a thread; each answer waits for its outcome (or ``over``)."""
    import html
    import socket
    import threading
    import time
    import urllib.parse
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a browser pre-connect that never sends a request ties up one thread, briefly

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            if (parts.path or "/") != path:
                self._page(404, "Not found", "This is the step login listener.")
                return
            params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
            if not params.get("code") and not params.get("error"):
                self._page(400, "Unexpected request", "This address expects the OpenID Provider's redirect.")
                return
            if over.is_set():
                self._page(400, "Login over", "This login is already over: run the command again.")
                return
            answer = _Answer(params, True, threading.Event())
            answers.put(answer)
            deadline = time.monotonic() + _ANSWER_TIMEOUT
            while not answer.done.wait(0.1):
                if over.is_set() or time.monotonic() > deadline:
                    answer.message = answer.message or "this login is already over: run the command again"
                    break
            if answer.ok:
                self._page(
                    200,
                    "Success",
                    "You are logged in: look for the token on the command line. You can close this window.",
                )
            else:
                self._page(400, "Login failed", answer.message or "the login was not completed")

        def _page(self, status: int, title: str, text: str) -> None:
            body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # the terminal shows the outcome; no access log

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        daemon_threads = False  # server_close() joins the handlers: every browser gets its page
        allow_reuse_address = True

    try:
        server = Server((bind, port), Handler)
    except OSError as exc:
        raise OAuthError(
            f"cannot listen on {bind}:{port} for the login redirect: {exc.strerror or exc}"
        ) from None
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


class _StdinLines:
    """Lines pasted on stdin, read without a thread and without reading past a newline."""

    def __init__(self) -> None:
        try:
            self.fd: int | None = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.buffer = b""

    def poll(self, timeout: float) -> str | None:
        import select
        import time

        if self.fd is None:
            time.sleep(timeout)
            return None
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
        except (OSError, ValueError):  # stdin that select cannot watch (Windows): the listener only
            self.fd = None
            return None
        while ready:
            byte = os.read(self.fd, 1)
            if not byte:  # EOF: stop watching stdin, keep waiting for the listener
                self.fd = None
                line, self.buffer = self.buffer, b""
                return line.decode(errors="replace").strip() or None
            if byte == b"\n":
                line, self.buffer = self.buffer, b""
                return line.decode(errors="replace").strip() or None
            self.buffer += byte
            ready, _, _ = select.select([self.fd], [], [], 0)
        return None


def _pasted(text: str) -> dict[str, str]:
    """A pasted redirect URL, query string or bare code → the redirect's parameters."""
    import urllib.parse

    text = text.strip()
    if "://" in text or text.startswith("?"):
        query = urllib.parse.urlsplit(text).query
        return dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if "code=" in text or "error=" in text:
        return dict(urllib.parse.parse_qsl(text.lstrip("?"), keep_blank_values=True))
    return {"code": text}


# ------------------------------------------------------------------------------ the browser


def _browser_commands(url: str) -> list[list[str]]:
    import shlex
    import shutil

    commands: list[list[str]] = []
    for entry in os.environ.get("BROWSER", "").split(os.pathsep):
        if not entry.strip():
            continue
        try:
            argv = shlex.split(entry)
        except ValueError:
            continue
        if any("%s" in arg for arg in argv):
            commands.append([arg.replace("%s", url) for arg in argv])
        else:
            commands.append([*argv, url])
    for opener in ("xdg-open", "open"):
        if (path := shutil.which(opener)) is not None:
            commands.append([path, url])
    return commands


def _open_browser(url: str) -> subprocess.Popen[bytes] | None:
    """Start the first browser command that starts (not waited for: it must reach the listener)."""
    import subprocess

    for argv in _browser_commands(url):
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stdout carries the token only
                start_new_session=True,
            )
        except OSError:
            continue
    return None


def _reap(proc: subprocess.Popen[bytes] | None) -> None:
    import threading

    if proc is not None and proc.poll() is None:
        threading.Thread(target=proc.wait, daemon=True).start()


# ------------------------------------------------------------------------------ the login


def _claims(jwt: str) -> dict[str, Any]:
    import base64
    import json

    parts = jwt.split(".")
    if len(parts) != 3:
        raise OAuthError("the token endpoint answered an id_token that is not a JWT")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise OAuthError("the token endpoint answered an id_token whose claims are not JSON") from None
    if not isinstance(payload, dict):
        raise OAuthError("the token endpoint answered an id_token whose claims are not a JSON object")
    return payload


def _check_id_token(id_token: str, *, issuer: str, client_id: str, nonce: str) -> None:
    claims = _claims(id_token)
    if claims.get("iss") != issuer:
        raise OAuthError(f"the ID token was issued by {claims.get('iss')!r}, not by {issuer}")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise OAuthError(f"the ID token is for audience {aud!r}, not for the client {client_id}")
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        raise OAuthError(f"the ID token was authorized for {azp!r}, not for the client {client_id}")
    if claims.get("nonce") != nonce:
        raise OAuthError(
            "the ID token's nonce does not match the one this login sent (a replayed or substituted token)"
        )


@dataclass
class _Login:
    req: OIDCLoginRequest
    doc: dict[str, Any]
    redirect_uri: str
    state: str
    nonce: str
    verifier: str

    def authorization_url(self) -> str:
        import base64
        import hashlib
        import urllib.parse

        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=")
        query = {
            "client_id": self.req.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.req.scopes),
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
        if self.req.login_hint:
            query["login_hint"] = self.req.login_hint
        if self.req.prompt:
            query["prompt"] = self.req.prompt
        endpoint = str(self.doc["authorization_endpoint"])
        return endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(query)

    def complete(self, params: dict[str, str], *, from_listener: bool) -> TokenResponse:
        """The redirect's parameters → checked, exchanged, the tokens checked."""
        error = params.get("error")
        if error:
            description = params.get("error_description", "").strip()
            detail = f"{error}: {description}" if description else error
            if error == "access_denied":
                raise OAuthError(f"consent was denied at the OpenID Provider ({detail})")
            raise OAuthError(f"the OpenID Provider refused the login ({detail})")
        if (from_listener or "state" in params) and params.get("state") != self.state:
            raise OAuthError(
                "the state in the redirect does not match the one this login sent "
                "(a redirect from another login, or forged): try again"
            )
        iss = params.get("iss")
        if iss is not None and iss != self.doc["issuer"]:
            raise OAuthError(
                f"the authorization response comes from issuer {iss!r}, not {self.doc['issuer']}"
            )
        code = params.get("code", "")
        if not code:
            raise OAuthError("the redirect carries no authorization code")
        return self.exchange(code)

    def exchange(self, code: str) -> TokenResponse:
        import base64
        import urllib.parse

        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }
        headers: dict[str, str] = {}
        req = self.req
        if not req.client_secret:
            form["client_id"] = req.client_id
        else:
            methods = self.doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            if "client_secret_basic" in methods:
                pair = (
                    f"{urllib.parse.quote_plus(req.client_id)}:{urllib.parse.quote_plus(req.client_secret)}"
                )
                headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            elif "client_secret_post" in methods:
                form.update(client_id=req.client_id, client_secret=req.client_secret)
            else:
                raise OAuthError(
                    "the token endpoint accepts neither client_secret_basic nor client_secret_post "
                    f"(it offers {', '.join(map(str, methods))})"
                )
        endpoint = self.doc["token_endpoint"]
        status, doc = _http_json(endpoint, form=form, headers=headers, what="token endpoint")
        if not isinstance(doc, dict):
            raise OAuthError(f"the token endpoint {endpoint} answered HTTP {status} without a JSON object")
        if status != 200 or "error" in doc:
            error = str(doc.get("error") or f"HTTP {status}")
            description = str(doc.get("error_description") or "").strip()
            raise OAuthError(
                "the token endpoint refused the authorization code ("
                + (f"{error}: {description}" if description else error)
                + ")"
            )
        tokens = TokenResponse.from_json(doc)
        if "openid" in self.req.scopes:
            if not tokens.id_token:
                raise OAuthError(
                    "the token endpoint answered no id_token (is 'openid' among the client's scopes?)"
                )
            _check_id_token(
                tokens.id_token, issuer=self.doc["issuer"], client_id=req.client_id, nonce=self.nonce
            )
        return tokens


def _say(progress: Callable[[str], None] | None, text: str) -> None:
    if progress is not None:
        progress(text)
    else:
        print(text, file=sys.stderr, flush=True)


def oidc_login(req: OIDCLoginRequest, *, progress: Callable[[str], None] | None = None) -> TokenResponse:
    """Log in at the OpenID Provider ``req.provider`` (see the module docstring) and return the
    tokens. ``progress`` receives what the user must read (the URL to visit, which answer is
    awaited); without it those lines go to stderr, since a login cannot proceed unseen."""
    import queue
    import secrets
    import threading
    import time

    if not req.client_id:
        raise OAuthError("a client id is required for an OIDC login")
    if req.timeout <= 0:
        raise OAuthError(f"the login timeout must be positive, not {req.timeout:g}s")
    bind, host, port = _parse_listen(req.listen)
    doc = discover(req.provider)

    answers: queue.Queue[_Answer] = queue.Queue()
    over = threading.Event()
    server = _start_listener(bind, port, "/", answers, over)
    browser: subprocess.Popen[bytes] | None = None
    try:
        bound_port = server.server_address[1]
        redirect_host = f"[{host.strip('[]')}]" if ":" in host else host
        login = _Login(
            req=req,
            doc=doc,
            redirect_uri=f"http://{redirect_host}:{bound_port}",
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_hex(32),
            verifier=secrets.token_urlsafe(48),
        )
        url = login.authorization_url()
        stdin = _StdinLines() if req.console else None
        if req.console:
            _say(
                progress,
                f"Open a local web browser and visit:\n\n{url}\n\n"
                f"If that browser cannot reach {login.redirect_uri} (another machine), paste the address "
                "it was redirected to, or the code, here:",
            )
        else:
            browser = _open_browser(url)
            if browser is not None:
                _say(progress, f"Your default web browser has been opened to visit:\n\n{url}\n")
            else:
                _say(
                    progress,
                    f"Cannot open a web browser on your platform.\n\nOpen a local web browser and visit:\n\n{url}\n",
                )

        deadline = time.monotonic() + req.timeout
        browser_failed = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OAuthError(
                    f"the login timed out after {req.timeout:g}s waiting for the browser to come back to "
                    f"{login.redirect_uri}; please try again"
                )
            answer: _Answer | None = None
            watching_stdin = stdin is not None and stdin.fd is not None
            if stdin is not None and watching_stdin:
                line = stdin.poll(min(remaining, 0.2))
                if line:
                    answer = _Answer(_pasted(line), False, threading.Event())
            if answer is None:
                try:
                    answer = (
                        answers.get_nowait() if watching_stdin else answers.get(timeout=min(remaining, 0.2))
                    )
                except queue.Empty:
                    answer = None
            if browser is not None and not browser_failed and (code := browser.poll()) not in (None, 0):
                browser_failed = True
                _say(progress, f"The browser command exited with status {code}: open the URL above yourself.")
            if answer is None:
                continue
            try:
                tokens = login.complete(answer.params, from_listener=answer.from_listener)
            except OAuthError as exc:
                answer.finish(False, str(exc))
                raise
            answer.finish(True, "")
            return tokens
    finally:
        over.set()  # a redirect arriving from now on is told the login is over, and nothing waits
        while True:  # browsers still waiting for a page: tell them this login is over
            try:
                answers.get_nowait().finish(False, "this login is already over")
            except queue.Empty:
                break
        server.shutdown()
        server.server_close()
        _reap(browser)
