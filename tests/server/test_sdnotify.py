"""sd_notify as systemd's Type=notify sees it: the test listens on $NOTIFY_SOCKET (a unix datagram
socket, with the sender's credentials, as systemd checks NotifyAccess=main)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepca.crypto import jose
from stepca.crypto.keys import generate_private_key
from stepca.server import sdnotify
from tests.helpers import PKI, STEP_CA, start_ca


class NotifySocket:
    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)

    def receive(self, timeout: float = 20) -> tuple[str, int]:
        """(message, sender pid)."""
        self.sock.settimeout(timeout)
        data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
        pid = 0
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", payload[: struct.calcsize("3i")])[0]
        return data.decode(), pid

    def expect(self, state: str, pid: int) -> str:
        message, sender = self.receive()
        assert message.split("\n")[0] == state, message
        assert sender == pid, f"{state} sent by {sender}, not the main process {pid}"
        return message


@pytest.fixture
def notify_socket() -> Iterator[tuple[NotifySocket, str]]:
    directory = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")  # unix socket paths are short
    path = os.path.join(directory, "notify")
    ns = NotifySocket(path)
    yield ns, path
    ns.sock.close()
    os.unlink(path)
    os.rmdir(directory)


def test_ready_reloading_stopping(pki: PKI, notify_socket: tuple[NotifySocket, str]) -> None:
    ns, path = notify_socket
    ca = start_ca(pki, workers=2, env={**pki.env, "NOTIFY_SOCKET": path})
    try:
        pid = ca.proc.pid
        ready = ns.expect("READY=1", pid)
        assert f"STATUS=serving on 127.0.0.1:{pki.port}" in ready

        # a reload: RELOADING=1 (with the time systemd >= 253 wants), then READY=1 once every
        # worker has swapped its configuration
        def add(cfg: dict[str, Any]) -> None:
            cfg["authority"]["provisioners"].append(
                {"type": "JWK", "name": "new", "key": jose.public_jwk(generate_private_key())}
            )

        pki.edit_config(add)
        os.kill(pid, signal.SIGHUP)
        reloading = ns.expect("RELOADING=1", pid)
        usec = int(reloading.split("MONOTONIC_USEC=", 1)[1].split()[0])
        assert abs(usec - time.monotonic_ns() // 1000) < 30_000_000
        ns.expect("READY=1", pid)
        assert ca.log().count("reloaded configuration") == 2

        # a refused reload also ends with READY=1: the CA serves (the previous configuration)
        pki.ca_json.write_text("{ not json")
        os.kill(pid, signal.SIGHUP)
        ns.expect("RELOADING=1", pid)
        assert "the last reload failed" in ns.expect("READY=1", pid)  # systemctl status shows it
        assert "reload failed" in ca.log()

        os.kill(pid, signal.SIGTERM)
        ns.expect("STOPPING=1", pid)
        assert ca.proc.wait(timeout=30) == 0
        # nothing else was sent (workers never talk to systemd)
        with pytest.raises(TimeoutError):
            ns.receive(timeout=0.5)
    finally:
        ca.stop()


def test_notify_without_systemd_and_abstract_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    name = f"stepca-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.stopping() is True
        listener.settimeout(5)
        assert listener.recv(100) == b"STOPPING=1"
    finally:
        listener.close()


UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "step-ca.service"


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_systemd_unit() -> None:
    s = _unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["User"] == ["step"] and s["Group"] == ["step"]
    (exec_start,) = s["ExecStart"]
    assert exec_start.startswith("/usr/local/bin/step-ca /home/step/.step/config/ca.json")
    assert "--password-file=/home/step/.step/pwd" in exec_start
    for hardening in (
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "RestrictAddressFamilies",
        "SystemCallFilter",
        "CapabilityBoundingSet",
    ):
        assert hardening in s, hardening
    assert s["ReadWritePaths"] == ["/home/step/.step/db"]
    if shutil.which("systemd-analyze"):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "step-ca.service"
            copy.write_text(UNIT.read_text().replace("/usr/local/bin/step-ca", STEP_CA))
            result = subprocess.run(
                ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stderr
            assert "step-ca.service" not in result.stderr, result.stderr
