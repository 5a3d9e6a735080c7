"""Workers die with their supervisor (issue 10, item 4): after ``kill -9`` of ``step-ca``'s main
process no process of that CA is left after 1 s, and the port is free."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PKI, CAProcess


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper does not serve anything)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def _stalled_upload(ca: CAProcess) -> Any:
    """A request in flight: headers sent, the body never completes."""
    raw = socket.create_connection(("127.0.0.1", ca.pki.port), timeout=5)
    conn = ca.ssl_context().wrap_socket(raw, server_hostname="localhost")
    conn.sendall(
        b"POST /1.0/sign HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    return conn


def test_workers_exit_within_a_second_of_the_supervisor_being_killed(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=2)
    workers = ca.pids()
    assert len(workers) == 2 and all(_alive(p) for p in workers)
    in_flight = _stalled_upload(ca)
    time.sleep(0.2)  # the worker is reading its body
    os.kill(ca.proc.pid, signal.SIGKILL)
    ca.proc.wait(timeout=10)
    deadline = time.monotonic() + 1.0
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = [p for p in workers if _alive(p)]
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their supervisor by more than 1 s"
    assert _port_free(pki.port), "the listening port is still held"
    # the request in flight was ended, not left hanging
    in_flight.settimeout(2)
    try:
        assert in_flight.recv(4096) == b""
    except TimeoutError:
        pytest.fail("the request in flight was left hanging")
    except OSError:
        pass  # reset: failed, not hanging
    in_flight.close()
    assert "the supervisor is gone: this worker exits" in ca.log()
