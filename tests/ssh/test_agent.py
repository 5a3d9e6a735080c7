"""`step ssh login` / `step ssh logout` with a real OpenSSH ssh-agent (JWK provisioner here; the
OIDC login is tested in tests/oidc)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import assert_one_line_error, run_step
from tests.ssh.conftest import SSHCA


def ssh_add(sock: str, flag: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh-add", flag], env={**os.environ, "SSH_AUTH_SOCK": sock}, capture_output=True, text=True
    )


def test_login_adds_the_certificate_and_logout_removes_it(ssh_ca: SSHCA, agent: str, tmp_path: Path) -> None:
    env = {**ssh_ca.pki.env, "SSH_AUTH_SOCK": agent}
    pw = str(ssh_ca.pki.password_file)
    out = run_step(
        ["ssh", "login", "alice@example.com", "--provisioner", "admin@example.com",
         "--provisioner-password-file", pw, "--not-after", "1h"],
        env, cwd=tmp_path,
    )  # fmt: skip
    assert "SSH Agent: yes" in out.stderr + out.stdout
    listed = ssh_add(agent, "-l")
    assert listed.returncode == 0 and "ECDSA-CERT" in listed.stdout and "alice@example.com" in listed.stdout
    certs = ssh_add(agent, "-L").stdout
    assert "ecdsa-sha2-nistp256-cert-v01@openssh.com" in certs
    # the certificate the agent holds is for alice's principals, signed by the CA's user key
    line = next(x for x in certs.splitlines() if "-cert-v01@" in x)
    cert_file = tmp_path / "agent-cert.pub"
    cert_file.write_text(line + "\n")
    info = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(cert_file)], capture_output=True, text=True, check=True
    )
    assert "alice" in info.stdout and "alice@example.com" in info.stdout
    assert "user certificate" in info.stdout
    assert not list(tmp_path.glob("id*")), "login writes no key file"

    out = run_step(["ssh", "logout", "alice@example.com"], env, cwd=tmp_path)
    assert "Identity removed" in out.stderr + out.stdout
    assert "no identities" in ssh_add(agent, "-l").stdout.lower()
    again = run_step(["ssh", "logout", "alice@example.com"], env, cwd=tmp_path, check=False)
    assert "no certificate of alice@example.com" in assert_one_line_error(again)


def test_logout_leaves_other_identities(ssh_ca: SSHCA, agent: str, tmp_path: Path) -> None:
    env = {**ssh_ca.pki.env, "SSH_AUTH_SOCK": agent}
    pw = str(ssh_ca.pki.password_file)
    for who in ("alice@example.com", "bob@example.com"):
        run_step(
            ["ssh", "login", who, "--provisioner", "admin@example.com", "--provisioner-password-file", pw],
            env, cwd=tmp_path,
        )  # fmt: skip
    run_step(["ssh", "logout", "bob@example.com"], env, cwd=tmp_path)
    listed = ssh_add(agent, "-l").stdout
    assert "alice@example.com" in listed and "bob@example.com" not in listed
    run_step(["ssh", "logout", "--all"], env, cwd=tmp_path)
    assert "no identities" in ssh_add(agent, "-l").stdout.lower()


def test_login_without_an_agent_is_a_clear_error(ssh_ca: SSHCA, tmp_path: Path) -> None:
    env = {k: v for k, v in ssh_ca.pki.env.items() if k != "SSH_AUTH_SOCK"}
    env["SSH_AUTH_SOCK"] = ""
    out = run_step(["ssh", "login", "alice@example.com"], env, cwd=tmp_path, check=False)
    assert "SSH_AUTH_SOCK is not set" in assert_one_line_error(out)
    env["SSH_AUTH_SOCK"] = str(tmp_path / "nothing.sock")
    out = run_step(["ssh", "login", "alice@example.com"], env, cwd=tmp_path, check=False)
    assert "cannot connect to the ssh-agent" in assert_one_line_error(out)
