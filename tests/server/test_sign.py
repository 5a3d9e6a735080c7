"""POST /1.0/sign: the certificates, the claims, and every way a token is refused."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from stepca.crypto.jose import public_jwk
from stepca.crypto.keys import generate_private_key
from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension
from tests.helpers import CAProcess
from tests.tokens import DROP, csr_for, hs256_token, signer_for, unsigned_token


def sign(ca: CAProcess, csr: str, ott: str, **extra: str) -> tuple[int, dict]:
    return ca.request("POST", "/1.0/sign", {"csr": csr, "ott": ott, **extra})


def test_sign_returns_leaf_like_smallstep(session_ca: CAProcess, tmp_path) -> None:
    signer = signer_for(session_ca.pki)
    csr, key = csr_for("svc.example.com", ["svc.example.com", "10.1.2.3"])
    tok = signer.token("svc.example.com", sans=["svc.example.com", "10.1.2.3"])
    before = datetime.now(UTC).replace(microsecond=0)
    status, body = sign(session_ca, csr, tok)
    assert status == 201, body
    assert set(body) == {"crt", "ca", "certChain", "tlsOptions"}
    assert body["ca"] == session_ca.pki.intermediate.read_text()
    assert body["certChain"] == [body["crt"], body["ca"]]
    assert body["tlsOptions"]["minVersion"] == 1.2
    cert = x509.load_pem_x509_certificate(body["crt"].encode())
    assert cert.subject.rfc4514_string() == "CN=svc.example.com"
    assert cert.issuer == x509.load_pem_x509_certificate(body["ca"].encode()).subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["svc.example.com"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_encipherment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == (
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest  # type: ignore[arg-type]
    )
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(PROVISIONER_OID))
    prov = ProvisionerExtension.from_der(ext.value.value)  # type: ignore[attr-defined]
    assert (prov.type_name, prov.name, prov.credential_id) == ("JWK", "admin@example.com", signer.kid)
    # 1 minute backdate, 24h default lifetime, 128-bit serial
    assert (
        before - timedelta(minutes=1, seconds=2)
        <= cert.not_valid_before_utc
        <= before - timedelta(seconds=58)
    )
    assert abs((cert.not_valid_after_utc - before) - timedelta(hours=24)) < timedelta(seconds=3)
    assert 64 < cert.serial_number.bit_length() <= 128
    crt = tmp_path / "leaf.crt"
    crt.write_text(body["crt"])
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(session_ca.pki.root),
            "-untrusted",
            str(session_ca.pki.intermediate),
            str(crt),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr


@pytest.mark.parametrize(
    ("kty", "crv", "size", "key_encipherment"),
    [("EC", "P-384", None, False), ("RSA", None, 2048, True), ("OKP", "Ed25519", None, False)],
)
def test_sign_other_key_types(session_ca: CAProcess, kty, crv, size, key_encipherment) -> None:  # type: ignore[no-untyped-def]
    csr, _ = csr_for("k.example.com", key=generate_private_key(kty, crv, size))
    status, body = sign(session_ca, csr, signer_for(session_ca.pki).token("k.example.com"))
    assert status == 201, body
    cert = x509.load_pem_x509_certificate(body["crt"].encode())
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment is key_encipherment


def test_small_rsa_key_refused(session_ca: CAProcess) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(65537, 1024)
    csr, _ = csr_for("k.example.com", key=key)  # type: ignore[arg-type]
    status, body = sign(session_ca, csr, signer_for(session_ca.pki).token("k.example.com"))
    assert status == 403 and "2048" in body["message"]


def test_requested_validity_and_claims(session_ca: CAProcess) -> None:
    signer = signer_for(session_ca.pki)
    csr, _ = csr_for("v.example.com")
    status, body = sign(session_ca, csr, signer.token("v.example.com"), notAfter="2h")
    assert status == 201, body
    cert = x509.load_pem_x509_certificate(body["crt"].encode())
    assert abs(cert.not_valid_after_utc - datetime.now(UTC) - timedelta(hours=2)) < timedelta(seconds=5)
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    end = start + timedelta(hours=3)
    status, body = sign(
        session_ca,
        csr,
        signer.token("v.example.com"),
        notBefore=start.isoformat().replace("+00:00", "Z"),
        notAfter=end.isoformat(),
    )
    assert status == 201, body
    cert = x509.load_pem_x509_certificate(body["crt"].encode())
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (start, end)
    status, body = sign(session_ca, csr, signer.token("v.example.com"), notAfter="48h")
    assert status == 403
    assert body["message"] == (
        "The request was forbidden by the certificate authority: requested duration of 48h1m0s is more "
        "than the authorized maximum certificate duration of 24h1m0s."
    )
    status, body = sign(session_ca, csr, signer.token("v.example.com"), notAfter="1m")
    assert status == 403 and "less than the authorized minimum" in body["message"]
    status, body = sign(session_ca, csr, signer.token("v.example.com"), notAfter="yesterday")
    assert status == 400 and "notAfter" in body["message"]


def test_authority_template_sets_subject_defaults(pki, ca_factory) -> None:  # type: ignore[no-untyped-def]
    pki.edit_config(lambda c: c["authority"].update(template={"country": "US", "organization": "Acme"}))
    ca = ca_factory(pki, workers=1)
    csr, _ = csr_for("t.example.com")
    status, body = sign(ca, csr, signer_for(pki).token("t.example.com"))
    assert status == 201, body
    cert = x509.load_pem_x509_certificate(body["crt"].encode())
    assert cert.subject.rfc4514_string() == "CN=t.example.com,O=Acme,C=US"


@pytest.mark.parametrize(
    ("csr_cn", "csr_sans", "token_sans", "fragment"),
    [
        ("svc.example.com", ["evil.example.com"], ["svc.example.com"], "DNS name 'evil.example.com'"),
        ("svc.example.com", ["svc.example.com", "10.0.0.9"], ["svc.example.com"], "IP address '10.0.0.9'"),
        (
            "svc.example.com",
            ["mallory@example.com"],
            ["svc.example.com"],
            "email address 'mallory@example.com'",
        ),
        ("svc.example.com", ["spiffe://x/y"], ["svc.example.com"], "URI 'spiffe://x/y'"),
        (
            "other.example.com",
            ["svc.example.com"],
            ["svc.example.com"],
            "common name - got other.example.com",
        ),
    ],
)
def test_sans_must_cover_csr(session_ca: CAProcess, csr_cn, csr_sans, token_sans, fragment) -> None:  # type: ignore[no-untyped-def]
    csr, _ = csr_for(csr_cn, csr_sans)
    status, body = sign(session_ca, csr, signer_for(session_ca.pki).token("svc.example.com", sans=token_sans))
    assert status == 403, body
    assert fragment in body["message"]


def test_csr_without_sans_gets_token_sans(session_ca: CAProcess) -> None:
    csr, _ = csr_for("svc.example.com", [])
    status, body = sign(
        session_ca,
        csr,
        signer_for(session_ca.pki).token("svc.example.com", sans=["svc.example.com", "127.0.0.1"]),
    )
    assert status == 201, body
    san = (
        x509.load_pem_x509_certificate(body["crt"].encode())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert san.get_values_for_type(x509.DNSName) == ["svc.example.com"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def _forgeries(ca: CAProcess) -> dict[str, str]:
    signer = signer_for(ca.pki)
    now = int(time.time())
    claims = signer.claims()
    other = generate_private_key()
    pub = public_jwk(signer.key)
    pub_pem = signer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "alg none": unsigned_token({"alg": "none", "kid": signer.kid, "typ": "JWT"}, claims),
        "hs256 with the public key": hs256_token(
            {"alg": "HS256", "kid": signer.kid, "typ": "JWT"}, claims, pub_pem
        ),
        "hs256 with the jwk x": hs256_token(
            {"alg": "HS256", "kid": signer.kid, "typ": "JWT"}, claims, pub["x"].encode()
        ),
        "signed by another key": signer.token(key=other),
        "wrong kid": signer.token(header={"kid": "not-a-kid"}),
        "wrong issuer": signer.token(iss="someone-else"),
        "wrong audience": signer.token(aud="https://evil.example.com/1.0/sign"),
        "audience for revoke": signer.token(aud=signer.audience.replace("/sign", "/revoke")),
        "expired": signer.token(exp=now - 120, nbf=now - 600, iat=now - 600),
        "not yet valid": signer.token(nbf=now + 600, exp=now + 900),
        "issued before CA start": signer.token(iat=now - 3600),
        "no jti": signer.token(jti=DROP),
        "empty subject": signer.token(sub=""),
        "no exp": signer.token(exp=DROP),
        "garbage": "not.a.token",
        "empty": "",
        "truncated signature": signer.token()[:-10],
    }


@pytest.mark.parametrize(
    "case",
    [
        "alg none",
        "hs256 with the public key",
        "hs256 with the jwk x",
        "signed by another key",
        "wrong kid",
        "wrong issuer",
        "wrong audience",
        "audience for revoke",
        "expired",
        "not yet valid",
        "issued before CA start",
        "no jti",
        "empty subject",
        "no exp",
        "garbage",
        "empty",
        "truncated signature",
    ],
)
def test_forged_tokens_refused(session_ca: CAProcess, case: str) -> None:
    tok = _forgeries(session_ca)[case]
    csr, _ = csr_for("svc.example.com")
    status, body = sign(session_ca, csr, tok)
    assert status == 401, (case, body)
    assert body["status"] == 401
    assert body["message"].startswith("The request lacked necessary authorization to be completed")


def test_token_is_single_use_across_workers(session_ca: CAProcess) -> None:
    """Each token sent 4 times at once over separate connections: exactly one 201."""
    assert session_ca.workers >= 2
    signer = signer_for(session_ca.pki)
    csr, _ = csr_for("svc.example.com")
    tokens = [signer.token() for _ in range(20)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda t: sign(session_ca, csr, t)[0], [t for t in tokens for _ in range(4)]))
    for i in range(20):
        statuses = sorted(results[i * 4 : i * 4 + 4])
        assert statuses == [201, 401, 401, 401], statuses


def test_fixture_token_shape_is_accepted(session_ca: CAProcess) -> None:
    """Our CLI's token has the claims smallstep's CLI writes (fixture api/token_example.jwt)."""
    import json

    from stepca.crypto.jose import CompactJWS
    from tests.helpers import FIXTURES

    theirs = CompactJWS((FIXTURES / "api" / "token_example.jwt").read_text())
    pki = session_ca.pki
    ours = CompactJWS(
        pki.step(
            "ca", "token", "svc.example.com", "--provisioner-password-file", str(pki.password_file)
        ).stdout.strip()
    )
    assert list(ours.header) == list(theirs.header)
    assert sorted(ours.claims()) == sorted(theirs.claims())
    assert ours.claims()["aud"] == f"{pki.url}/1.0/sign"
    assert json.loads(json.dumps(ours.claims()))["sans"] == ["svc.example.com"]
    assert len(ours.claims()["jti"]) == 64


@pytest.mark.parametrize(
    ("aud", "status"),
    [
        ("https://LOCALHOST:9999/1.0/sign", 201),  # another port (a load balancer's): accepted like smallstep
        ("https://127.0.0.1/sign", 201),
        ("http://localhost/1.0/sign", 401),
        ("https://localhost.evil.com/1.0/sign", 401),
        ("https://localhost", 401),
        ("https://localhost:1/1.0/signx", 401),
    ],
)
def test_audience_forms(session_ca: CAProcess, aud: str, status: int) -> None:
    csr, _ = csr_for("svc.example.com")
    got, body = sign(session_ca, csr, signer_for(session_ca.pki).token(aud=aud))
    assert got == status, body
