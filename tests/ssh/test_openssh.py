"""Certificates from our CA used by real OpenSSH: sshd on 127.0.0.1 (own config, free port)
trusting the user CA, and an ssh client trusting the host CA through ``@cert-authority``."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from stepca.crypto.sshcert import authorized_line, certificate_from_blob
from tests.helpers import run_step
from tests.ssh.conftest import LOGIN_USER, SSHCA, SSHServer, needs_sshd, new_key

pytestmark = [pytest.mark.sshd, needs_sshd]


@dataclass
class HostSetup:
    host_key: Path
    host_cert: Path
    user_ca: Path
    known_hosts: Path


@pytest.fixture(scope="module")
def host_setup(ssh_ca: SSHCA, tmp_path_factory: pytest.TempPathFactory) -> HostSetup:
    """What an admin does with step: a host certificate for 127.0.0.1, the user CA key for
    sshd (``step ssh config --roots``), and a client known_hosts (``step ssh config``)."""
    work = tmp_path_factory.mktemp("openssh")
    env = ssh_ca.pki.env
    run_step(
        [
            "ssh", "certificate", "--host", "127.0.0.1", str(work / "ssh_host_ecdsa_key"),
            "--provisioner", "admin@example.com", "--provisioner-password-file", str(ssh_ca.pki.password_file),
            "--no-password", "--insecure",
        ],
        env,
    )  # fmt: skip
    user_ca = work / "user_ca.pub"
    user_ca.write_text(run_step(["ssh", "config", "--roots"], env).stdout)
    run_step(["ssh", "config", "--set", f"User={LOGIN_USER}"], env)
    known_hosts = ssh_ca.pki.step_path / "ssh" / "known_hosts"
    return HostSetup(work / "ssh_host_ecdsa_key", work / "ssh_host_ecdsa_key-cert.pub", user_ca, known_hosts)


@pytest.fixture
def sshd(host_setup: HostSetup, sshd_factory: Callable[..., SSHServer]) -> SSHServer:
    return sshd_factory(host_setup.host_key, host_setup.user_ca, host_setup.host_cert)


def user_identity(ssh_ca: SSHCA, directory: Path, name: str, principal: str, **token_args: str) -> Path:
    """A key and its ``-cert.pub`` from ``step ssh certificate``."""
    run_step(
        [
            "ssh", "certificate", f"{name}@example.com", str(directory / name), "--principal", principal,
            "--provisioner", "admin@example.com", "--provisioner-password-file", str(ssh_ca.pki.password_file),
            "--no-password", "--insecure",
        ],
        ssh_ca.pki.env,
    )  # fmt: skip
    return directory / name


def test_login_with_a_user_certificate(ssh_ca: SSHCA, sshd: SSHServer, tmp_path: Path) -> None:
    identity = user_identity(ssh_ca, tmp_path, "alice", LOGIN_USER)
    result = sshd.ssh(identity)
    assert result.returncode == 0, result.stderr + sshd.log.read_text()
    assert "Accepted publickey for" in sshd.log.read_text()
    assert "ID alice@example.com" in sshd.log.read_text()


def test_client_trusts_the_host_certificate_through_cert_authority(
    ssh_ca: SSHCA, host_setup: HostSetup, sshd: SSHServer, tmp_path: Path
) -> None:
    lines = host_setup.known_hosts.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("@cert-authority * ecdsa-sha2-nistp256 ")
    identity = user_identity(ssh_ca, tmp_path, "alice", LOGIN_USER)
    result = sshd.ssh(identity, known_hosts=host_setup.known_hosts)
    assert result.returncode == 0, result.stderr + sshd.log.read_text()

    # the same client refuses the host when its known_hosts trusts another CA
    other = tmp_path / "known_hosts_other_ca"
    other.write_text(f"@cert-authority * {host_setup.user_ca.read_text()}")
    refused = sshd.ssh(identity, known_hosts=other)
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr


def test_wrong_principal_is_refused(ssh_ca: SSHCA, sshd: SSHServer, tmp_path: Path) -> None:
    identity = user_identity(ssh_ca, tmp_path, "bob", "not-" + LOGIN_USER)
    result = sshd.ssh(identity)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
    assert "Certificate invalid: name is not a listed principal" in sshd.log.read_text()


def test_expired_certificate_is_refused(ssh_ca: SSHCA, sshd: SSHServer, tmp_path: Path) -> None:
    # validity starts in the past so the duration stays above the 5m minimum, and ends in 5s
    key = new_key()
    token = ssh_ca.token("carol@example.com", principals=(LOGIN_USER,), valid_after="-10m", valid_before="5s")
    status, body = ssh_ca.sign(key, token)
    assert status == 201, body
    valid_before = certificate_from_blob(base64.b64decode(body["crt"])).valid_before
    identity = tmp_path / "carol"
    identity.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    identity.chmod(0o600)
    Path(f"{identity}-cert.pub").write_text(authorized_line(base64.b64decode(body["crt"]), "carol"))

    assert sshd.ssh(identity).returncode == 0  # valid now: the refusal below is the expiry
    time.sleep(max(0.0, valid_before + 1 - time.time()))
    result = sshd.ssh(identity)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr
    assert "expired" in sshd.log.read_text()
