"""Test helpers: run the real `step` CLI, start real `step-ca` processes on free loopback ports.

Nothing here fakes the product: every CA is the real server over real TLS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
STEP = str(BIN / "step")
STEP_CA = str(BIN / "step-ca")
#: files and HTTP bodies made by smallstep's own step 0.19 (see tests/fixtures/step-0.19/README.md)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "step-0.19"

PASSWORD = "test-password-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_step(
    args: list[str],
    env: dict[str, str],
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float = 60,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [STEP, *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"step {' '.join(args)} failed ({result.returncode}):\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """A failed command: non-zero exit, one error line on stderr (after any ✔ progress lines), no traceback."""
    assert result.returncode != 0, result
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr, result.stderr
    assert err, "no error message"
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("✔ ")]
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    return lines[0]


@dataclass
class PKI:
    step_path: Path
    password_file: Path
    port: int
    env: dict[str, str]

    @property
    def ca_json(self) -> Path:
        return self.step_path / "config" / "ca.json"

    @property
    def root(self) -> Path:
        return self.step_path / "certs" / "root_ca.crt"

    @property
    def intermediate(self) -> Path:
        return self.step_path / "certs" / "intermediate_ca.crt"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def config(self) -> dict[str, Any]:
        return json.loads(self.ca_json.read_text())

    def write_config(self, cfg: dict[str, Any]) -> None:
        self.ca_json.write_text(json.dumps(cfg, indent="\t"))

    def edit_config(self, fn: Any) -> None:
        cfg = self.config()
        fn(cfg)
        self.write_config(cfg)

    def provisioner(self) -> dict[str, Any]:
        return self.config()["authority"]["provisioners"][0]

    def step(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_step(list(args), self.env, check=check, input=input)


def make_pki(
    base: Path, *, ssh: bool = False, name: str = "Test", extra_args: list[str] | None = None
) -> PKI:
    step_path = base / "step"
    pw = base / "password.txt"
    pw.write_text(PASSWORD)
    port = free_port()
    env = {**os.environ, "STEPPATH": str(step_path), "HOME": str(base)}
    env.pop("STEPDEBUG", None)
    args = [
        "ca",
        "init",
        "--name",
        name,
        "--dns",
        "localhost",
        "--dns",
        "127.0.0.1",
        "--address",
        f"127.0.0.1:{port}",
        "--provisioner",
        "admin@example.com",
        "--password-file",
        str(pw),
    ]
    if ssh:
        args.append("--ssh")
    run_step(args + (extra_args or []), env)
    return PKI(step_path=step_path, password_file=pw, port=port, env=env)


@dataclass
class CAProcess:
    pki: PKI
    proc: subprocess.Popen[bytes]
    log_path: Path
    workers: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.pki.url

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki.root))

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        context: ssl.SSLContext | None = None,
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=context or self.ssl_context(), timeout=30) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            status = exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_ca(
    pki: PKI,
    *,
    workers: int = 2,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> CAProcess:
    log_path = pki.step_path.parent / f"ca-{time.monotonic_ns()}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            STEP_CA,
            str(pki.ca_json),
            "--password-file",
            str(pki.password_file),
            "--workers",
            str(workers),
            *(extra_args or []),
        ],
        env=env or pki.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    ca = CAProcess(pki=pki, proc=proc, log_path=log_path, workers=workers)
    if wait:
        wait_ready(ca)
    return ca


def wait_ready(ca: CAProcess, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ca.proc.poll() is not None:
            raise AssertionError(f"step-ca exited with {ca.proc.returncode}:\n{ca.log()}")
        if "Serving HTTPS on" in ca.log():
            try:
                status, _ = ca.request("GET", "/health")
                if status == 200:
                    return
            except OSError:
                pass
        time.sleep(0.1)
    ca.stop()
    raise AssertionError(f"step-ca did not become ready:\n{ca.log()}")
