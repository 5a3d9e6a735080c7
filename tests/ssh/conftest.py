"""One SSH-enabled CA for the SSH tests (``step ca init --ssh``), with two extra JWK provisioners
whose keys the tests hold: ``ssh-test`` (enableSSHCA) and ``no-ssh`` (SSH not enabled)."""

from __future__ import annotations

import base64
import os
import pwd
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from stepca.cli.ca_token import ssh_step_claim
from stepca.client.token import jwk_token
from stepca.crypto.jose import public_jwk
from stepca.crypto.keys import PrivateKey
from stepca.crypto.sshcert import key_blob
from tests.helpers import PKI, CAProcess, free_port, make_pki, start_ca

SSHD = "/usr/sbin/sshd"
needs_sshd = pytest.mark.skipif(
    not Path(SSHD).exists(), reason="OpenSSH server (/usr/sbin/sshd) is not installed"
)


@dataclass
class SSHCA:
    ca: CAProcess
    keys: dict[str, PrivateKey]  # provisioner name -> private key

    @property
    def pki(self) -> PKI:
        return self.ca.pki

    def token(
        self,
        subject: str,
        *,
        provisioner: str = "ssh-test",
        endpoint: str = "ssh/sign",
        host: bool = False,
        principals: tuple[str, ...] = (),
        valid_after: str = "",
        valid_before: str = "",
        step: dict[str, Any] | None = None,
    ) -> str:
        key = self.keys[provisioner]
        if step is None and endpoint == "ssh/sign":
            step = ssh_step_claim(
                subject, host=host, principals=principals, valid_after=valid_after, valid_before=valid_before
            )
        return jwk_token(
            subject=subject,
            issuer=provisioner,
            kid=public_jwk(key)["kid"],
            key=key,
            audience=f"{self.ca.url}/1.0/{endpoint}",
            extra=step,
        )

    def sign(self, public_key: PrivateKey, token: str, **body: Any) -> tuple[int, Any]:
        payload = {"publicKey": base64.b64encode(key_blob(public_key)).decode(), "ott": token, **body}
        return self.ca.request("POST", "/1.0/ssh/sign", payload)


@pytest.fixture(scope="package")
def ssh_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHCA]:
    pki = make_pki(tmp_path_factory.mktemp("ssh-pki"), ssh=True)
    keys: dict[str, PrivateKey] = {
        "ssh-test": ec.generate_private_key(ec.SECP256R1()),
        "no-ssh": ec.generate_private_key(ec.SECP256R1()),
    }

    def add(cfg: dict[str, Any]) -> None:
        provs = cfg["authority"]["provisioners"]
        provs.append(
            {
                "type": "JWK",
                "name": "ssh-test",
                "key": public_jwk(keys["ssh-test"]),
                "claims": {"enableSSHCA": True},
            }
        )
        provs.append({"type": "JWK", "name": "no-ssh", "key": public_jwk(keys["no-ssh"])})

    pki.edit_config(add)
    ca = start_ca(pki, workers=2)
    yield SSHCA(ca, keys)
    ca.stop()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# ---------------------------------------------------------------------------------- OpenSSH

LOGIN_USER = pwd.getpwuid(os.getuid()).pw_name


@dataclass
class SSHServer:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def ssh(
        self,
        identity: Path,
        *,
        known_hosts: Path | None = None,
        user: str = LOGIN_USER,
        extra: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        """``ssh ... user@127.0.0.1 true`` with this identity and its ``-cert.pub``."""
        strict = ("-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes")
        lax = ("-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no")
        args = [
            "ssh", "-F", "/dev/null",
            "-o", f"IdentityFile={identity}",
            "-o", f"CertificateFile={identity}-cert.pub",
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=10",
            *(strict if known_hosts else lax),
            *extra,
            "-p", str(self.port),
            f"{user}@127.0.0.1",
            "true",
        ]  # fmt: skip
        return subprocess.run(args, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[str]:
    """A real ``ssh-agent -D`` on a socket of its own; yields the socket path (SSH_AUTH_SOCK)."""
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        assert time.monotonic() < deadline, "ssh-agent did not start"
        time.sleep(0.05)
    yield sock
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def sshd_factory(tmp_path: Path) -> Iterator[Callable[..., SSHServer]]:
    """Start ``sshd -D`` on a free loopback port with its own config; stopped at teardown."""
    started: list[SSHServer] = []

    def start(
        host_key: Path, user_ca: Path, host_cert: Path | None = None, extra_lines: tuple[str, ...] = ()
    ) -> SSHServer:
        if os.getuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory
        port = free_port()
        cfg = tmp_path / f"sshd_config_{port}"
        lines = [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"TrustedUserCAKeys {user_ca}",
            f"PidFile {tmp_path / f'sshd_{port}.pid'}",
            "AuthorizedKeysFile none",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "LogLevel VERBOSE",
        ]
        if host_cert is not None:
            lines.append(f"HostCertificate {host_cert}")
        lines.extend(extra_lines)
        cfg.write_text("\n".join(lines) + "\n")
        log = tmp_path / f"sshd_{port}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(cfg)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        server = SSHServer(port, proc, log)
        started.append(server)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"sshd exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return server
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"sshd did not listen on {port}:\n{log.read_text()}")

    yield start
    for server in started:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
