"""The OIDC provisioner of a real `step-ca`, with ID tokens from a real OpenID Provider
(oidc-provider under Node.js, tests/oidc/harness.py): what it issues, and every refusal with
its reason."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwcrypto import jwk, jws

from stepca.crypto.sshcert import certificate_from_blob, key_blob
from stepca.crypto.x509build import build_csr
from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension
from tests.helpers import PKI, CAProcess, make_pki, start_ca
from tests.oidc.harness import OpenIDProvider
from tests.tokens import signer_for


def oidc_entries(op: OpenIDProvider) -> list[dict[str, Any]]:
    return [
        {
            "type": "OIDC",
            "name": "corp",
            "clientID": "step-cli",
            "clientSecret": "step-cli-secret",
            "configurationEndpoint": op.discovery_url,
            "domains": ["example.com"],
            "admins": ["admin@corp.example"],
            "claims": {"enableSSHCA": True},
        },
        {  # the issuer URL without the well-known path: the CA adds it, as smallstep does
            "type": "OIDC",
            "name": "ec",
            "clientID": "step-cli-es256",
            "clientSecret": "step-cli-es256-secret",
            "configurationEndpoint": op.issuer,
        },
        {
            "type": "OIDC",
            "name": "devs",
            "clientID": "step-cli-eddsa",
            "clientSecret": "step-cli-eddsa-secret",
            "configurationEndpoint": op.discovery_url,
            "groups": ["developers"],
        },
        {
            "type": "OIDC",
            "name": "late",
            "clientID": "expired-client",
            "clientSecret": "expired-client-secret",
            "configurationEndpoint": op.discovery_url,
        },
        {  # smallstep's options: a certificate template (here: the email as CN, an organization)
            "type": "OIDC",
            "name": "templated",
            "clientID": "step-public",
            "clientSecret": "",
            "configurationEndpoint": op.discovery_url,
            "options": {
                "x509": {
                    "template": '{"subject": {"commonName": {{ toJson .Token.email }}, '
                    '"organization": {{ toJson .Org }}}, "sans": {{ toJson .SANs }}, '
                    '"keyUsage": ["digitalSignature"], "extKeyUsage": ["clientAuth"]}',
                    "templateData": {"Org": "Example Staff"},
                }
            },
        },
    ]


def pki_with_oidc(directory: Path, op: OpenIDProvider) -> PKI:
    directory.mkdir(parents=True, exist_ok=True)
    pki = make_pki(directory, ssh=True)
    pki.edit_config(lambda cfg: cfg["authority"]["provisioners"].extend(oidc_entries(op)))
    return pki


@pytest.fixture(scope="module")
def oidc_ca(openid_provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CAProcess]:
    pki = pki_with_oidc(tmp_path_factory.mktemp("oidc-ca"), openid_provider)
    ca = start_ca(pki, workers=2, env=openid_provider.env(pki.env))
    yield ca
    ca.stop()


def id_token(op: OpenIDProvider, user: str, client: str = "step-cli") -> str:
    return str(op.login(client, user)["id_token"])


def sign(ca: CAProcess, token: str, subject: str = "", sans: list[str] | None = None) -> tuple[int, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    if subject:
        csr = build_csr(subject, sans if sans is not None else [], key).decode()
    else:  # a CSR that asks for no name: the token's names are used
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
        csr = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
    return ca.request("POST", "/1.0/sign", {"csr": csr, "ott": token})


def leaf(body: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(body["crt"].encode())


def san_strings(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in ext]


def refused(answer: tuple[int, Any], status: int, reason: str) -> None:
    code, body = answer
    assert code == status, body
    assert body["status"] == status and reason in body["message"], body


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


# ------------------------------------------------------------------------------ issued


def test_a_login_gets_a_certificate_as_smallstep_issues_it(
    oidc_ca: CAProcess, openid_provider: OpenIDProvider, tmp_path: Path
) -> None:
    token = id_token(openid_provider, "alice@example.com")
    status, body = sign(oidc_ca, token, "alice", ["alice@example.com", f"{openid_provider.issuer}#alice"])
    assert status == 201, body
    cert = leaf(body)
    assert cert.subject.rfc4514_string() == "CN=alice"  # smallstep's default template: CN = sub
    assert san_strings(cert) == ["alice@example.com", f"{openid_provider.issuer}#alice"]
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(PROVISIONER_OID))
    info = ProvisionerExtension.from_der(ext.value.value)  # type: ignore[attr-defined]
    assert (info.type, info.name, info.credential_id) == (2, "corp", "step-cli")
    (tmp_path / "leaf.pem").write_text(body["crt"])
    (tmp_path / "chain.pem").write_text(body["ca"])
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(oidc_ca.pki.root), "-untrusted", str(tmp_path / "chain.pem"),
         str(tmp_path / "leaf.pem")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_the_certificate_has_every_token_name_whatever_the_csr_lists(
    oidc_ca: CAProcess, openid_provider: OpenIDProvider
) -> None:
    token = id_token(openid_provider, "alice@example.com")
    status, body = sign(oidc_ca, token, "alice@example.com", ["alice@example.com"])
    assert status == 201, body
    assert san_strings(leaf(body)) == ["alice@example.com", f"{openid_provider.issuer}#alice"]


def test_es256_and_eddsa_signed_tokens(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    for client in ("step-cli-es256", "step-cli-eddsa"):
        token = id_token(openid_provider, "alice@example.com", client)
        status, body = sign(oidc_ca, token)
        assert status == 201, (client, body)
        ext = leaf(body).extensions.get_extension_for_oid(x509.ObjectIdentifier(PROVISIONER_OID))
        assert ProvisionerExtension.from_der(ext.value.value).credential_id == client  # type: ignore[attr-defined]


def test_an_oidc_provisioner_s_x509_template(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    status, body = sign(oidc_ca, id_token(openid_provider, "alice@example.com", "step-public"))
    assert status == 201, body
    cert = leaf(body)
    assert cert.subject.rfc4514_string() == "CN=alice@example.com,O=Example Staff"
    assert san_strings(cert) == ["alice@example.com", f"{openid_provider.issuer}#alice"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [u.dotted_string for u in eku] == ["1.3.6.1.5.5.7.3.2"]  # clientAuth only


def test_a_token_is_used_once(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    token = id_token(openid_provider, "alice@example.com")
    assert sign(oidc_ca, token)[0] == 201
    refused(sign(oidc_ca, token), 401, "token already used")


def test_an_admin_gets_the_names_of_the_csr(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    token = id_token(openid_provider, "admin@corp.example")  # outside `domains`, but an admin
    status, body = sign(oidc_ca, token, "build-server", ["build.internal", "10.0.0.7"])
    assert status == 201, body
    cert = leaf(body)
    assert cert.subject.rfc4514_string() == "CN=build-server"
    assert san_strings(cert) == ["build.internal", "10.0.0.7"]


# ------------------------------------------------------------------------------ refused


def test_a_user_may_not_ask_for_other_names(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    token = id_token(openid_provider, "alice@example.com")
    refused(sign(oidc_ca, token, "alice", ["www.example.com"]), 403, "'www.example.com'")


def test_a_user_outside_the_domains(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    token = id_token(openid_provider, "bob@other.org")
    refused(sign(oidc_ca, token), 403, "bob@other.org is not allowed")
    deadline = time.monotonic() + 5  # the refusal's reason is in the log, the token never is
    while "bob@other.org is not allowed" not in oidc_ca.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "bob@other.org is not allowed" in oidc_ca.log()
    assert token not in oidc_ca.log() and token.split(".")[2] not in oidc_ca.log()


def test_an_unverified_email(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    token = id_token(openid_provider, "carol@example.com")
    assert payload(token)["email_verified"] is False
    refused(sign(oidc_ca, token), 403, "not verified by the provider (email_verified)")


def test_a_user_outside_the_groups(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    assert sign(oidc_ca, id_token(openid_provider, "alice@example.com", "step-cli-eddsa"))[0] == 201
    refused(sign(oidc_ca, id_token(openid_provider, "bob@other.org", "step-cli-eddsa")), 403, "groups")


def test_a_token_for_another_client(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    token = id_token(openid_provider, "alice@example.com", "other-client")
    refused(sign(oidc_ca, token), 401, "audience (aud) does not contain the client id")


def test_an_expired_token(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    token = id_token(openid_provider, "alice@example.com", "expired-client")
    assert payload(token)["exp"] < time.time() - 60
    refused(sign(oidc_ca, token), 401, "token is expired (exp)")


def _claims(op: OpenIDProvider, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "alice", "aud": "step-cli", "email": "alice@example.com", "email_verified": True,
        "iat": now, "exp": now + 300, **over,
    }  # fmt: skip


def test_a_token_from_another_issuer(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    token = openid_provider.mint_id_token(_claims(openid_provider, iss="https://login.evil.example"))
    refused(sign(oidc_ca, token), 401, "issuer 'https://login.evil.example' is not the provider's")


def test_a_token_signed_by_a_key_not_in_the_jwks(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    foreign = jwk.JWK.from_pyca(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    claims = json.dumps({"iss": openid_provider.issuer, **_claims(openid_provider)})
    for kid, reason in (("not-a-provider-key", "is not in the provider's key set"),
                        (openid_provider.jwks()["keys"][0]["kid"], "signature verification failed")):  # fmt: skip
        t = jws.JWS(claims.encode())
        t.add_signature(foreign, alg=None, protected=json.dumps({"alg": "RS256", "kid": kid}))
        refused(sign(oidc_ca, t.serialize(compact=True)), 401, reason)


def test_alg_none_and_hmac_are_refused(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    claims = {"iss": openid_provider.issuer, **_claims(openid_provider)}
    kid = openid_provider.jwks()["keys"][0]["kid"]
    none_token = f"{b64({'alg': 'none', 'kid': kid})}.{b64(claims)}."
    refused(sign(oidc_ca, none_token), 401, "algorithm 'none' is not allowed")
    # HS256 keyed with the provider's public key (the classic confusion attack)
    public = json.dumps(openid_provider.jwks()["keys"][0]).encode()
    t = jws.JWS(json.dumps(claims).encode())
    t.add_signature(jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(public).rstrip(b"=").decode()),
                    alg=None, protected=json.dumps({"alg": "HS256", "kid": kid}))  # fmt: skip
    refused(sign(oidc_ca, t.serialize(compact=True)), 401, "algorithm 'HS256' is not allowed")


def test_only_an_admin_revokes(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    status, body = sign(oidc_ca, id_token(openid_provider, "alice@example.com"))
    assert status == 201, body
    serial = str(leaf(body).serial_number)
    user_revoke = {"serial": serial, "ott": id_token(openid_provider, "alice@example.com"), "passive": True}
    refused(oidc_ca.request("POST", "/1.0/revoke", user_revoke), 401, "only an admin")
    admin_revoke = {**user_revoke, "ott": id_token(openid_provider, "admin@corp.example")}
    status, body = oidc_ca.request("POST", "/1.0/revoke", admin_revoke)
    assert status == 200 and body == {"status": "ok"}, body


# ------------------------------------------------------------------------------ SSH


def ssh_sign(ca: CAProcess, token: str, **body: Any) -> tuple[int, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    req = {"publicKey": base64.b64encode(key_blob(key)).decode(), "ott": token, **body}
    return ca.request("POST", "/1.0/ssh/sign", req)


def test_an_ssh_user_certificate_with_smallstep_principals(
    oidc_ca: CAProcess, openid_provider: OpenIDProvider
) -> None:
    status, body = ssh_sign(oidc_ca, id_token(openid_provider, "alice@example.com"), certType="user")
    assert status == 201, body
    cert = certificate_from_blob(base64.b64decode(body["crt"]))
    assert cert.key_id == b"alice@example.com"
    assert cert.valid_principals == [b"alice", b"alice@example.com"]
    # a user asks for a host certificate or another principal: refused
    refused(ssh_sign(oidc_ca, id_token(openid_provider, "alice@example.com"), certType="host"), 403, "type")
    refused(
        ssh_sign(oidc_ca, id_token(openid_provider, "alice@example.com"), principals=["root"]),
        403,
        "principals",
    )
    # an admin chooses
    status, body = ssh_sign(
        oidc_ca,
        id_token(openid_provider, "admin@corp.example"),
        certType="host",
        principals=["web1.internal"],
    )
    assert status == 201, body
    cert = certificate_from_blob(base64.b64decode(body["crt"]))
    assert cert.valid_principals == [b"web1.internal"]


def test_ssh_needs_sshca_enabled(oidc_ca: CAProcess, openid_provider: OpenIDProvider) -> None:
    refused(
        ssh_sign(oidc_ca, id_token(openid_provider, "alice@example.com", "step-cli-es256")),
        401,
        "sshCA is disabled",
    )


# ------------------------------------------------------------------------------ listing


def test_provisioners_list_the_oidc_entries_as_in_ca_json(
    oidc_ca: CAProcess, openid_provider: OpenIDProvider
) -> None:
    status, body = oidc_ca.request("GET", "/provisioners?limit=100")
    assert status == 200
    listed = {p["name"]: p for p in body["provisioners"]}
    for entry in oidc_entries(openid_provider):
        assert listed[entry["name"]] == entry


# ------------------------------------------------------------------------------ lifecycle


@pytest.mark.slow
def test_the_ca_starts_while_the_provider_is_down(tmp_path: Path) -> None:
    op = OpenIDProvider(tmp_path / "op")
    with op:
        pass  # started once for a port (the issuer URL); now nobody answers there
    pki = pki_with_oidc(tmp_path / "ca", op)
    ca = start_ca(pki, workers=1, env=op.env(pki.env))
    try:
        # JWK provisioners work at once
        status, _ = sign(ca, signer_for(pki).token("jwk.example.com"), "jwk.example.com",
                         ["jwk.example.com"])  # fmt: skip
        assert status == 201
        assert "has not answered yet" in ca.log() or "cannot fetch" in ca.log()
        op.start()
        token = id_token(op, "alice@example.com")
        deadline = time.monotonic() + 40
        answer = sign(ca, token)
        while answer[0] != 201 and time.monotonic() < deadline:
            assert answer[0] == 401 and "keys are not available" in answer[1]["message"], answer
            time.sleep(0.5)
            answer = sign(ca, token)
        assert answer[0] == 201, answer
    finally:
        ca.stop()
        op.stop()


@pytest.mark.slow
def test_rotated_provider_keys_are_fetched_on_an_unknown_kid(tmp_path: Path) -> None:
    with OpenIDProvider(tmp_path / "op") as op:
        pki = pki_with_oidc(tmp_path / "ca", op)
        ca = start_ca(pki, workers=1, env=op.env(pki.env))
        try:
            assert sign(ca, id_token(op, "alice@example.com"))[0] == 201
            op.rotate_keys(keep_old=False)
            token = id_token(op, "alice@example.com")
            assert sign(ca, token)[0] == 201, "a new kid triggers a key-set fetch"
        finally:
            ca.stop()
