"""`step oauth` against the real OpenID Provider, with browser.py as the person at the browser."""

from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.oidc.browser import Person
from tests.oidc.harness import NodeMissing, OpenIDProvider
from tests.oidc.tokens import claims, header, verified_claims

HERE = Path(__file__).resolve().parent
STEP = str(Path(sys.executable).parent / "step")
BROWSER = f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE / 'browser.py'))}"


def oauth_args(op: OpenIDProvider, client_id: str = "step-cli", provider: str | None = None) -> list[str]:
    secret = op.clients[client_id].client_secret
    return ["--provider", provider or op.issuer, "--client-id", client_id, "--client-secret", secret]


def browser_env(
    op: OpenIDProvider,
    tmp_path: Path,
    mode: str = "normal",
    user: str = "alice@example.com",
) -> dict[str, str]:
    env = op.env()
    env.update(
        BROWSER=BROWSER,
        OIDC_TEST_BROWSER_MODE=mode,
        OIDC_TEST_USER=user,
        OIDC_TEST_PASSWORD=op.users[user].password,
        OIDC_TEST_BROWSER_LOG=str(tmp_path / "browser.log"),
    )
    env.pop("STEPDEBUG", None)
    return env


def step_oauth(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STEP, "oauth", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def auth_url(stderr: str) -> str:
    urls = [line for line in stderr.splitlines() if line.startswith("https://")]
    assert len(urls) == 1, stderr
    return urls[0]


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def assert_refused(result: subprocess.CompletedProcess[str], pattern: str) -> str:
    """Non-zero exit, nothing on stdout, no traceback, and the last stderr line is the error."""
    assert result.returncode != 0, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert re.search(pattern, last), result.stderr
    return last


# ------------------------------------------------------------------------------ success


@pytest.mark.parametrize("form", ["issuer", "discovery-url"])
def test_oidc_bare_prints_the_id_token(openid_provider: OpenIDProvider, tmp_path: Path, form: str) -> None:
    op = openid_provider
    provider = op.issuer if form == "issuer" else op.discovery_url
    result = step_oauth(["--oidc", "--bare", *oauth_args(op, provider=provider)], browser_env(op, tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    token = lines[0]
    got = verified_claims(token, op.jwks())
    assert got["aud"] == "step-cli"
    assert got["iss"] == op.issuer
    assert (got["email"], got["email_verified"]) == ("alice@example.com", True)
    sent = query(auth_url(result.stderr))
    assert got["nonce"] == sent["nonce"] and len(sent["nonce"]) >= 32
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
    assert "Your default web browser has been opened to visit:" in result.stderr
    # the browser really went through the loopback redirect with the code
    log = (tmp_path / "browser.log").read_text()
    assert f"GET {sent['redirect_uri']}/?code=" in log or f"GET {sent['redirect_uri']}?code=" in log
    assert "listener answered 200" in log


@pytest.mark.parametrize(("client_id", "alg"), [("step-cli", "RS256"), ("step-cli-es256", "ES256")])
def test_both_signing_algorithms(
    openid_provider: OpenIDProvider, tmp_path: Path, client_id: str, alg: str
) -> None:
    op = openid_provider
    result = step_oauth(["--oidc", "--bare", *oauth_args(op, client_id)], browser_env(op, tmp_path))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert header(token)["alg"] == alg
    assert verified_claims(token, op.jwks())["aud"] == client_id


def test_public_client_without_secret(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    op = openid_provider
    result = step_oauth(["--oidc", "--bare", *oauth_args(op, "step-public")], browser_env(op, tmp_path))
    assert result.returncode == 0, result.stderr
    assert claims(result.stdout.strip())["aud"] == "step-public"


def test_listen_uses_that_port(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    op = openid_provider
    port = free_port()
    result = step_oauth(
        ["--oidc", "--bare", "--listen", f"127.0.0.1:{port}", *oauth_args(op)], browser_env(op, tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert query(auth_url(result.stderr))["redirect_uri"] == f"http://127.0.0.1:{port}"
    assert f"GET http://127.0.0.1:{port}/?code=" in (tmp_path / "browser.log").read_text()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize(
    ("listen", "redirect"),
    [
        ("localhost:0", r"http://localhost:\d+"),
        ("[::1]:0", r"http://\[::1\]:\d+"),
        (":0", r"http://127\.0\.0\.1:\d+"),
    ],
)
def test_listen_hosts(openid_provider: OpenIDProvider, tmp_path: Path, listen: str, redirect: str) -> None:
    if listen.startswith("[") and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    op = openid_provider
    result = step_oauth(["--bare", "--listen", listen, *oauth_args(op)], browser_env(op, tmp_path))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(redirect, query(auth_url(result.stderr))["redirect_uri"])
    assert "listener answered 200" in (tmp_path / "browser.log").read_text()


def test_email_and_prompt_reach_the_provider(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    op = openid_provider
    env = browser_env(op, tmp_path, user="bob@other.org")
    result = step_oauth(
        [
            "--oidc",
            "--bare",
            "--email",
            "bob@other.org",
            "--prompt",
            "login",
            "--scope",
            "openid email",
            *oauth_args(op),
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    sent = query(auth_url(result.stderr))
    assert (sent["login_hint"], sent["prompt"], sent["scope"]) == ("bob@other.org", "login", "openid email")
    got = claims(result.stdout.strip())
    assert got["email"] == "bob@other.org"
    assert "name" not in got  # no profile scope asked, none granted


def test_outputs_like_smallstep(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    op = openid_provider
    env = browser_env(op, tmp_path)

    default = step_oauth(oauth_args(op), env)
    assert default.returncode == 0, default.stderr
    body = json.loads(default.stdout)
    assert list(body) == ["access_token", "id_token", "refresh_token", "expires_in", "token_type"]
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert claims(body["id_token"])["aud"] == "step-cli"
    assert default.stdout.startswith('{\n  "access_token": ')

    oidc = step_oauth(["--oidc", *oauth_args(op)], env)
    assert oidc.returncode == 0, oidc.stderr
    assert list(json.loads(oidc.stdout)) == list(body)

    bare = step_oauth(["--bare", *oauth_args(op)], env)
    access = bare.stdout.strip()
    assert bare.returncode == 0 and access and access.count(".") != 2  # opaque, not the ID token

    head = step_oauth(["--oidc", "--header", *oauth_args(op)], env)
    assert head.returncode == 0, head.stderr
    prefix, _, token = head.stdout.strip().rpartition(" ")
    assert prefix == "Authorization: Bearer" and claims(token)["aud"] == "step-cli"


# ------------------------------------------------------------------------------ --console


class ConsoleRun:
    """`step oauth --console` with a pipe for stdin: the test plays the person elsewhere."""

    def __init__(self, op: OpenIDProvider, tmp_path: Path, extra: list[str] | None = None) -> None:
        env = browser_env(op, tmp_path)
        env["BROWSER"] = f"{shlex.quote(sys.executable)} -c 'import sys; sys.exit(3)'"  # must not be used
        self.proc = subprocess.Popen(
            [STEP, "oauth", "--console", "--oidc", "--bare", *(extra or []), *oauth_args(op)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr = ""

    def read_url(self, timeout: float = 30) -> str:
        """Read stderr (raw, unbuffered: select and a text buffer do not mix) up to the URL line."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=0.5):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                data += chunk
                self.stderr = data.decode(errors="replace")
                for line in self.stderr.splitlines():
                    if line.startswith("https://") and self.stderr.rstrip().endswith(":"):
                        return line.strip()  # the URL and the paste prompt after it are printed
        self.proc.kill()
        raise AssertionError(f"no URL printed:\n{self.stderr}")

    def finish(self, pasted: str | None) -> tuple[int, str, str]:
        out, err = self.proc.communicate(input=None if pasted is None else pasted + "\n", timeout=60)
        return self.proc.returncode, out, self.stderr + err


@pytest.mark.parametrize("paste", ["redirect-url", "code", "nothing: the listener wins"])
def test_console_accepts_a_pasted_url_or_code(
    openid_provider: OpenIDProvider, tmp_path: Path, paste: str
) -> None:
    op = openid_provider
    run = ConsoleRun(op, tmp_path)
    try:
        url = run.read_url()
        assert query(url)["client_id"] == "step-cli"
        person = Person("alice@example.com", "alice-password", ca_file=str(op.ca_file))
        redirect = person.authorize(url)
        if paste == "redirect-url":
            rc, out, err = run.finish(redirect)
        elif paste == "code":
            rc, out, err = run.finish(query(redirect)["code"])
        else:
            status, page = person.deliver(redirect)
            assert status == 200 and "close this window" in page
            rc, out, err = run.finish(None)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate()
    assert rc == 0, err
    assert "Open a local web browser and visit:" in err
    got = verified_claims(out.strip(), op.jwks())
    assert (got["aud"], got["email"], got["nonce"]) == ("step-cli", "alice@example.com", query(url)["nonce"])


@pytest.mark.parametrize(
    ("param", "pattern"),
    [
        ("state", r"^the state in the redirect does not match the one this login sent"),
        ("iss", r"^the authorization response comes from issuer 'https://elsewhere\.example', not https://"),
    ],
)
def test_console_refuses_a_pasted_redirect_that_is_not_ours(
    openid_provider: OpenIDProvider, tmp_path: Path, param: str, pattern: str
) -> None:
    op = openid_provider
    run = ConsoleRun(op, tmp_path)
    url = run.read_url()
    redirect = Person(ca_file=str(op.ca_file)).authorize(url)
    parts = urllib.parse.urlsplit(redirect)
    params = dict(urllib.parse.parse_qsl(parts.query))
    assert param in params  # oidc-provider sends iss (RFC 9207)
    params[param] = "https://elsewhere.example" if param == "iss" else params[param] + "x"
    rc, out, err = run.finish(urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(params))))
    assert_refused(subprocess.CompletedProcess([], rc, out, err), pattern)


def test_console_refuses_a_bogus_code_at_the_token_endpoint(
    openid_provider: OpenIDProvider, tmp_path: Path
) -> None:
    run = ConsoleRun(openid_provider, tmp_path)
    run.read_url()
    rc, out, err = run.finish("not-a-real-code")
    assert_refused(
        subprocess.CompletedProcess([], rc, out, err),
        r"^the token endpoint refused the authorization code \(invalid_grant: ",
    )


# ------------------------------------------------------------------------------ refusals


def test_denied_consent(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    op = openid_provider
    result = step_oauth(["--oidc", "--bare", *oauth_args(op)], browser_env(op, tmp_path, mode="deny"))
    assert_refused(
        result, r"^consent was denied at the OpenID Provider \(access_denied: End-User aborted interaction\)$"
    )
    assert "listener answered 400" in (tmp_path / "browser.log").read_text()


def test_tampered_state(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    op = openid_provider
    result = step_oauth(["--oidc", "--bare", *oauth_args(op)], browser_env(op, tmp_path, mode="tamper-state"))
    assert_refused(result, r"^the state in the redirect does not match the one this login sent")


def test_timeout_when_the_browser_never_comes_back(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    op = openid_provider
    started = time.monotonic()
    result = step_oauth(
        ["--oidc", "--bare", "--timeout", "3s", *oauth_args(op)], browser_env(op, tmp_path, mode="never")
    )
    elapsed = time.monotonic() - started
    assert_refused(
        result,
        r"^the login timed out after 3s waiting for the browser to come back to http://127\.0\.0\.1:\d+",
    )
    assert 3 <= elapsed < 20
    assert "mode never" in (tmp_path / "browser.log").read_text()  # the browser was started


def test_a_failing_browser_is_reported_and_the_login_still_waits(
    openid_provider: OpenIDProvider, tmp_path: Path
) -> None:
    env = browser_env(openid_provider, tmp_path)
    env["OIDC_TEST_PASSWORD"] = "wrong"  # browser.py gives up on the login page and exits 2
    result = step_oauth(["--oidc", "--bare", "--timeout", "3", *oauth_args(openid_provider)], env)
    assert "browser.py: login refused for alice@example.com: Invalid email or password." in result.stderr
    assert "The browser command exited with status 2: open the URL above yourself." in result.stderr
    assert_refused(result, r"^the login timed out after 3s")


def test_wrong_client_secret(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    op = openid_provider
    args = ["--provider", op.issuer, "--client-id", "step-cli", "--client-secret", "wrong"]
    result = step_oauth(["--oidc", "--bare", *args], browser_env(op, tmp_path))
    assert_refused(result, r"^the token endpoint refused the authorization code \(invalid_client: ")


def test_http_provider_is_refused(tmp_path: Path) -> None:
    result = step_oauth(
        ["--provider", "http://127.0.0.1:1/", "--client-id", "step-cli"], {**os.environ, "BROWSER": "false"}
    )
    assert_refused(result, r"^the OpenID Provider must be an https:// URL, not 'http://127\.0\.0\.1:1/'$")


def test_unreachable_provider(tmp_path: Path) -> None:
    port = free_port()
    result = step_oauth(
        ["--provider", f"https://127.0.0.1:{port}", "--client-id", "step-cli"],
        {**os.environ, "BROWSER": "false"},
    )
    assert_refused(
        result,
        rf"^cannot reach the OpenID Provider at https://127\.0\.0\.1:{port}/\.well-known/openid-configuration: ",
    )


def test_untrusted_provider_certificate(openid_provider: OpenIDProvider, tmp_path: Path) -> None:
    env = browser_env(openid_provider, tmp_path)
    env.pop("SSL_CERT_FILE")
    result = step_oauth(oauth_args(openid_provider), env)
    assert_refused(result, r"its TLS certificate is not trusted .*set SSL_CERT_FILE")


def test_provider_down_then_up(tmp_path: Path) -> None:
    op = OpenIDProvider(tmp_path / "op")
    try:
        op.start()
    except NodeMissing as exc:
        pytest.skip(str(exc))
    try:
        env = browser_env(op, tmp_path)
        op.stop()
        assert_refused(
            step_oauth(["--oidc", "--bare", *oauth_args(op)], env), r"^cannot reach the OpenID Provider"
        )
        op.start()
        result = step_oauth(["--oidc", "--bare", *oauth_args(op)], env)
        assert result.returncode == 0, result.stderr
        assert claims(result.stdout.strip())["iss"] == op.issuer
    finally:
        op.stop()


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ([], r"^flag '--client-id' is required"),
        (["--client-id", "x", "--listen", "nonsense"], r"^invalid listen address 'nonsense'"),
        (["--client-id", "x", "--listen", "0.0.0.0:0"], r"is not a loopback address"),
        (["--client-id", "x", "--timeout", "soon"], r"^flag '--timeout': invalid duration"),
        (["--client-id", "x", "--timeout", "0s"], r"^flag '--timeout' must be positive"),
    ],
)
def test_bad_flags(args: list[str], pattern: str) -> None:
    result = step_oauth(["--provider", "https://127.0.0.1:1", *args], {**os.environ, "BROWSER": "false"})
    assert_refused(result, pattern)


def test_help_and_start_up() -> None:
    out = subprocess.run([STEP, "oauth", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in (
        "--oidc",
        "--bare",
        "--provider",
        "--client-id",
        "--client-secret",
        "--listen",
        "--console",
        "--scope",
        "--email",
        "--prompt",
        "--timeout",
        "--header",
    ):
        assert flag in out
    listing = subprocess.run([STEP, "--help"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^\s+oauth\s", listing, re.M)
    # `step` start-up loads no oauth code, and the SDK module adds nothing heavy to stepca.client
    # until a login runs (the other commands that import it for its types pay nothing)
    probe = (
        "import sys, stepca.cli.main; assert 'stepca.cli.oauth' not in sys.modules; "
        "import stepca.client; before = set(sys.modules); import stepca.client.oauth; "
        "print(sorted(set(sys.modules) - before - {'stepca.client.oauth'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
