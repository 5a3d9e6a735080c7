"""`step ca init` on a real pseudo-terminal: the prompts, re-asking on bad answers, the generated password."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pexpect
import pytest

from tests.helpers import STEP

TIMEOUT = 60


def spawn(tmp_path: Path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "STEPPATH": str(tmp_path / "step"), "HOME": str(tmp_path), "TERM": "dumb"}
    env.pop("STEPDEBUG", None)
    child = pexpect.spawn(
        STEP, ["ca", "init", *args], env=env, encoding="utf-8", timeout=TIMEOUT, dimensions=(40, 200)
    )
    return child


def finish(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def openssl_opens(key: Path, password: str) -> bool:
    result = subprocess.run(
        ["openssl", "pkey", "-in", key, "-passin", "stdin", "-noout"],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode == 0


def test_answers_every_prompt(tmp_path: Path) -> None:
    child = spawn(tmp_path)
    child.expect("Deployment Type: Standalone")
    child.expect("name your new PKI")
    child.sendline("Prompted Co")
    child.expect("DNS names or IP addresses")
    child.sendline("bad name")  # refused, asked again
    child.expect("not a valid DNS name")
    child.sendline("ca.prompted.test,127.0.0.1")
    child.expect("IP and port")
    child.sendline("nope")
    child.expect("must be host:port")
    child.sendline("127.0.0.1:9555")
    child.expect("first provisioner")
    child.sendline("admin@prompted.test")
    child.expect("Choose a password")
    child.sendline("typed-password-1")
    out = finish(child)
    assert "typed-password-1" not in out  # never echoed
    assert "Your PKI is ready to go" in out

    step_path = tmp_path / "step"
    config = json.loads((step_path / "config" / "ca.json").read_text())
    assert config["dnsNames"] == ["ca.prompted.test", "127.0.0.1"]
    assert config["address"] == "127.0.0.1:9555"
    assert config["authority"]["provisioners"][0]["name"] == "admin@prompted.test"
    root = subprocess.run(
        ["openssl", "x509", "-in", step_path / "certs" / "root_ca.crt", "-noout", "-subject"],
        capture_output=True,
        text=True,
    ).stdout
    assert "O = Prompted Co, CN = Prompted Co Root CA" in root
    assert openssl_opens(step_path / "secrets" / "intermediate_ca_key", "typed-password-1")
    defaults = json.loads((step_path / "config" / "defaults.json").read_text())
    assert defaults["ca-url"] == "https://ca.prompted.test:9555"


def test_empty_password_generates_one_and_prints_it_once(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--name", "Gen", "--dns", "gen.test", "--provisioner", "p@gen.test", "--ssh")
    child.expect("IP and port")
    child.sendline("")  # the default, :443
    child.expect("Choose a password")
    child.sendline("")
    out = finish(child)
    found = re.findall(r"✔ Password: (\S+)", out)
    assert len(found) == 1, out
    password = found[0]
    assert len(password) >= 20
    assert out.count(password) == 1  # printed once, nowhere else
    step_path = tmp_path / "step"
    for key in ("intermediate_ca_key", "root_ca_key", "ssh_user_ca_key", "ssh_host_ca_key"):
        assert openssl_opens(step_path / "secrets" / key, password), key
    assert not openssl_opens(step_path / "secrets" / "intermediate_ca_key", "wrong")
    config = json.loads((step_path / "config" / "ca.json").read_text())
    assert config["address"] == ":443"
    assert json.loads((step_path / "config" / "defaults.json").read_text())["ca-url"] == "https://gen.test"


def test_asks_for_the_existing_root_key_password(tmp_path: Path) -> None:
    """--key under another password than the CA's: on a terminal it is asked for."""
    first = tmp_path / "first"
    first.mkdir()
    pw = first / "pw.txt"
    pw.write_text("first-password")
    env = {**os.environ, "STEPPATH": str(first / "step"), "HOME": str(first)}
    subprocess.run(
        [STEP, "ca", "init", "--name", "First", "--dns", "first.test", "--address", ":9000",
         "--provisioner", "p@first.test", "--password-file", str(pw)],
        env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT,
    )  # fmt: skip
    second = tmp_path / "second"
    second.mkdir()
    child = spawn(
        second,
        "--name", "Second", "--dns", "second.test", "--address", ":9001", "--provisioner", "p@second.test",
        "--root", str(first / "step" / "certs" / "root_ca.crt"),
        "--key", str(first / "step" / "secrets" / "root_ca_key"),
    )  # fmt: skip
    child.expect("Choose a password")
    child.sendline("second-password")
    child.expect("password to decrypt")
    child.sendline("first-password")
    out = finish(child)
    assert "Copying root certificate... done!" in out
    step_path = second / "step"
    assert (step_path / "certs" / "root_ca.crt").read_bytes() == (
        first / "step" / "certs" / "root_ca.crt"
    ).read_bytes()
    assert openssl_opens(step_path / "secrets" / "root_ca_key", "second-password")


@pytest.mark.parametrize("answer", ["\x03"])
def test_interrupt_writes_nothing(tmp_path: Path, answer: str) -> None:
    child = spawn(tmp_path)
    child.expect("name your new PKI")
    child.send(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0 or child.signalstatus is not None
    assert "Traceback" not in str(child.before)
    assert not (tmp_path / "step").exists()
