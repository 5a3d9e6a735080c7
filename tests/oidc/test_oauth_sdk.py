"""stepca.client.oauth in-process, against the real OpenID Provider (and a broken HTTPS server)."""

from __future__ import annotations

import http.server
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepca.client.oauth import (
    OAuthError,
    OIDCLoginRequest,
    TokenResponse,
    _browser_commands,
    _check_id_token,
    _pasted,
    discover,
    oidc_login,
)
from stepca.errors import StepError
from tests.oidc.harness import Client, NodeMissing, OpenIDProvider
from tests.oidc.test_oauth_cli import BROWSER
from tests.oidc.tokens import claims


@pytest.fixture
def as_person(
    openid_provider: OpenIDProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> OpenIDProvider:
    """$BROWSER is browser.py logging in as alice; the provider's CA is trusted."""
    monkeypatch.setenv("SSL_CERT_FILE", str(openid_provider.ca_file))
    monkeypatch.setenv("BROWSER", BROWSER)
    monkeypatch.setenv("OIDC_TEST_USER", "alice@example.com")
    monkeypatch.setenv("OIDC_TEST_PASSWORD", "alice-password")
    monkeypatch.setenv("OIDC_TEST_BROWSER_MODE", "normal")
    monkeypatch.setenv("OIDC_TEST_BROWSER_LOG", str(tmp_path / "browser.log"))
    return openid_provider


def test_login_returns_typed_tokens_and_reports_progress(as_person: OpenIDProvider) -> None:
    lines: list[str] = []
    tokens = oidc_login(
        OIDCLoginRequest(as_person.issuer, "step-cli-es256", "step-cli-es256-secret", timeout=30),
        progress=lines.append,
    )
    assert isinstance(tokens, TokenResponse)
    assert claims(tokens.id_token)["aud"] == "step-cli-es256"
    assert tokens.token_type == "Bearer" and tokens.access_token and tokens.expires_in > 0
    assert tokens.refresh_token == ""  # no offline_access asked
    assert tokens.raw["id_token"] == tokens.id_token
    assert as_person.log().rstrip().endswith("token-endpoint client-auth=basic")  # the default method
    assert len(lines) == 1 and lines[0].startswith("Your default web browser has been opened to visit:")
    assert f"{as_person.issuer}/auth?" in lines[0]


def test_client_secret_post_when_basic_is_not_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_person: OpenIDProvider
) -> None:
    op = OpenIDProvider(
        tmp_path / "post-only",
        clients_list=[Client("step-cli", "step-cli-secret", token_endpoint_auth_method="client_secret_post")],
        client_auth_methods=("client_secret_post", "none"),
    )
    try:
        op.start()
    except NodeMissing as exc:
        pytest.skip(str(exc))
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(op.ca_file))
        assert discover(op.issuer)["token_endpoint_auth_methods_supported"] == ["client_secret_post", "none"]
        tokens = oidc_login(
            OIDCLoginRequest(op.issuer, "step-cli", "step-cli-secret"), progress=lambda _: None
        )
        assert claims(tokens.id_token)["iss"] == op.issuer
        assert op.log().count("token-endpoint client-auth=") == 1
        assert "token-endpoint client-auth=body" in op.log()
    finally:
        op.stop()


def test_id_token_checks_on_real_tokens(openid_provider: OpenIDProvider) -> None:
    op = openid_provider
    token = op.login("step-cli", "alice@example.com", nonce="n-1")["id_token"]
    _check_id_token(token, issuer=op.issuer, client_id="step-cli", nonce="n-1")  # passes
    with pytest.raises(OAuthError, match="nonce does not match"):
        _check_id_token(token, issuer=op.issuer, client_id="step-cli", nonce="n-2")
    with pytest.raises(OAuthError, match="not for the client other-client"):
        _check_id_token(token, issuer=op.issuer, client_id="other-client", nonce="n-1")
    with pytest.raises(OAuthError, match="issued by"):
        _check_id_token(token, issuer="https://elsewhere.example", client_id="step-cli", nonce="n-1")
    two = op.mint_id_token({"aud": ["step-cli", "other-client"], "azp": "other-client", "nonce": "n-1"})
    with pytest.raises(OAuthError, match="authorized for 'other-client'"):
        _check_id_token(two, issuer=op.issuer, client_id="step-cli", nonce="n-1")
    with pytest.raises(OAuthError, match="not a JWT"):
        _check_id_token("garbage", issuer=op.issuer, client_id="step-cli", nonce="n-1")


def test_discovery_names_another_issuer(
    openid_provider: OpenIDProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://localhost:PORT serves a document whose issuer is https://127.0.0.1:PORT."""
    monkeypatch.setenv("SSL_CERT_FILE", str(openid_provider.ca_file))
    with pytest.raises(OAuthError, match=r"names another issuer: https://127\.0\.0\.1:"):
        discover(f"https://localhost:{openid_provider.port}")


def test_discovery_http_error(openid_provider: OpenIDProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(openid_provider.ca_file))
    with pytest.raises(OAuthError, match=r"failed: HTTP 404$"):
        discover(f"{openid_provider.issuer}/no-such-tenant")


@pytest.fixture
def html_server(openid_provider: OpenIDProvider) -> Iterator[str]:
    """An HTTPS server (the provider's certificate) answering every GET with an HTML page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>not an OpenID Provider</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    directory = openid_provider.ca_file.parent
    context.load_cert_chain(directory / "op-cert.pem", directory / "op-key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_discovery_that_is_not_json(
    html_server: str, openid_provider: OpenIDProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(openid_provider.ca_file))
    with pytest.raises(OAuthError, match=r"did not answer a JSON object$"):
        discover(html_server)


def test_errors_are_one_line_step_errors() -> None:
    with pytest.raises(OAuthError) as info:
        oidc_login(OIDCLoginRequest("http://id.example.com", "c"))
    exc = info.value
    assert isinstance(exc, StepError)
    assert (
        exc.message == str(exc) == "the OpenID Provider must be an https:// URL, not 'http://id.example.com'"
    )
    with pytest.raises(OAuthError, match="timeout must be positive"):
        oidc_login(OIDCLoginRequest("https://id.example.com", "c", timeout=0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "http://127.0.0.1:5000/?code=abc&state=xyz&iss=https%3A%2F%2Fop",
            {"code": "abc", "state": "xyz", "iss": "https://op"},
        ),
        ("  abc-def_123  ", {"code": "abc-def_123"}),
        ("code=abc&state=xyz", {"code": "abc", "state": "xyz"}),
        ("?error=access_denied&state=s", {"error": "access_denied", "state": "s"}),
    ],
)
def test_pasted_input(text: str, expected: dict[str, str]) -> None:
    assert _pasted(text) == expected


def test_browser_commands_follow_the_webbrowser_convention(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no xdg-open/open fallbacks
    monkeypatch.setenv("BROWSER", os.pathsep.join(["firefox --new-window %s", "'/opt/my browser/run'"]))
    assert _browser_commands("https://x/?a=1") == [
        ["firefox", "--new-window", "https://x/?a=1"],
        ["/opt/my browser/run", "https://x/?a=1"],
    ]
    monkeypatch.delenv("BROWSER")
    assert _browser_commands("https://x/") == []
