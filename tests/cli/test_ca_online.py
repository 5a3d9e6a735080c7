"""The online `step ca` commands against a real step-ca: flags, files written, and errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography import x509

from stepca.crypto.jose import CompactJWS
from stepca.crypto.pem import certificate_ders, sha256_fingerprint
from tests.helpers import CAProcess, assert_one_line_error, free_port, run_step


def client_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "STEPPATH": str(tmp_path / "client"), "HOME": str(tmp_path)}


def fingerprint(ca: CAProcess) -> str:
    return sha256_fingerprint(certificate_ders(ca.pki.root.read_bytes())[0])


def test_bootstrap_writes_root_and_defaults(session_ca: CAProcess, tmp_path: Path) -> None:
    env = client_env(tmp_path)
    out = run_step(
        ["ca", "bootstrap", "--ca-url", session_ca.url, "--fingerprint", fingerprint(session_ca)], env
    )
    root = tmp_path / "client" / "certs" / "root_ca.crt"
    assert f"The root certificate has been saved in {root}." in out.stderr
    assert root.read_text() == session_ca.pki.root.read_text()
    defaults = json.loads((tmp_path / "client" / "config" / "defaults.json").read_text())
    assert defaults == {"ca-url": session_ca.url, "fingerprint": fingerprint(session_ca), "root": str(root)}
    # existing files: refused without a terminal unless --force; other keys are kept
    again = run_step(
        ["ca", "bootstrap", "--ca-url", session_ca.url, "--fingerprint", fingerprint(session_ca)],
        env,
        check=False,
    )
    assert "--force" in assert_one_line_error(again)
    path = tmp_path / "client" / "config" / "defaults.json"
    path.write_text(json.dumps({**defaults, "ca-config": "/somewhere/ca.json"}))
    run_step(
        ["ca", "bootstrap", "--ca-url", session_ca.url, "--fingerprint", fingerprint(session_ca), "-f"], env
    )
    assert json.loads(path.read_text())["ca-config"] == "/somewhere/ca.json"
    assert run_step(["ca", "health"], env).stdout == "ok\n"


def test_bootstrap_refuses_a_wrong_fingerprint(session_ca: CAProcess, tmp_path: Path) -> None:
    env = client_env(tmp_path)
    result = run_step(
        ["ca", "bootstrap", "--ca-url", session_ca.url, "--fingerprint", "ab" * 32], env, check=False
    )
    assert "not found" in assert_one_line_error(result)
    assert not (tmp_path / "client" / "certs" / "root_ca.crt").exists()


def test_unreachable_ca_is_one_line(tmp_path: Path, session_ca: CAProcess) -> None:
    env = {**session_ca.pki.env}
    result = run_step(["ca", "health", "--ca-url", f"https://localhost:{free_port()}"], env, check=False)
    assert "cannot connect" in assert_one_line_error(result)
    result = run_step(["ca", "health"], {**client_env(tmp_path)}, check=False)
    assert "--ca-url" in assert_one_line_error(result)


def test_root_roots_federation(session_ca: CAProcess, tmp_path: Path) -> None:
    env = session_ca.pki.env
    root_pem = session_ca.pki.root.read_text()
    assert run_step(["ca", "root"], env).stdout == root_pem
    out = tmp_path / "r.crt"
    run_step(["ca", "root", str(out)], env)
    assert out.read_text() == root_pem
    assert run_step(["ca", "roots"], env).stdout == root_pem
    assert run_step(["ca", "federation"], env).stdout == root_pem
    bad = run_step(["ca", "root", "--fingerprint", "00" * 32], env, check=False)
    assert_one_line_error(bad)


def test_provisioner_list_is_json_like_step(session_ca: CAProcess) -> None:
    out = run_step(["ca", "provisioner", "list"], session_ca.pki.env).stdout
    assert json.loads(out) == [session_ca.pki.provisioner()]
    assert out.startswith('[\n   {\n      "type": "JWK"')


def test_token_flags(session_ca: CAProcess) -> None:
    pki = session_ca.pki
    base = ["ca", "token", "svc.example.com", "--provisioner-password-file", str(pki.password_file)]
    claims = CompactJWS(
        run_step([*base, "--san", "a.example.com", "--san", "10.0.0.1"], pki.env).stdout.strip()
    ).claims()
    assert claims["sans"] == ["a.example.com", "10.0.0.1"] and claims["sub"] == "svc.example.com"
    assert claims["sha"] == fingerprint(session_ca)
    claims = CompactJWS(run_step([*base, "--not-after", "30m"], pki.env).stdout.strip()).claims()
    assert 29 * 60 <= claims["exp"] - claims["iat"] <= 30 * 60 + 2
    claims = CompactJWS(
        run_step(
            ["ca", "token", "1234", "--revoke", "--password-file", str(pki.password_file)], pki.env
        ).stdout.strip()
    ).claims()
    assert claims["aud"] == f"{pki.url}/1.0/revoke" and "sans" not in claims
    no_tty = run_step(["ca", "token", "svc.example.com"], pki.env, check=False)
    assert "--provisioner-password-file" in assert_one_line_error(no_tty)
    wrong = run_step(
        [*base[:3], "--kid", "nope", "--provisioner-password-file", str(pki.password_file)],
        pki.env,
        check=False,
    )
    assert "no JWK or OIDC provisioner" in assert_one_line_error(wrong)
    bad_pw = Path(pki.step_path.parent / "bad-pw")
    bad_pw.write_text("wrong")
    result = run_step([*base[:3], "--provisioner-password-file", str(bad_pw)], pki.env, check=False)
    assert "wrong password" in assert_one_line_error(result)


def test_certificate_flags(session_ca: CAProcess, tmp_path: Path) -> None:
    pki = session_ca.pki
    pw = ["--provisioner-password-file", str(pki.password_file)]
    crt, key = tmp_path / "a.crt", tmp_path / "a.key"
    run_step(
        [
            "ca",
            "certificate",
            "a.example.com",
            str(crt),
            str(key),
            "--san",
            "a.example.com",
            "--san",
            "b.example.com",
            "--kty",
            "RSA",
            "--size",
            "2048",
            "--not-after",
            "1h",
            *pw,
        ],
        pki.env,
    )
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["a.example.com", "b.example.com"]
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert len(certificate_ders(crt.read_bytes())) == 2  # leaf + intermediate
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    exists = run_step(["ca", "certificate", "a.example.com", str(crt), str(key), *pw], pki.env, check=False)
    assert "--force" in assert_one_line_error(exists)
    run_step(
        [
            "ca",
            "certificate",
            "a.example.com",
            str(crt),
            str(key),
            "--kty",
            "EC",
            "--crv",
            "P-384",
            "-f",
            *pw,
        ],
        pki.env,
    )
    assert x509.load_pem_x509_certificate(crt.read_bytes()).public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    bad = run_step(
        [
            "ca",
            "certificate",
            "x",
            str(tmp_path / "x.crt"),
            str(tmp_path / "x.key"),
            "--kty",
            "RSA",
            "--size",
            "1024",
            *pw,
        ],
        pki.env,
        check=False,
    )
    assert "2048" in assert_one_line_error(bad)


def test_sign_a_csr(session_ca: CAProcess, tmp_path: Path) -> None:
    pki = session_ca.pki
    csr, key = tmp_path / "s.csr", tmp_path / "s.key"
    run_step(
        [
            "certificate",
            "create",
            "s.example.com",
            str(csr),
            str(key),
            "--csr",
            "--no-password",
            "--insecure",
            "--san",
            "s.example.com",
            "--san",
            "127.0.0.1",
        ],
        pki.env,
    )
    crt = tmp_path / "s.crt"
    out = run_step(
        ["ca", "sign", str(csr), str(crt), "--provisioner-password-file", str(pki.password_file)], pki.env
    )
    assert f"✔ Certificate: {crt}" in out.stderr
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    assert cert.subject.rfc4514_string() == "CN=s.example.com"
    garbage = tmp_path / "g.csr"
    garbage.write_text("not a csr")
    assert "certificate request" in assert_one_line_error(
        run_step(["ca", "sign", str(garbage), str(tmp_path / "g.crt"), "--token", "x"], pki.env, check=False)
    )
