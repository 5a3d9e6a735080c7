"""Renew (mTLS and x5c token), rekey and revoke against a real step-ca, through the CLI and the API."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepca.crypto.keys import load_private_key, public_keys_equal
from tests.helpers import PKI, CAProcess, assert_one_line_error
from tests.tokens import csr_for, signer_for


def issue(
    ca: CAProcess, tmp: Path, name: str = "svc.example.com", **extra: str
) -> tuple[Path, Path, x509.Certificate]:
    csr, key = csr_for(name)
    status, body = ca.request(
        "POST", "/1.0/sign", {"csr": csr, "ott": signer_for(ca.pki).token(name), **extra}
    )
    assert status == 201, body
    crt, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    crt.write_text("".join(body["certChain"]))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return crt, key_path, x509.load_pem_x509_certificate(body["crt"].encode())


def mtls(ca: CAProcess, crt: Path, key: Path) -> ssl.SSLContext:
    ctx = ca.ssl_context()
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


def leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_renew_keeps_identity_and_lifetime(session_ca: CAProcess, tmp_path: Path) -> None:
    crt, key, old = issue(session_ca, tmp_path, notAfter="3h")
    out = session_ca.pki.step("ca", "renew", str(crt), str(key), "--force")
    assert f"Your certificate has been saved in {crt}." in out.stderr
    new = leaf(crt)
    assert new.serial_number != old.serial_number
    assert new.subject == old.subject
    assert new.extensions.get_extension_for_class(x509.SubjectAlternativeName) == (
        old.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    )
    assert public_keys_equal(new.public_key(), old.public_key())  # type: ignore[arg-type]
    assert (
        new.not_valid_after_utc - new.not_valid_before_utc
        == old.not_valid_after_utc - old.not_valid_before_utc
    )
    assert [e.oid for e in new.extensions] == [e.oid for e in old.extensions]


def test_renew_requires_client_certificate(session_ca: CAProcess) -> None:
    status, body = session_ca.request("POST", "/1.0/renew")
    assert status == 400
    assert body == {
        "status": 400,
        "message": "The request could not be completed: missing client certificate.",
    }


def test_renew_with_api_over_mtls(session_ca: CAProcess, tmp_path: Path) -> None:
    crt, key, _ = issue(session_ca, tmp_path)
    status, body = session_ca.request("POST", "/1.0/renew", context=mtls(session_ca, crt, key))
    assert status == 201 and set(body) == {"crt", "ca", "certChain", "tlsOptions"}


def test_rekey_changes_the_key(session_ca: CAProcess, tmp_path: Path) -> None:
    crt, key, old = issue(session_ca, tmp_path)
    old_key = key.read_bytes()
    session_ca.pki.step("ca", "rekey", str(crt), str(key), "--force")
    new = leaf(crt)
    assert key.read_bytes() != old_key
    assert not public_keys_equal(new.public_key(), old.public_key())  # type: ignore[arg-type]
    assert public_keys_equal(new.public_key(), load_private_key(key.read_bytes()).public_key())  # type: ignore[arg-type]
    assert new.subject == old.subject
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_revoke_by_token_then_renew_fails(session_ca: CAProcess, tmp_path: Path) -> None:
    pki = session_ca.pki
    crt, key, cert = issue(session_ca, tmp_path)
    out = pki.step(
        "ca",
        "revoke",
        str(cert.serial_number),
        "--provisioner-password-file",
        str(pki.password_file),
        "--reason",
        "key compromise",
        "--reasonCode",
        "keyCompromise",
    )
    assert f"Certificate with Serial Number {cert.serial_number} has been revoked." in out.stderr
    line = assert_one_line_error(pki.step("ca", "renew", str(crt), str(key), "--force", check=False))
    assert (
        line
        == f"error renewing certificate: Unauthorized: certificate with serial number {cert.serial_number} has been revoked"
    )
    # revoking twice is refused with a clear message
    again = pki.step(
        "ca",
        "revoke",
        str(cert.serial_number),
        "--provisioner-password-file",
        str(pki.password_file),
        check=False,
    )
    assert "already revoked" in assert_one_line_error(again)


def test_revoke_with_the_certificate_itself(session_ca: CAProcess, tmp_path: Path) -> None:
    pki = session_ca.pki
    crt, key, cert = issue(session_ca, tmp_path)
    pki.step("ca", "revoke", "--cert", str(crt), "--key", str(key))
    status, body = session_ca.request("POST", "/1.0/renew", context=mtls(session_ca, crt, key))
    assert status == 401 and "revoked" in body["message"]


def test_revoke_token_must_name_the_serial(session_ca: CAProcess, tmp_path: Path) -> None:
    _, _, cert = issue(session_ca, tmp_path)
    signer = signer_for(session_ca.pki)
    wrong = signer.token("12345", endpoint="revoke", sans=None)
    status, body = session_ca.request(
        "POST", "/1.0/revoke", {"serial": str(cert.serial_number), "ott": wrong, "passive": True}
    )
    assert status == 401, body
    sign_audience = signer.token(str(cert.serial_number))
    status, _ = session_ca.request(
        "POST", "/1.0/revoke", {"serial": str(cert.serial_number), "ott": sign_audience}
    )
    assert status == 401
    status, body = session_ca.request("POST", "/1.0/revoke", {"serial": "12345"})
    assert status == 401 and "token or a client certificate" in body["message"]
    status, body = session_ca.request(
        "POST",
        "/1.0/revoke",
        {
            "serial": str(cert.serial_number),
            "ott": signer.token(str(cert.serial_number), endpoint="revoke"),
            "reasonCode": 7,
        },
    )
    assert status == 400 and "reasonCode" in body["message"]


def test_mtls_revoke_of_another_serial_is_refused(session_ca: CAProcess, tmp_path: Path) -> None:
    crt, key, _ = issue(session_ca, tmp_path, "a.example.com")
    _, _, other = issue(session_ca, tmp_path, "b.example.com")
    status, body = session_ca.request(
        "POST",
        "/1.0/revoke",
        {"serial": str(other.serial_number), "passive": True},
        context=mtls(session_ca, crt, key),
    )
    assert status == 401 and "does not match" in body["message"]


def test_unknown_certificate_cannot_renew(session_ca: CAProcess, tmp_path: Path) -> None:
    """Signed by our intermediate key but never issued by the CA (not in its database)."""
    from stepca.authority.x509_issuer import LeafRequest, X509Issuer
    from stepca.crypto.keys import generate_private_key

    pki = session_ca.pki
    inter = x509.load_pem_x509_certificate(pki.intermediate.read_bytes())
    inter_key = load_private_key(
        (pki.step_path / "secrets" / "intermediate_ca_key").read_bytes(), pki.password_file.read_bytes()
    )
    key = generate_private_key()
    now = datetime.now(UTC)
    cert, _ = X509Issuer(inter, inter_key).issue(
        LeafRequest(
            public_key=key.public_key(),
            common_name="rogue",
            sans=None,
            not_before=now,
            not_after=now + timedelta(hours=1),
            provisioner_extension=b"",
        )
    )
    crt, key_path = tmp_path / "rogue.crt", tmp_path / "rogue.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    status, body = session_ca.request("POST", "/1.0/renew", context=mtls(session_ca, crt, key_path))
    assert status == 401 and "unknown" in body["message"]


def _with_claims(pki: PKI, claims: dict) -> None:
    pki.edit_config(lambda c: c["authority"]["provisioners"][0].update(claims=claims))


def test_disable_renewal(pki: PKI, ca_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _with_claims(pki, {"disableRenewal": True})
    ca = ca_factory(pki, workers=1)
    crt, key, _ = issue(ca, tmp_path)
    line = assert_one_line_error(pki.step("ca", "renew", str(crt), str(key), "--force", check=False))
    assert line.startswith("error renewing certificate: Unauthorized")
    assert "renew is disabled" in line


@pytest.mark.parametrize("allowed", [True, False])
def test_renew_after_expiry_with_x5c_token(pki: PKI, ca_factory, tmp_path: Path, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    _with_claims(pki, {"allowRenewalAfterExpiry": allowed})
    ca = ca_factory(pki, workers=1)
    start = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    crt, key, old = issue(
        ca, tmp_path, notBefore=start.isoformat(), notAfter=(start + timedelta(minutes=10)).isoformat()
    )
    assert old.not_valid_after_utc < datetime.now(UTC)
    result = pki.step("ca", "renew", str(crt), str(key), "--force", check=not allowed and False)
    if allowed:
        assert result.returncode == 0, result.stderr
        new = leaf(crt)
        assert new.not_valid_after_utc > datetime.now(UTC)
        assert new.not_valid_after_utc - new.not_valid_before_utc == timedelta(minutes=10)
    else:
        assert "has expired" in assert_one_line_error(result)


def test_renew_token_replay_and_forgery(pki: PKI, ca_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from stepca.client.token import x5c_token
    from stepca.crypto.keys import generate_private_key

    _with_claims(pki, {"allowRenewalAfterExpiry": True})
    ca = ca_factory(pki, workers=1)
    crt, key, cert = issue(ca, tmp_path)
    der = cert.public_bytes(serialization.Encoding.DER)
    tok = x5c_token(
        subject="svc.example.com",
        audience=f"{pki.url}/1.0/renew",
        chain_ders=[der],
        key=load_private_key(key.read_bytes()),
    )
    assert ca.request("POST", "/1.0/renew", headers={"Authorization": f"Bearer {tok}"})[0] == 201
    status, body = ca.request("POST", "/1.0/renew", headers={"Authorization": f"Bearer {tok}"})
    assert status == 401 and "already used" in body["message"]
    forged = x5c_token(
        subject="svc.example.com",
        audience=f"{pki.url}/1.0/renew",
        chain_ders=[der],
        key=generate_private_key(),
    )
    assert ca.request("POST", "/1.0/renew", headers={"Authorization": f"Bearer {forged}"})[0] == 401


def test_renew_expires_in_skips_fresh_certificate(session_ca: CAProcess, tmp_path: Path) -> None:
    crt, key, old = issue(session_ca, tmp_path)
    out = session_ca.pki.step("ca", "renew", str(crt), str(key), "--force", "--expires-in", "1h")
    assert "not renewed" in out.stderr
    assert leaf(crt).serial_number == old.serial_number
    session_ca.pki.step("ca", "renew", str(crt), str(key), "--force", "--expires-in", "30h")
    assert leaf(crt).serial_number != old.serial_number


def test_renew_daemon_renews_and_execs(session_ca: CAProcess, tmp_path: Path) -> None:
    import subprocess
    import time

    from tests.helpers import STEP

    crt, key, old = issue(session_ca, tmp_path)
    marker = tmp_path / "renewed.txt"
    proc = subprocess.Popen(
        [
            STEP,
            "ca",
            "renew",
            str(crt),
            str(key),
            "--daemon",
            "--renew-period",
            "1s",
            "--exec",
            f"echo done >> {marker}",
        ],
        env=session_ca.pki.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.time() + 20
        while time.time() < deadline and (not marker.exists() or marker.read_text().count("done") < 2):
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert marker.read_text().count("done") >= 2
    assert leaf(crt).serial_number != old.serial_number


def test_next_renewal_is_two_thirds_with_jitter() -> None:
    from stepca.cli.ca_renew import next_renewal

    nb = datetime(2030, 1, 1, tzinfo=UTC)
    na = nb + timedelta(hours=24)
    waits = {next_renewal(nb, na, nb, None) for _ in range(50)}
    assert all(16 * 3600 - 24 * 3600 / 20 <= w <= 16 * 3600 for w in waits)
    assert len(waits) > 1
    assert next_renewal(nb, na, na, None) == 1.0
    assert next_renewal(nb, na, nb, timedelta(seconds=30)) == 30
