"""The seed manual's commands, as written, against our step / step-ca.

Sections: Initializing PKI, Running the CA (password prompt), Configure Your Environment
(fingerprint + bootstrap + health), Let's issue a certificate! (picker flow and the token flow),
inspect, renew, revoke, and Use Custom Claims (2h default, 12h allowed, renew refused).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from tests.helpers import PASSWORD, PKI, STEP, STEP_CA, free_port, run_step, start_ca
from tests.pty_session import ARROW_DOWN, PtySession


def sh(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    bindir = str(Path(STEP).parent)
    full_env = {**env, "PATH": f"{bindir}:{env.get('PATH', '')}"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def init_seed_pki(tmp_path: Path, env: dict[str, str], port: int) -> Path:
    """`step ca init` for the seed's CA in env's STEPPATH; returns the password file."""
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    run_step(
        [
            "ca",
            "init",
            "--name",
            "Seed",
            "--dns",
            "localhost",
            "--address",
            f"127.0.0.1:{port}",
            "--provisioner",
            "admin@example.com",
            "--password-file",
            str(pw),
        ],
        env,
    )
    return pw


def start_with_prompt(pki_env: dict[str, str], step_path: Path, port: int) -> PtySession:
    """`step-ca $STEPPATH/config/ca.json` exactly as the seed runs it: it asks for the password."""
    session = PtySession([STEP_CA, f"{step_path}/config/ca.json"], pki_env)
    session.expect(r"Please enter the password to decrypt .*intermediate_ca_key:")
    session.sendline(PASSWORD)
    session.expect(rf"Serving HTTPS on 127\.0\.0\.1:{port} \.\.\.")
    return session


def test_seed_getting_started(tmp_path: Path) -> None:
    port = free_port()
    remote = tmp_path / "remote"
    env = {**os.environ, "STEPPATH": str(remote), "HOME": str(tmp_path)}
    # step ca init (non-interactive flags; the interactive form is tested in tests/cli)
    pw = init_seed_pki(tmp_path, env, port)
    out = sh(
        "tree $(step path) >/dev/null 2>&1 || true; ls $(step path)/certs $(step path)/config $(step path)/secrets",
        env,
        tmp_path,
    )
    for name in (
        "intermediate_ca.crt",
        "root_ca.crt",
        "ca.json",
        "defaults.json",
        "intermediate_ca_key",
        "root_ca_key",
    ):
        assert name in out.stdout
    server = start_with_prompt(env, remote, port)
    try:
        # Configure Your Environment, from a "local server" (another STEPPATH)
        local = tmp_path / "local"
        local_env = {**os.environ, "STEPPATH": str(local), "HOME": str(tmp_path)}
        kid = json.loads((remote / "config" / "ca.json").read_text())["authority"]["provisioners"][0]["key"][
            "kid"
        ]
        script = f"""
            FP=$(STEPPATH={remote} step certificate fingerprint $(STEPPATH={remote} step path)/certs/root_ca.crt)
            step ca bootstrap --fingerprint $FP --ca-url "https://localhost:{port}"
            cat $(step path)/config/defaults.json
            step ca health
            TOKEN=$(step ca token localhost \\
                --kid {kid} \\
                --ca-url https://localhost:{port} \\
                --root {remote}/certs/root_ca.crt  --password-file {pw})
            step ca certificate "localhost" foo.crt foo.key --token "$TOKEN"
            step certificate inspect foo.crt
        """
        result = sh(script, local_env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert f'"ca-url": "https://localhost:{port}"' in result.stdout
        assert "ok\n" in result.stdout
        assert "Certificate:\n    Data:" in result.stdout
        assert "X509v3 Step Provisioner:" in result.stdout
        assert "✔ Certificate: foo.crt" in result.stderr
        result = sh("step ca renew --force foo.crt foo.key", local_env, tmp_path)
        assert result.returncode == 0, result.stderr
        cert = x509.load_pem_x509_certificate((tmp_path / "foo.crt").read_bytes())
        result = sh(
            f"step ca revoke {cert.serial_number} --provisioner-password-file {pw}", local_env, tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert "has been revoked" in result.stderr
        renewed = sh("step ca renew --force foo.crt foo.key", local_env, tmp_path)
        assert renewed.returncode != 0 and "Unauthorized" in renewed.stderr
    finally:
        server.terminate()


def test_seed_custom_claims_with_picker(tmp_path: Path) -> None:
    """`step ca provisioner add dev --create`, claims 5s/12h/2h + disableRenewal, then the picker flow."""
    port = free_port()
    step_path = tmp_path / "step"
    env = {**os.environ, "STEPPATH": str(step_path), "HOME": str(tmp_path)}
    pw = init_seed_pki(tmp_path, env, port)
    # a second JWK provisioner for dev certs, with the seed's claims added "by hand"
    from stepca.crypto import jose
    from stepca.crypto.keys import generate_private_key

    dev_key = generate_private_key()
    ca_json = step_path / "config" / "ca.json"
    cfg = json.loads(ca_json.read_text())
    cfg["authority"]["provisioners"].append(
        {
            "name": "dev",
            "type": "jwk",
            "key": jose.public_jwk(dev_key),
            "encryptedKey": jose.encrypt_with_password(
                json.dumps(jose.private_jwk(dev_key)).encode(), b"password", p2c=1000
            ),
            "claims": {
                "minTLSCertDuration": "5s",
                "maxTLSCertDuration": "12h",
                "defaultTLSCertDuration": "2h",
                "disableRenewal": True,
            },
        }
    )
    ca_json.write_text(json.dumps(cfg, indent="\t"))
    ca = start_ca(PKI(step_path, pw, port, env), workers=2)
    try:
        picker = PtySession(
            [STEP, "ca", "certificate", "localhost", "site.crt", "site.key"], env, cwd=str(tmp_path)
        )
        picker.expect("What provisioner key do you want to use?")
        picker.expect(r"\(dev\)")
        picker.send(ARROW_DOWN)
        picker.sendline()
        picker.expect("Please enter the password to decrypt the provisioner key")
        picker.sendline("password")
        assert picker.wait() == 0, picker.text
        assert f"✔ CA: https://localhost:{port}" in picker.text
        assert "✔ Certificate: site.crt" in picker.text and "✔ Private Key: site.key" in picker.text
        inspect = json.loads(
            run_step(["certificate", "inspect", "site.crt", "--format", "json"], env, cwd=tmp_path).stdout
        )
        end = datetime.fromisoformat(inspect["validity"]["end"].replace("Z", "+00:00"))
        assert abs(end - datetime.now(UTC) - timedelta(hours=2)) < timedelta(seconds=30)

        def token():
            return run_step(
                [
                    "ca",
                    "token",
                    "localhost",
                    "--provisioner",
                    "dev",
                    "--password-file",
                    str(tmp_path / "devpw"),
                ],
                env,
            ).stdout.strip()

        (tmp_path / "devpw").write_text("password")
        ok = run_step(
            ["ca", "certificate", "localhost", "b.crt", "b.key", "--token", token(), "--not-after", "12h"],
            env,
            cwd=tmp_path,
        )
        assert ok.returncode == 0
        too_long = run_step(
            ["ca", "certificate", "localhost", "c.crt", "c.key", "--token", token(), "--not-after", "13h"],
            env,
            cwd=tmp_path,
            check=False,
        )
        assert too_long.returncode != 0 and "maximum certificate duration of 12h1m0s" in too_long.stderr
        renew = run_step(["ca", "renew", "site.crt", "site.key"], env, cwd=tmp_path, check=False)
        assert renew.returncode != 0
        assert renew.stderr.startswith("error renewing certificate: Unauthorized")
    finally:
        ca.stop()
