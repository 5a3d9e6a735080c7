"""The SSH KRL: our encoder read back by ssh-keygen, and a real sshd with ``RevokedKeys`` set
to the KRL from ``/ssh/krl`` refusing a revoked user certificate it accepted before."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_public_identity

from stepca.revocation.krl import encode_krl
from tests.helpers import STEP, CAProcess, make_pki, run_step, start_ca
from tests.ssh.conftest import LOGIN_USER, SSHServer, needs_sshd, sshd_factory

__all__ = ["sshd_factory"]  # the fixture, used below


def keygen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ssh-keygen", *args], capture_output=True, text=True, timeout=30)


def _ca_key(tmp_path: Path, name: str) -> tuple[Path, bytes]:
    path = tmp_path / name
    assert keygen("-q", "-t", "ecdsa", "-N", "", "-f", str(path)).returncode == 0
    return path, base64.b64decode(Path(f"{path}.pub").read_text().split()[1])


def test_ssh_keygen_reads_our_krl(tmp_path: Path) -> None:
    user_ca, user_blob = _ca_key(tmp_path, "user_ca")
    host_ca, host_blob = _ca_key(tmp_path, "host_ca")
    krl = tmp_path / "krl"
    krl.write_bytes(
        encode_krl(
            version=42,
            generated=1_700_000_000,
            revoked={user_blob: [7, 3, 4, 5, 6, 100, 2**64 - 1, 0], host_blob: [9]},
            comment="test",
        )
    )
    listed = keygen("-Q", "-l", "-f", str(krl))
    assert listed.returncode == 0, listed.stderr
    assert "# KRL version 42" in listed.stdout and "# Comment: test" in listed.stdout
    sections = listed.stdout.split("# CA key ")[1:]
    assert len(sections) == 2
    listed_serials = sorted(sorted(ln for ln in s.splitlines()[1:] if ln) for s in sections)
    assert listed_serials == [["serial: 100", f"serial: {2**64 - 1}", "serial: 3-7"], ["serial: 9"]]

    # a certificate from the user CA with a revoked serial is revoked; another serial is not
    subject = tmp_path / "id"
    assert keygen("-q", "-t", "ed25519", "-N", "", "-f", str(subject)).returncode == 0
    for serial, revoked in ((5, True), (8, False)):
        assert (
            keygen("-q", "-s", str(user_ca), "-I", "x", "-z", str(serial), f"{subject}.pub").returncode == 0
        )
        checked = keygen("-Q", "-f", str(krl), f"{subject}-cert.pub")
        assert (checked.returncode != 0) == revoked, checked.stdout + checked.stderr
    # serial 9 is revoked only under the host CA
    assert keygen("-q", "-s", str(user_ca), "-I", "x", "-z", "9", f"{subject}.pub").returncode == 0
    assert keygen("-Q", "-f", str(krl), f"{subject}-cert.pub").returncode == 0


@pytest.fixture(scope="module")
def ssh_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CAProcess]:
    pki = make_pki(tmp_path_factory.mktemp("krl-pki"), ssh=True)
    ca = start_ca(pki, workers=2)
    yield ca
    ca.stop()


def _identity(ca: CAProcess, directory: Path, name: str) -> tuple[Path, int]:
    run_step(
        [
            "ssh", "certificate", f"{name}@example.com", str(directory / name), "--principal", LOGIN_USER,
            "--provisioner", "admin@example.com", "--provisioner-password-file", str(ca.pki.password_file),
            "--no-password", "--insecure",
        ],
        ca.pki.env,
    )  # fmt: skip
    line = Path(f"{directory / name}-cert.pub").read_bytes()
    return directory / name, load_ssh_public_identity(line).serial  # type: ignore[union-attr]


def _fetch_krl(ca: CAProcess, out: Path) -> None:
    result = run_step(["ssh", "krl", "--out", str(out)], ca.pki.env)
    assert f"The KRL has been saved in {out}." in result.stderr


@pytest.mark.sshd
@needs_sshd
def test_sshd_refuses_a_revoked_user_certificate(
    ssh_ca: CAProcess, sshd_factory: Callable[..., SSHServer], tmp_path: Path
) -> None:
    env = ssh_ca.pki.env
    user_ca = tmp_path / "user_ca.pub"
    user_ca.write_text(run_step(["ssh", "config", "--roots"], env).stdout)
    host_key = tmp_path / "ssh_host_ed25519_key"
    assert keygen("-q", "-t", "ed25519", "-N", "", "-f", str(host_key)).returncode == 0
    krl = tmp_path / "revoked_keys"
    _fetch_krl(ssh_ca, krl)  # sshd refuses every key when the file is missing: start with ours
    sshd = sshd_factory(host_key, user_ca, extra_lines=(f"RevokedKeys {krl}",))

    alice, serial = _identity(ssh_ca, tmp_path, "alice")
    bob, _ = _identity(ssh_ca, tmp_path, "bob")
    assert sshd.ssh(alice).returncode == 0, sshd.log.read_text()
    assert keygen("-Q", "-f", str(krl), f"{alice}-cert.pub").returncode == 0

    run_step(
        ["ssh", "revoke", str(serial), "--provisioner", "admin@example.com",
         "--provisioner-password-file", str(ssh_ca.pki.password_file)],
        env,
    )  # fmt: skip
    _fetch_krl(ssh_ca, krl)
    refused = sshd.ssh(alice)
    assert refused.returncode == 255
    assert "Permission denied" in refused.stderr
    assert "revoked" in sshd.log.read_text().lower()
    checked = keygen("-Q", "-f", str(krl), f"{alice}-cert.pub")
    assert checked.returncode != 0 and "REVOKED" in checked.stdout
    assert sshd.ssh(bob).returncode == 0  # only the revoked one
    assert keygen("-Q", "-f", str(krl), f"{bob}-cert.pub").returncode == 0


def test_krl_endpoint(ssh_ca: CAProcess) -> None:
    status, body = ssh_ca.request("GET", "/ssh/krl")
    assert status == 200 and isinstance(body, bytes) and body.startswith(b"SSHKRL\n\0")
    status, body = ssh_ca.request("GET", "/1.0/ssh/krl")
    assert status == 200
    printed = subprocess.run([STEP, "ssh", "krl"], env=ssh_ca.pki.env, capture_output=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == body  # stdout is a pipe here: the bytes


def test_krl_without_an_ssh_ca(session_ca: CAProcess) -> None:
    status, body = session_ca.request("GET", "/ssh/krl")
    assert status == 501
    assert "SSH certificate authority is not configured" in body["message"]
