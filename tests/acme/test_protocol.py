"""RFC 8555 over the wire against a real step-ca: directory, nonces, accounts, orders, dns-01
through the loopback DNS server, finalize, certificate, revocation, key change, and the errors."""

from __future__ import annotations

import hashlib
import json
import ssl
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from stepca.crypto.jose import b64url_encode
from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension
from tests.acme.client import AcmeClient, flattened, jwk_of
from tests.acme.conftest import directory_url
from tests.acme.dns_server import LoopbackDNS
from tests.acme.flows import dns01_order, problem, wait_status
from tests.helpers import CAProcess


def test_directory_on_both_prefixes(acme_ca: CAProcess, client: AcmeClient) -> None:
    d = client.directory
    base = f"{acme_ca.url}/acme/acme"
    assert d["newNonce"] == f"{base}/new-nonce"
    assert d["newAccount"] == f"{base}/new-account"
    assert d["keyChange"] == f"{base}/key-change"
    assert d["renewalInfo"] == f"{base}/renewal-info"
    assert d["meta"]["termsOfService"] == "https://example.com/tos"
    assert d["meta"]["externalAccountRequired"] is False
    assert d["meta"]["profiles"] == {
        "default": "the provisioner's own claims",
        "shortlived": "6-day certificates",
        "serveronly": "serveronly",
        "org": "org",
    }
    other = AcmeClient(directory_url(acme_ca, prefix="/2.0/acme/"), client.context).directory
    assert other["newOrder"] == f"{acme_ca.url}/2.0/acme/acme/new-order"
    by_id = AcmeClient(directory_url(acme_ca, provisioner="acme%2Facme"), client.context).directory
    assert by_id["newOrder"] == f"{acme_ca.url}/acme/acme%2Facme/new-order"


def test_new_nonce_head_and_get(client: AcmeClient) -> None:
    head = client.http("HEAD", client.directory["newNonce"])
    get = client.http("GET", client.directory["newNonce"])
    assert (head.status, get.status) == (200, 204)
    for r in (head, get):
        assert r.nonce and r.headers["Cache-Control"] == "no-store"
    assert head.nonce != get.nonce


def test_unknown_provisioner_is_a_problem(acme_ca: CAProcess, client: AcmeClient) -> None:
    resp = client.http("GET", f"{acme_ca.url}/acme/nope/directory")
    assert resp.status == 404 and problem(resp) == "malformed" and resp.nonce


@pytest.mark.parametrize(
    "make_key,alg",
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (lambda: rsa.generate_private_key(65537, 2048), "RS256"),
        (lambda: rsa.generate_private_key(65537, 2048), "PS256"),
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
    ],
)
def test_account_keys(acme_ca: CAProcess, make_key: Any, alg: str) -> None:
    c = AcmeClient(
        directory_url(acme_ca),
        ssl.create_default_context(cafile=str(acme_ca.pki.root)),
        key=make_key(),
        alg=alg,
    )
    created = c.new_account(contact=["mailto:admin@example.com"])
    assert created.status == 201, created.body
    assert created.json()["status"] == "valid"
    assert created.json()["contact"] == ["mailto:admin@example.com"]
    again = c.new_account()
    assert again.status == 200 and again.location == created.location
    # POST-as-GET of the account, signed with its kid
    assert c.post(c.kid, None).json()["status"] == "valid"


def test_only_return_existing(client: AcmeClient) -> None:
    resp = client.new_account(onlyReturnExisting=True)
    assert resp.status == 400 and problem(resp) == "accountDoesNotExist"


def test_replayed_nonce_is_bad_nonce_with_a_fresh_one(client: AcmeClient) -> None:
    nonce = client.nonce()
    url = client.directory["newAccount"]
    first = client.http(
        "POST", url, client.signed(url, {"termsOfServiceAgreed": True}, nonce=nonce, use_jwk=True)
    )
    assert first.status == 201
    replay = client.http(
        "POST", url, client.signed(url, {"termsOfServiceAgreed": True}, nonce=nonce, use_jwk=True)
    )
    assert replay.status == 400 and problem(replay) == "badNonce"
    assert replay.nonce and replay.nonce != nonce
    forged = client.http("POST", url, client.signed(url, {}, nonce=b64url_encode(b"x" * 40), use_jwk=True))
    assert problem(forged) == "badNonce"


def test_nonce_of_one_worker_is_used_once_across_workers(acme_ca: CAProcess, client: AcmeClient) -> None:
    # two workers share the socket: with many requests, both serve some; a nonce works once anywhere
    client.new_account()
    for _ in range(6):
        nonce = client.nonce()
        ok = client.http("POST", client.kid, client.signed(client.kid, None, nonce=nonce))
        again = client.http("POST", client.kid, client.signed(client.kid, None, nonce=nonce))
        assert ok.status == 200 and problem(again) == "badNonce"


def test_url_mismatch_is_unauthorized(client: AcmeClient) -> None:
    url = client.directory["newAccount"]
    resp = client.http("POST", url, client.signed(url, {}, use_jwk=True, protected_url=url + "x"))
    assert resp.status == 403 and problem(resp) == "unauthorized"


def test_jws_errors(client: AcmeClient) -> None:
    url = client.directory["newAccount"]
    assert problem(client.http("POST", url, b"not json")) == "malformed"
    assert client.http("POST", url, b"{}", ctype="application/json").status == 415
    header = b64url_encode(
        json.dumps({"alg": "HS256", "nonce": client.nonce(), "url": url, "jwk": jwk_of(client.key)}).encode()
    )
    hs = json.dumps({"protected": header, "payload": "", "signature": b64url_encode(b"x" * 32)}).encode()
    bad_alg = client.http("POST", url, hs)
    assert problem(bad_alg) == "badSignatureAlgorithm" and "ES256" in bad_alg.json()["algorithms"]
    both = client.signed(url, {}, use_jwk=True, extra={"kid": "x"})
    assert problem(client.http("POST", url, both)) == "malformed"
    # a bad signature
    doc = json.loads(client.signed(url, {}, use_jwk=True))
    doc["signature"] = b64url_encode(b"\0" * 64)
    assert problem(client.http("POST", url, json.dumps(doc).encode())) == "malformed"
    # new-order with a jwk instead of an account kid
    order = client.signed(client.directory["newOrder"], {"identifiers": []}, use_jwk=True)
    assert problem(client.http("POST", client.directory["newOrder"], order)) == "malformed"
    # a kid that is no account
    client.kid = client.directory["newAccount"].replace("new-account", "account/nope")
    resp = client.post(client.directory["newOrder"], {"identifiers": [{"type": "dns", "value": "a.test"}]})
    assert problem(resp) == "accountDoesNotExist"


def test_new_order_identifiers(client: AcmeClient) -> None:
    client.new_account()
    ok = client.new_order("a.example.com", "127.0.0.1", "*.example.com")
    assert ok.status == 201, ok.body
    order = ok.json()
    assert order["status"] == "pending" and len(order["authorizations"]) == 3
    types = {}
    for url in order["authorizations"]:
        authz = client.post(url, None).json()
        types[authz["identifier"]["value"]] = sorted(c["type"] for c in authz["challenges"])
        assert authz.get("wildcard", False) == (url == order["authorizations"][2])
    assert types == {
        "a.example.com": ["dns-01", "http-01", "tls-alpn-01"],
        "127.0.0.1": ["http-01", "tls-alpn-01"],
        "example.com": ["dns-01"],
    }
    for bad in ("-bad-.example.com", "a..b", "*.*.example.com", "a.*.example.com"):
        resp = client.new_order(bad)
        assert resp.status == 400 and problem(resp) == "rejectedIdentifier", bad
    resp = client.post(client.directory["newOrder"], {"identifiers": [{"type": "email", "value": "a@b"}]})
    assert problem(resp) == "unsupportedIdentifier"
    resp = client.new_order("b.example.com", profile="nope")
    assert problem(resp) == "invalidProfile"
    assert client.post(client.directory["newOrder"], {"identifiers": []}).status == 400
    listed = client.post(client.kid + "/orders", None).json()["orders"]
    assert ok.location in listed


def test_finalize_before_ready_and_names_must_match(client: AcmeClient, dns_server: LoopbackDNS) -> None:
    client.new_account()
    pending = client.new_order("early.example.com")
    resp, _ = client.finalize(pending.json(), ["early.example.com"])
    assert resp.status == 403 and problem(resp) == "orderNotReady"
    order = dns01_order(client, dns_server, "names.example.com")
    resp, _ = client.finalize(order, ["names.example.com", "extra.example.com"])
    assert resp.status == 400 and problem(resp) == "badCSR"


def test_dns01_issue_download_and_revoke(
    acme_ca: CAProcess, client: AcmeClient, dns_server: LoopbackDNS, tmp_path: Any
) -> None:
    client.new_account()
    names = ["one.example.com", "two.example.com", "127.0.0.1"]
    resp = client.new_order(*names)
    order = resp.json()
    order_url = resp.location
    for authz_url in order["authorizations"]:
        authz = client.post(authz_url, None).json()
        value = authz["identifier"]["value"]
        if authz["identifier"]["type"] == "ip":
            continue
        ch = next(c for c in authz["challenges"] if c["type"] == "dns-01")
        digest = b64url_encode(hashlib.sha256(client.key_authorization(ch["token"]).encode()).digest())
        dns_server.txt[f"_acme-challenge.{value}."] = [digest]
        assert client.post(ch["url"], {}).status == 200
    # the IP needs http-01 or tls-alpn-01: drop it from this order (dns-01 only here)
    assert wait_status(client, order_url, {"invalid", "ready"}, timeout=3)["status"] == "pending"
    order = dns01_order(client, dns_server, "one.example.com", "two.example.com")
    final, cert_key = client.finalize(order, ["one.example.com", "two.example.com"])
    assert final.status == 200, final.body
    body = final.json()
    assert body["status"] == "valid" and body["certificate"]
    cert_resp = client.post(body["certificate"], None)
    assert cert_resp.status == 200
    assert cert_resp.headers["Content-Type"].startswith("application/pem-certificate-chain")
    pem = cert_resp.body.decode()
    assert pem.count("BEGIN CERTIFICATE") == 2
    leaf = x509.load_pem_x509_certificate(pem.encode())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == ["one.example.com", "two.example.com"]
    ext = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(PROVISIONER_OID))
    info = ProvisionerExtension.from_der(ext.value.value)  # type: ignore[attr-defined]
    assert (info.type, info.name) == (6, "acme")
    chain = tmp_path / "chain.pem"
    leaf_path = tmp_path / "leaf.pem"
    chain.write_text(pem[pem.index("-----BEGIN", 10) :])
    leaf_path.write_text(pem)
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", str(acme_ca.pki.root), "-untrusted", str(chain), str(leaf_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    # the order list no longer holds it (valid), and the renewal info names a window
    from stepca.acme.ari import cert_id

    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki is not None
    ari = client.http("GET", f"{client.directory['renewalInfo']}/{cert_id(aki, leaf.serial_number)}")
    assert ari.status == 200 and "suggestedWindow" in ari.json(), (ari.body, ari.headers)
    # revoke with the certificate's own key (jwk), then again → alreadyRevoked
    der = leaf.public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER
    )
    url = client.directory["revokeCert"]
    by_cert_key = client.http(
        "POST",
        url,
        client.signed(url, {"certificate": b64url_encode(der), "reason": 4}, key=cert_key, use_jwk=True),
    )
    assert by_cert_key.status == 200, by_cert_key.body
    again = client.post(url, {"certificate": b64url_encode(der)})
    assert problem(again) == "alreadyRevoked"


def test_revoke_by_account_and_by_a_stranger(
    acme_ca: CAProcess, client: AcmeClient, dns_server: LoopbackDNS
) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    client.new_account()
    order = dns01_order(client, dns_server, "rev.example.com")
    final, _ = client.finalize(order, ["rev.example.com"])
    pem = client.post(final.json()["certificate"], None).body
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    stranger = AcmeClient(client.directory_url, client.context)
    stranger.new_account()
    url = client.directory["revokeCert"]
    assert problem(stranger.post(url, {"certificate": b64url_encode(der)})) == "unauthorized"
    assert (
        problem(client.post(url, {"certificate": b64url_encode(der), "reason": 7})) == "badRevocationReason"
    )
    assert client.post(url, {"certificate": b64url_encode(der), "reason": 1}).status == 200


def test_valid_authorizations_are_reused(client: AcmeClient, dns_server: LoopbackDNS) -> None:
    client.new_account()
    first = dns01_order(client, dns_server, "reuse.example.com")
    authz = client.post(first["authorizations"][0], None).json()
    assert authz["status"] == "valid"
    again = client.new_order("reuse.example.com", "other.example.com")
    body = again.json()
    assert body["authorizations"][0] == first["authorizations"][0] and body["status"] == "pending"
    only = client.new_order("reuse.example.com").json()
    assert only["status"] == "ready" and only["authorizations"] == first["authorizations"]
    stranger = AcmeClient(client.directory_url, client.context)
    stranger.new_account()
    assert stranger.new_order("reuse.example.com").json()["authorizations"] != first["authorizations"]


def test_profile_validity(client: AcmeClient, dns_server: LoopbackDNS) -> None:
    client.new_account()
    order = dns01_order(client, dns_server, "short.example.com", profile="shortlived")
    final, _ = client.finalize(order, ["short.example.com"])
    leaf = x509.load_pem_x509_certificate(client.post(final.json()["certificate"], None).body)
    life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 144 * 3600 <= life.total_seconds() <= 144 * 3600 + 120
    assert final.json()["profile"] == "shortlived"


def test_profile_usages_and_template(client: AcmeClient, dns_server: LoopbackDNS) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    client.new_account()
    order = dns01_order(client, dns_server, "usage.example.com", profile="serveronly")
    leaf = x509.load_pem_x509_certificate(
        client.post(client.finalize(order, ["usage.example.com"])[0].json()["certificate"], None).body
    )
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    order = dns01_order(client, dns_server, "org.example.com", profile="org")
    leaf = x509.load_pem_x509_certificate(
        client.post(client.finalize(order, ["org.example.com"])[0].json()["certificate"], None).body
    )
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "ACME Org"
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["org.example.com"]


def test_key_change(client: AcmeClient, acme_ca: CAProcess) -> None:
    client.new_account()
    other = AcmeClient(client.directory_url, client.context)
    other.new_account()
    url = client.directory["keyChange"]

    def inner(new_key: Any) -> dict[str, str]:
        payload = json.dumps({"account": client.kid, "oldKey": jwk_of(client.key)}).encode()
        return flattened({"alg": "ES256", "jwk": jwk_of(new_key), "url": url}, payload, new_key)

    taken = client.post(url, inner(other.key))
    assert taken.status == 409 and problem(taken) == "conflict"
    assert taken.location == other.kid
    new_key = ec.generate_private_key(ec.SECP256R1())
    changed = client.post(url, inner(new_key))
    assert changed.status == 200, changed.body
    old = client.post(client.kid, None)  # the old key no longer signs for the account
    assert problem(old) == "malformed"
    client.key = new_key
    assert client.post(client.kid, None).status == 200
    # the new key now finds the same account
    again = AcmeClient(client.directory_url, client.context, key=new_key)
    assert again.new_account(onlyReturnExisting=True).location == client.kid


def test_deactivate_account(client: AcmeClient) -> None:
    client.new_account()
    assert client.post(client.kid, {"contact": ["mailto:new@example.com"]}).json()["contact"] == [
        "mailto:new@example.com"
    ]
    assert problem(client.post(client.kid, {"contact": ["http://x"]})) == "invalidContact"
    assert client.post(client.kid, {"status": "deactivated"}).json()["status"] == "deactivated"
    resp = client.new_order("after.example.com")
    assert resp.status == 403 and problem(resp) == "unauthorized"


def test_caa_at_finalize(acme_ca: CAProcess, dns_server: LoopbackDNS) -> None:
    c = AcmeClient(
        directory_url(acme_ca, provisioner="caa"), ssl.create_default_context(cafile=str(acme_ca.pki.root))
    )
    assert c.directory["meta"]["caaIdentities"] == ["ca.example.net"]
    c.new_account()
    dns_server.caa["forbidden.example.org."] = [(0, "issue", "letsencrypt.org")]
    dns_server.caa["allowed.example.org."] = [(0, "issue", "ca.example.net; validationmethods=dns-01")]
    dns_server.caa["example.org."] = [(0, "issue", ";")]  # the parent forbids everyone
    order = dns01_order(c, dns_server, "forbidden.example.org")
    refused, _ = c.finalize(order, ["forbidden.example.org"])
    assert refused.status == 403 and problem(refused) == "caa"
    order = dns01_order(c, dns_server, "allowed.example.org")
    accepted, _ = c.finalize(order, ["allowed.example.org"])
    assert accepted.status == 200, accepted.body
    order = dns01_order(c, dns_server, "child.example.org")  # nothing at the name: the parent's set
    assert problem(c.finalize(order, ["child.example.org"])[0]) == "caa"
    # RFC 8657: accounturi and validationmethods
    dns_server.caa["mine.example.org."] = [(0, "issue", f"ca.example.net; accounturi={c.kid}")]
    dns_server.caa["theirs.example.org."] = [(0, "issue", "ca.example.net; accounturi=https://x/acct/1")]
    dns_server.caa["http-only.example.org."] = [(0, "issue", "ca.example.net; validationmethods=http-01")]
    for name, want in (("mine", 200), ("theirs", 403), ("http-only", 403)):
        order = dns01_order(c, dns_server, f"{name}.example.org")
        assert c.finalize(order, [f"{name}.example.org"])[0].status == want, name
    assert c.new_order("no-http.example.org").status == 201  # dns-01 only: http-01 is not offered
    authz = c.post(c.new_order("only-dns.example.org").json()["authorizations"][0], None).json()
    assert [ch["type"] for ch in authz["challenges"]] == ["dns-01"]


def test_replaces_and_renewal_info(client: AcmeClient, dns_server: LoopbackDNS) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from stepca.acme.ari import cert_id

    client.new_account()
    order = dns01_order(client, dns_server, "ari.example.com")
    final, _ = client.finalize(order, ["ari.example.com"])
    leaf = x509.load_pem_x509_certificate(client.post(final.json()["certificate"], None).body)
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki is not None
    ident = cert_id(aki, leaf.serial_number)
    info = client.http("GET", f"{client.directory['renewalInfo']}/{ident}")
    window = info.json()["suggestedWindow"]
    start = datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
    life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert start >= leaf.not_valid_before_utc + life * 2 / 3 - timedelta(seconds=1)
    assert info.headers["Retry-After"]
    renewed = dns01_order(client, dns_server, "ari.example.com", replaces=ident)
    assert renewed["replaces"] == ident
    assert client.finalize(renewed, ["ari.example.com"])[0].status == 200
    dup = client.new_order("ari.example.com", replaces=ident)
    assert dup.status == 409 and problem(dup) == "alreadyReplaced"
    stranger = AcmeClient(client.directory_url, client.context)
    stranger.new_account()
    assert problem(stranger.new_order("ari.example.com", replaces=ident)) == "malformed"
    # revoked: the window is now
    der = leaf.public_bytes(Encoding.DER)
    assert client.post(client.directory["revokeCert"], {"certificate": b64url_encode(der)}).status == 200
    window = client.http("GET", f"{client.directory['renewalInfo']}/{ident}").json()["suggestedWindow"]
    assert datetime.fromisoformat(window["start"].replace("Z", "+00:00")) <= datetime.now(UTC)


def test_renewal_info_for_any_certificate_of_the_ca(
    acme_ca: CAProcess, client: AcmeClient, tmp_path: Any
) -> None:
    from stepca.acme.ari import cert_id

    crt, key = tmp_path / "jwk.crt", tmp_path / "jwk.key"
    acme_ca.pki.step(
        "ca", "certificate", "jwk.example.com", str(crt), str(key),
        "--provisioner-password-file", str(acme_ca.pki.password_file),
    )  # fmt: skip
    leaf = x509.load_pem_x509_certificate(crt.read_bytes())
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki is not None
    url = f"{client.directory['renewalInfo']}/{cert_id(aki, leaf.serial_number)}"
    assert "suggestedWindow" in client.http("GET", url).json()
    other_issuer = f"{client.directory['renewalInfo']}/{cert_id(b'x' * 20, leaf.serial_number)}"
    assert client.http("GET", other_issuer).status == 404
