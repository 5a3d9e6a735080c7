"""Connections spread evenly over the workers (stepca.server.balance): a burst of keep-alive
connections lands half on each worker, and a worker that stopped answering delays new
connections by at most MAX_DEFER instead of leaving them to the stuck one."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stepca.server.balance import MAX_DEFER, ConnectionShares
from tests.helpers import PKI, CAProcess

CONNECTIONS = 32


def _open(ca: CAProcess) -> ssl.SSLSocket:
    """A TLS connection that has been answered once (so a worker holds it), kept open."""
    raw = socket.create_connection(("127.0.0.1", ca.pki.port), timeout=10)
    conn = ca.ssl_context().wrap_socket(raw, server_hostname="localhost")
    conn.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = conn.recv(4096)
        assert chunk, data
        data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data
    return conn


def _per_worker(ca: CAProcess) -> Counter[int]:
    """Established connections to the CA's port, counted by the process holding them (ss)."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"sport = :{ca.pki.port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Counter(int(pid) for pid in re.findall(r"pid=(\d+)", out))


def test_a_burst_of_connections_is_split_evenly(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=2)
    workers = set(ca.pids())
    assert len(workers) == 2
    for _ in range(3):  # without balancing, a burst often lands 20/12 or worse
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            conns = list(pool.map(lambda _: _open(ca), range(CONNECTIONS)))
        try:
            counts = _per_worker(ca)
            assert set(counts) == workers, counts
            assert sum(counts.values()) == CONNECTIONS, counts
            assert max(counts.values()) - min(counts.values()) <= 2, counts
        finally:
            for conn in conns:
                conn.close()
        time.sleep(0.5)  # the closes reach the workers before the next burst


def test_a_stopped_worker_delays_new_connections_only_briefly(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=2)
    held = [_open(ca) for _ in range(4)]  # both workers hold some
    stopped, serving = ca.pids()
    os.kill(stopped, signal.SIGSTOP)
    try:
        # the serving worker soon holds more than the stopped one: it defers each accept, then
        # takes the connection itself (the stopped worker never accepts)
        started = time.monotonic()
        more = [_open(ca) for _ in range(10)]
        elapsed = time.monotonic() - started
        counts = _per_worker(ca)
        assert counts[serving] >= 10, counts
        assert elapsed < 10 * (MAX_DEFER + 0.2), elapsed
        for conn in more:
            conn.close()
    finally:
        os.kill(stopped, signal.SIGCONT)
        for conn in held:
            conn.close()
    assert ca.request("GET", "/health")[0] == 200


def test_shares_are_seen_across_fork_and_compared_both_ways() -> None:
    shares = ConnectionShares(2)
    pid = os.fork()
    if pid == 0:  # the child writes its slot, as a worker does
        shares.set(1, 5)
        os._exit(0)
    os.waitpid(pid, 0)
    assert shares.counts() == [0, 5]
    assert not shares.ahead(0)  # worker 0 holds fewer: it accepts
    assert shares.ahead(1)  # worker 1 holds more: it lets worker 0 take the next one
    shares.set(0, 5)
    assert not shares.ahead(0) and not shares.ahead(1)  # even: both accept
    alone = ConnectionShares(1)
    alone.set(0, 100)
    assert not alone.ahead(0)  # one worker never defers
    shares.close()
    alone.close()
