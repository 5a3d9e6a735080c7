"""Slow and greedy clients (issue 10, item 5): a stalled body is answered 408 and closed within
``--body-timeout``; a client that drops mid-upload is one info line; a worker holds at most
``--max-connections`` connections."""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any

import pytest

from tests.helpers import PKI, CAProcess

HEADERS = (
    b"POST /1.0/sign HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n"
)


def _tls(ca: CAProcess, timeout: float = 5) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", ca.pki.port), timeout=timeout)
    try:
        return ca.ssl_context().wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def _read_all(conn: ssl.SSLSocket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_a_stalled_body_is_closed_within_the_bound(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=1, extra_args=["--body-timeout", "1s"])
    conn = _tls(ca, timeout=10)
    started = time.monotonic()
    conn.sendall(HEADERS + b'{"csr": ')
    data = _read_all(conn)  # returns when the server closes
    elapsed = time.monotonic() - started
    conn.close()
    assert 0.8 < elapsed < 3.0, elapsed
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), data
    assert json.loads(body)["status"] == 408
    assert ca.request("GET", "/health")[0] == 200  # the worker serves on


def test_a_client_that_drops_mid_upload_is_an_info_line(pki: PKI, ca_factory: Any) -> None:
    pki.edit_config(lambda c: c.update(logger={"format": "json"}))
    ca: CAProcess = ca_factory(pki, workers=1)
    conn = _tls(ca)
    conn.sendall(HEADERS + b'{"csr": "abc')
    time.sleep(0.3)
    conn.close()
    time.sleep(0.5)
    assert ca.request("GET", "/health")[0] == 200
    ca.stop()
    records = [json.loads(line) for line in ca.log().splitlines()]
    dropped = [r for r in records if r.get("msg") == "the client went away while sending its body"]
    assert len(dropped) == 1 and dropped[0]["level"] == "info", records
    assert not [r for r in records if r.get("level") == "error"], records
    assert "Traceback" not in ca.log() and "trace" not in ca.log()


def test_connections_per_worker_are_bounded(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=1, extra_args=["--max-connections", "2"])
    first, second = _tls(ca), _tls(ca)
    with pytest.raises((TimeoutError, socket.timeout)):  # queued by the kernel, not served
        _tls(ca, timeout=1.5).close()
    first.close()
    third = _tls(ca, timeout=5)  # a slot is free again
    third.close()
    second.close()
    assert "connection limit reached" in ca.log()


def test_bad_limits_are_one_line_errors(pki: PKI) -> None:
    import subprocess

    from tests.helpers import STEP_CA, assert_one_line_error

    for flag, value in (("--body-timeout", "soon"), ("--body-timeout", "0s"), ("--max-connections", "0")):
        result = subprocess.run(
            [STEP_CA, str(pki.ca_json), "--password-file", str(pki.password_file), flag, value],
            env=pki.env,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        assert flag in assert_one_line_error(result)
