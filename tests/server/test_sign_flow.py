"""The seed's "Let's issue a certificate!" flow against a real step-ca."""

from __future__ import annotations

import subprocess

from tests.helpers import CAProcess


def test_health_and_token_certificate(session_ca: CAProcess, tmp_path) -> None:
    pki = session_ca.pki
    assert pki.step("ca", "health").stdout.strip() == "ok"
    token = pki.step(
        "ca", "token", "svc.example.com", "--provisioner-password-file", str(pki.password_file)
    ).stdout.strip()
    crt, key = tmp_path / "svc.crt", tmp_path / "svc.key"
    out = pki.step("ca", "certificate", "svc.example.com", str(crt), str(key), "--token", token)
    assert f"✔ Certificate: {crt}" in out.stderr
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(pki.root), "-untrusted", str(pki.intermediate), str(crt)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    again = pki.step(
        "ca",
        "certificate",
        "svc.example.com",
        str(tmp_path / "b.crt"),
        str(tmp_path / "b.key"),
        "--token",
        token,
        check=False,
    )
    assert again.returncode != 0
    assert "token already used" in again.stderr
