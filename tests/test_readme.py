"""The README's run command works as written, and its tour commands work against it."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

from tests.helpers import free_port, run_step
from tests.pty_session import PtySession

REPO = Path(__file__).resolve().parents[1]


def test_run_ca_script_creates_demo_pki_and_serves(tmp_path: Path) -> None:
    port = free_port()
    step_path = tmp_path / "step"
    env = {**os.environ, "STEPPATH": str(step_path), "HOME": str(tmp_path), "CA_ADDRESS": f"127.0.0.1:{port}"}
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "run-ca.sh")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 600  # the first run may create .venv and install stepca
        while time.time() < deadline and b"Serving HTTPS on" not in (tmp_path / "run.log").read_bytes():
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.2)
        password = step_path / "secrets" / "password"
        assert stat.S_IMODE(password.stat().st_mode) == 0o600
        assert stat.S_IMODE((step_path / "secrets").stat().st_mode) == 0o700
        assert run_step(["ca", "health"], env).stdout == "ok\n"
        # `step ca certificate localhost srv.crt srv.key`: one provisioner, so only the password is asked
        from tests.helpers import STEP

        session = PtySession(
            [STEP, "ca", "certificate", "localhost", "srv.crt", "srv.key"], env, cwd=str(tmp_path)
        )
        session.expect("Please enter the password to decrypt the provisioner key")
        session.sendline(password.read_text().strip())
        assert session.wait() == 0, session.text
        assert "✔ Certificate: srv.crt" in session.text
        assert (tmp_path / "srv.crt").exists()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()
    # a second run reuses the PKI (no new password, no init)
    first_password = (step_path / "secrets" / "password").read_text()
    proc = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "run-ca.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out = b""
        deadline = time.time() + 60
        while time.time() < deadline and b"Serving HTTPS on" not in out:
            out += proc.stdout.read1(4096) if proc.stdout else b""  # type: ignore[attr-defined]
        assert b"Serving HTTPS on" in out and b"Your PKI is ready" not in out
    finally:
        os.killpg(proc.pid, 15)
        proc.communicate(timeout=30)
    assert (step_path / "secrets" / "password").read_text() == first_password
