"""A CA tree made by smallstep's own `step ca init` (step 0.19) is served by our step-ca."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, PKI, free_port, run_step, start_ca


@pytest.fixture
def smallstep_pki(tmp_path: Path) -> PKI:
    root = tmp_path / "step-ca"
    shutil.copytree(FIXTURES / "pki", root)
    port = free_port()
    for name in ("ca.json", "defaults.json"):
        path = root / "config" / name
        text = (
            path.read_text().replace("/etc/step-ca", str(root)).replace("127.0.0.1:9443", f"127.0.0.1:{port}")
        )
        path.write_text(text.replace("localhost:9443", f"localhost:{port}"))
    for secret in (root / "secrets").iterdir():
        secret.chmod(0o600)
    env = {**os.environ, "STEPPATH": str(root), "HOME": str(tmp_path)}
    return PKI(step_path=root, password_file=root / "password.txt", port=port, env=env)


def test_smallstep_tree_serves_and_issues(smallstep_pki: PKI, tmp_path: Path) -> None:
    ca = start_ca(smallstep_pki, workers=1)
    try:
        log = ca.log()
        assert "badgerv2" in log and "is not available in stepca" in log
        # bootstrap a fresh client with smallstep's own fingerprint
        client_env = {**os.environ, "STEPPATH": str(tmp_path / "client"), "HOME": str(tmp_path)}
        fp = (FIXTURES / "cli" / "fingerprint_root.txt").read_text().strip()
        run_step(["ca", "bootstrap", "--ca-url", smallstep_pki.url, "--fingerprint", fp], client_env)
        defaults = json.loads((tmp_path / "client" / "config" / "defaults.json").read_text())
        assert defaults["fingerprint"] == fp and defaults["ca-url"] == smallstep_pki.url
        assert run_step(["ca", "health"], client_env).stdout.strip() == "ok"
        listed = json.loads(run_step(["ca", "provisioner", "list"], client_env).stdout)
        assert listed == json.loads((FIXTURES / "cli" / "provisioner_list.json").read_text())
        token = run_step(
            [
                "ca",
                "token",
                "svc.example.com",
                "--provisioner",
                "admin@example.com",
                "--provisioner-password-file",
                str(smallstep_pki.password_file),
            ],
            client_env,
        ).stdout.strip()
        crt = tmp_path / "svc.crt"
        run_step(["ca", "sign", str(FIXTURES / "leaf" / "svc.csr"), str(crt), "--token", token], client_env)
        verify = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(smallstep_pki.root),
                "-untrusted",
                str(smallstep_pki.intermediate),
                str(crt),
            ],
            capture_output=True,
            text=True,
        )
        assert verify.returncode == 0, verify.stderr
        inspect = run_step(["certificate", "inspect", str(crt), "--short"], client_env).stdout
        assert "Provisioner: admin@example.com [ID: afBE...bgGk]" in inspect
        assert "Issuer:      Fixture Intermediate CA" in inspect
    finally:
        ca.stop()
