"""SIGHUP reload, as the getting-started guide's "Hot Reload" describes it, against a real step-ca:
same path re-read, password from --password-file or ca.json, a bad ca.json or a changed db block
refused with a log line while the old configuration keeps issuing, every worker reloaded."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from stepca.crypto import jose
from stepca.crypto.keys import generate_private_key
from tests.helpers import PASSWORD, PKI, STEP_CA, CAProcess, wait_ready
from tests.tokens import Signer, csr_for, signer_for


def sighup(ca: CAProcess, timeout: float = 20) -> str:
    """Send SIGHUP to the main process and wait for the outcome: ``"reloaded"`` (every worker
    swapped its configuration) or ``"refused"`` (the main process kept the previous one)."""
    log = ca.log()
    done, refused = log.count("reloaded configuration"), log.count("reload failed")
    os.kill(ca.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = ca.log()
        if log.count("reload failed") > refused:
            time.sleep(0.2)  # let every line of the refusal reach the log
            return "refused"
        if log.count("reloaded configuration") >= done + ca.workers:
            return "reloaded"
        time.sleep(0.05)
    raise AssertionError(f"no reload outcome within {timeout}s:\n{ca.log()[-3000:]}")


def can_issue(ca: CAProcess, signer: Signer | None = None) -> bool:
    csr, _ = csr_for("svc.example.com")
    ott = (signer or signer_for(ca.pki)).token()
    status, _ = ca.request("POST", "/1.0/sign", {"csr": csr, "ott": ott})
    return status == 201


def names(ca: CAProcess) -> list[str]:
    status, body = ca.request("GET", "/provisioners")
    assert status == 200, body
    return [p["name"] for p in body["provisioners"]]


def add_jwk(cfg: dict[str, Any], name: str) -> None:
    cfg["authority"]["provisioners"].append(
        {"type": "JWK", "name": name, "key": jose.public_jwk(generate_private_key())}
    )


def test_reload_picks_up_a_new_provisioner_in_every_worker(pki: PKI, ca_factory: Any, tmp_path: Path) -> None:
    pidfile = tmp_path / "step-ca.pid"
    ca: CAProcess = ca_factory(pki, workers=2, extra_args=["--pidfile", str(pidfile)])
    assert pidfile.read_text() == f"{ca.proc.pid}\n"  # the process to send SIGHUP to
    assert names(ca) == ["admin@example.com"]
    pki.edit_config(lambda c: add_jwk(c, "second"))
    assert names(ca) == ["admin@example.com"]
    assert sighup(ca) == "reloaded"
    # each request may land on either worker: ask several times
    for _ in range(10):
        assert names(ca) == ["admin@example.com", "second"]
    assert can_issue(ca)
    assert ca.proc.poll() is None
    # workers were not restarted: the same processes serve
    assert len(ca.pids()) == 2
    ca.stop()
    assert not pidfile.exists()


def test_broken_ca_json_keeps_serving_the_old_configuration(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=2)
    good = pki.ca_json.read_text()
    signer = signer_for(pki)

    pki.ca_json.write_text(good[: len(good) // 2])  # truncated JSON
    assert sighup(ca) == "refused"
    log = ca.log()
    assert "reload failed: keeping the previous configuration" in log
    assert "invalid JSON at line" in log and str(pki.ca_json) in log
    assert can_issue(ca, signer)
    assert names(ca) == ["admin@example.com"]

    # valid JSON, but a provisioner that reuses the key of another: refused, saying why
    def duplicate_key(cfg: dict[str, Any]) -> None:
        cfg["authority"]["provisioners"].append({**cfg["authority"]["provisioners"][0], "name": "copy"})

    pki.ca_json.write_text(good)
    pki.edit_config(duplicate_key)
    assert sighup(ca) == "refused"
    assert "share key" in ca.log()
    assert can_issue(ca, signer)

    # inconsistent claims: refused
    pki.ca_json.write_text(good)
    pki.edit_config(lambda c: c["authority"].update(claims={"minTLSCertDuration": "48h"}))
    assert sighup(ca) == "refused"
    assert "min (48h0m0s) <= default" in ca.log()
    assert can_issue(ca, signer)

    # an intermediate key the password does not open: refused
    pki.ca_json.write_text(good)
    pki.password_file.write_text("not-the-password")
    assert sighup(ca) == "refused"
    assert "wrong password" in ca.log()
    assert can_issue(ca, signer)

    # fixed: the next SIGHUP reloads
    pki.password_file.write_text(PASSWORD)
    pki.edit_config(lambda c: add_jwk(c, "after-fix"))
    assert sighup(ca) == "reloaded"
    assert names(ca) == ["admin@example.com", "after-fix"]

    # a new address needs a restart: said in the log, the rest of the configuration is applied
    pki.edit_config(lambda c: c.update(address="127.0.0.1:1"))
    pki.edit_config(lambda c: add_jwk(c, "moved"))
    assert sighup(ca) == "reloaded"
    assert "the address changed: restart step-ca to listen on it" in ca.log()
    assert names(ca)[-1] == "moved"
    assert ca.proc.poll() is None


def test_changed_db_block_is_refused(pki: PKI, ca_factory: Any, tmp_path: Path) -> None:
    ca: CAProcess = ca_factory(pki, workers=2)
    pki.edit_config(lambda c: c["db"].update(dataSource=str(tmp_path / "other.db")))
    pki.edit_config(lambda c: add_jwk(c, "not-yet"))
    assert sighup(ca) == "refused"
    log = ca.log()
    assert "the db block changed: restart step-ca to use another database" in log
    assert names(ca) == ["admin@example.com"]
    assert can_issue(ca)
    assert not (tmp_path / "other.db").exists()


def test_reload_uses_the_ca_json_password_field(pki: PKI, tmp_path: Path) -> None:
    """No --password-file: the top-level "password" of ca.json decrypts the key, also on reload."""
    pki.edit_config(lambda c: c.update(password="test-password-123"))
    log_path = tmp_path / "ca.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [STEP_CA, str(pki.ca_json), "--workers", "1"],
            env=pki.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    ca = CAProcess(pki=pki, proc=proc, log_path=log_path, workers=1)
    try:
        wait_ready(ca)
        pki.edit_config(lambda c: add_jwk(c, "second"))
        assert sighup(ca) == "reloaded"
        assert names(ca) == ["admin@example.com", "second"]
        assert can_issue(ca)
    finally:
        ca.stop()


def test_sighup_while_starting_is_not_fatal(pki: PKI, tmp_path: Path) -> None:
    """A reload asked for before the CA serves is done once it serves (never kills a process)."""
    pki.edit_config(lambda c: add_jwk(c, "second"))
    log_path = tmp_path / "ca.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [STEP_CA, str(pki.ca_json), "--password-file", str(pki.password_file), "--workers", "2"],
            env=pki.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    ca = CAProcess(pki=pki, proc=proc, log_path=log_path, workers=2)
    try:
        deadline = time.monotonic() + 20
        # signal each worker as soon as it exists, and then the main process too, several times
        # (before the workers exist, the main process may still be starting its interpreter)
        while "Serving HTTPS on" not in ca.log() and time.monotonic() < deadline:
            assert proc.poll() is None, ca.log()
            workers = ca.pids()
            for pid in [proc.pid, *workers] if workers else []:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)
            time.sleep(0.02)
        wait_ready(ca)
        time.sleep(1)
        assert proc.poll() is None
        assert "worker exited" not in ca.log()
        assert len(ca.pids()) == 2
        assert names(ca) == ["admin@example.com", "second"]
        assert can_issue(ca)
    finally:
        ca.stop()


def test_a_restarted_worker_serves_the_reloaded_configuration(pki: PKI, ca_factory: Any) -> None:
    ca: CAProcess = ca_factory(pki, workers=1)
    pki.edit_config(lambda c: add_jwk(c, "second"))
    assert sighup(ca) == "reloaded"
    (worker,) = ca.pids()
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = ca.pids()
        if pids and pids != [worker]:
            try:
                if names(ca) == ["admin@example.com", "second"]:
                    break
            except OSError:
                pass
        time.sleep(0.1)
    else:
        raise AssertionError(f"the worker was not restarted:\n{ca.log()}")
    assert "worker exited; restarting it" in ca.log()
    assert can_issue(ca)


def test_step_ca_help_documents_operation() -> None:
    out = subprocess.run([STEP_CA, "--help"], capture_output=True, text=True, check=True).stdout
    for text in (
        "CONFIG",
        "--password-file",
        "password",
        "SIGHUP",
        "SIGTERM",
        "db",
        "logger.format",
        "cipherSuites",
        "READY=1",
        "RELOADING=1",
        "--workers",
        "--pidfile",
        "STEPPATH",
    ):
        assert text in out, text


@pytest.mark.slow
def test_a_burst_of_reloads_is_collected_once_after_the_last(pki: PKI, ca_factory: Any) -> None:
    """Start-up objects are frozen out of the cyclic collector (server/memory.py); what a
    replaced configuration leaves is collected by one full collection after the grace that
    follows the last reload of a burst, not one per reload."""
    ca: CAProcess = ca_factory(pki, workers=1)
    assert sighup(ca) == "reloaded"
    time.sleep(1.0)
    assert sighup(ca) == "reloaded"  # within the first one's grace: postpones its collection
    assert can_issue(ca)
    deadline = time.monotonic() + 25
    while "collected what the replaced configuration left" not in ca.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # a second collection (the first reload's) would have come by now
    assert ca.log().count("collected what the replaced configuration left") == 1, ca.log()[-2000:]
    assert can_issue(ca)
