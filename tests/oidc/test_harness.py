"""The OpenID Provider harness itself: real tokens, real keys, restarts on the same port."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path

import pytest
from jwcrypto.jws import InvalidJWSSignature

from tests.oidc.harness import NodeMissing, OpenIDProvider, ProviderError
from tests.oidc.tokens import claims, header, verified_claims


@pytest.mark.parametrize(
    ("client_id", "alg"), [("step-cli", "RS256"), ("step-cli-es256", "ES256"), ("step-cli-eddsa", "EdDSA")]
)
def test_login_returns_an_id_token_signed_by_the_provider(
    openid_provider: OpenIDProvider, client_id: str, alg: str
) -> None:
    op = openid_provider
    tokens = op.login(client_id, "alice@example.com", nonce="nonce-123")
    jwks = op.jwks()  # fetched from the discovery document's jwks_uri
    assert op.discovery()["jwks_uri"].startswith(op.issuer + "/")
    assert header(tokens["id_token"])["alg"] == alg
    got = verified_claims(tokens["id_token"], jwks)
    assert got["iss"] == op.issuer
    assert got["aud"] == client_id
    assert got["nonce"] == "nonce-123"
    assert (got["sub"], got["email"], got["email_verified"]) == ("alice", "alice@example.com", True)
    assert got["groups"] == ["developers"]
    assert 3500 <= got["exp"] - got["iat"] <= 3600
    assert tokens["token_type"] == "Bearer" and tokens["access_token"]

    # the same token with a changed claim no longer verifies: the check above can fail
    h, p, s = tokens["id_token"].split(".")
    forged = claims(tokens["id_token"]) | {"email": "mallory@example.com"}
    p2 = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidJWSSignature):
        verified_claims(f"{h}.{p2}.{s}", jwks)


def test_users_and_clients(openid_provider: OpenIDProvider) -> None:
    op = openid_provider
    carol = claims(op.login("step-cli", "carol@example.com")["id_token"])
    assert carol["email_verified"] is False and carol["email"] == "carol@example.com"
    bob = claims(op.login("other-client", "bob@other.org")["id_token"])
    assert (bob["aud"], bob["sub"], bob["groups"]) == ("other-client", "bob", ["contractors"])
    admin = claims(op.login("step-public", "admin@corp.example")["id_token"])
    assert (admin["aud"], admin["groups"]) == ("step-public", ["admins"])
    expired = claims(op.login("expired-client", "alice@example.com")["id_token"])
    assert expired["exp"] < time.time() - 240


def test_login_refuses_a_wrong_password(openid_provider: OpenIDProvider) -> None:
    with pytest.raises(ProviderError, match=r"login refused for alice@example\.com"):
        openid_provider.login("step-cli", "alice@example.com", password="wrong")


def test_pkce_is_required(openid_provider: OpenIDProvider) -> None:
    """An authorization request without code_challenge is refused by the provider."""
    from tests.oidc.browser import Person

    url = openid_provider.authorization_url(
        "step-cli", redirect_uri="http://127.0.0.1:1234", state="s", code_challenge="x"
    )
    url = url.replace("&code_challenge=x&code_challenge_method=S256", "")
    back = Person(ca_file=str(openid_provider.ca_file)).authorize(url)
    assert "error=invalid_request" in back and "requires+PKCE" in back


def test_mint_id_token_uses_the_provider_keys(openid_provider: OpenIDProvider) -> None:
    op = openid_provider
    token = op.mint_id_token({"sub": "alice", "aud": "step-cli", "exp": 1000, "iat": 900}, alg="ES256")
    got = verified_claims(token, op.jwks())
    assert got == {"iss": op.issuer, "sub": "alice", "aud": "step-cli", "exp": 1000, "iat": 900}


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_stop_then_start_on_the_same_port_and_rotate_keys(tmp_path: Path) -> None:
    op = OpenIDProvider(tmp_path)
    try:
        op.start()
    except NodeMissing as exc:
        pytest.skip(str(exc))
    try:
        issuer, port = op.issuer, op.port
        old_kids = {k["kid"] for k in op.jwks()["keys"]}
        op.stop()
        assert _refused(port)
        op.start()
        assert op.issuer == issuer
        assert op.discovery()["issuer"] == issuer
        assert {k["kid"] for k in op.jwks()["keys"]} == old_kids  # the same keys across a restart

        op.rotate_keys()
        assert op.issuer == issuer
        kids = [k["kid"] for k in op.jwks()["keys"]]
        assert old_kids < set(kids)
        token = op.login("step-cli", "alice@example.com")["id_token"]
        assert header(token)["kid"] not in old_kids
        verified_claims(token, op.jwks())

        op.rotate_keys(keep_old=False)
        assert not old_kids & {k["kid"] for k in op.jwks()["keys"]}
    finally:
        op.stop()
