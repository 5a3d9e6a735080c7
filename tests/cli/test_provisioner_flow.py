"""The getting-started guide's "List|Add|Remove Provisioners", as written, against a real step-ca:
the commands without NAME run on a terminal (a pseudo-terminal here) and ask for it."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import time
from pathlib import Path
from typing import Any

from cryptography import x509

from tests.helpers import PKI, STEP, CAProcess

DOWN = "\x1b[B"


def run_in_pty(
    argv: list[str], env: dict[str, str], dialog: list[tuple[str, str]], timeout: float = 60
) -> tuple[int, str]:
    """Run ``argv`` on a pseudo-terminal; for each (text, answer): wait for text, type answer."""
    pid, fd = pty.fork()
    if pid == 0:  # child: becomes the command
        os.execve(argv[0], argv, {**env, "TERM": "xterm"})
    out = b""
    seen = 0
    deadline = time.monotonic() + timeout
    steps = list(dialog)
    try:
        while time.monotonic() < deadline:
            if steps and steps[0][0].encode() in out[seen:]:
                seen = out.index(steps[0][0].encode(), seen) + len(steps[0][0])
                time.sleep(0.2)  # let the prompt finish setting up the terminal
                os.write(fd, steps.pop(0)[1].encode())
                continue
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the command exited
                    break
                if not chunk:
                    break
                out += chunk
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"{argv} timed out; output:\n{out.decode(errors='replace')}")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert not steps, f"never asked {steps[0][0]!r}; output:\n{text}"
    return os.waitstatus_to_exitcode(status), text


def listed(pki: PKI) -> list[dict[str, Any]]:
    return json.loads(pki.step("ca", "provisioner", "list").stdout)


def reload_until(ca: CAProcess, check: Any, timeout: float = 20) -> None:
    os.kill(ca.proc.pid, signal.SIGHUP)  # the guide: kill -1 <pid>
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"the reload did not show the change:\n{ca.log()[-2000:]}")


def test_list_add_remove_provisioners_as_the_guide_does(pki: PKI, ca_factory: Any, tmp_path: Path) -> None:
    ca: CAProcess = ca_factory(pki, workers=2)
    assert [p["name"] for p in listed(pki)] == ["admin@example.com"]

    # $ step ca provisioner add --create   (NAME and the password are asked; empty generates one)
    code, out = run_in_pty(
        [STEP, "ca", "provisioner", "add", "--create"],
        pki.env,
        [("name the new provisioner", "jim@example.com\r"), ("[leave empty and we'll generate one]", "\r")],
    )
    assert code == 0, out
    password = out.split("✔ Password: ", 1)[1].split()[0]
    assert len(password) >= 32 and out.count(password) == 1
    assert "SIGHUP (kill -1 <pid>)" in out

    # nothing changed on the CA until it reloads ...
    assert [p["name"] for p in listed(pki)] == ["admin@example.com"]
    reload_until(ca, lambda: [p["name"] for p in listed(pki)] == ["admin@example.com", "jim@example.com"])
    jim = listed(pki)[1]
    # ... and then Jim's provisioner issues certificates with the generated password
    pw_file = tmp_path / "jim.pw"
    pw_file.write_text(password)
    crt = tmp_path / "jim.crt"
    pki.step(
        "ca", "certificate", "jim.example.com", str(crt), str(tmp_path / "jim.key"),
        "--provisioner", "jim@example.com", "--provisioner-password-file", str(pw_file),
    )  # fmt: skip
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    assert (
        b"jim@example.com"
        in cert.extensions.get_extension_for_oid(
            x509.ObjectIdentifier("1.3.6.1.4.1.37476.9000.64.1")
        ).value.value
    )  # type: ignore[attr-defined]

    # $ step ca provisioner remove --kid <kid>
    pki.step("ca", "provisioner", "remove", "--kid", jim["key"]["kid"])
    assert [p["name"] for p in listed(pki)] == ["admin@example.com", "jim@example.com"]
    reload_until(ca, lambda: [p["name"] for p in listed(pki)] == ["admin@example.com"])

    # Jim gets two provisioners, then forgets both passwords:
    # $ step ca provisioner remove --all   (asks which name)
    for _ in range(2):
        pki.step("ca", "provisioner", "add", "jim@example.com", "--create", "--password-file", str(pw_file))
    reload_until(ca, lambda: len(listed(pki)) == 3)
    code, out = run_in_pty(
        [STEP, "ca", "provisioner", "remove", "--all"],
        pki.env,
        [("remove all provisioners of?", DOWN), ("jim@example.com (2 provisioners)", "\r")],
    )
    assert code == 0, out
    assert out.count("✔ Removed provisioner: jim@example.com (JWK)") == 2
    assert [p["name"] for p in listed(pki)] == ["admin@example.com", "jim@example.com", "jim@example.com"]
    reload_until(ca, lambda: [p["name"] for p in listed(pki)] == ["admin@example.com"])
    assert "reload failed" not in ca.log()
