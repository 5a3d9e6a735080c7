"""`step path`, `step --help`, and what the start-up of the light commands imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, assert_one_line_error, run_step

HEAVY = ("cryptography", "pydantic", "aiohttp", "jwcrypto", "sqlalchemy", "questionary", "uvloop", "orjson")


def _env(tmp_path: Path, steppath: str | None) -> dict[str, str]:
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    env.pop("STEPPATH", None)
    env.pop("STEPDEBUG", None)
    if steppath is not None:
        env["STEPPATH"] = steppath
    return env


def test_path_from_steppath(tmp_path: Path) -> None:
    result = run_step(["path"], _env(tmp_path, str(tmp_path / "custom")))
    assert result.stdout == f"{tmp_path / 'custom'}\n"
    assert result.stderr == ""


def test_path_defaults_to_home_dot_step(tmp_path: Path) -> None:
    assert run_step(["path"], _env(tmp_path, None)).stdout == f"{tmp_path / 'home' / '.step'}\n"
    assert run_step(["path", "--base"], _env(tmp_path, None)).stdout == f"{tmp_path / 'home' / '.step'}\n"
    # an empty STEPPATH is the same as none
    assert run_step(["path"], _env(tmp_path, "")).stdout == f"{tmp_path / 'home' / '.step'}\n"


def test_path_matches_where_ca_init_writes(tmp_path: Path) -> None:
    env = _env(tmp_path, None)
    pw = tmp_path / "pw"
    pw.write_text("a-password")
    run_step(["ca", "init", "--name", "P", "--dns", "p.test", "--address", ":9000", "--provisioner", "p@p.test",
              "--password-file", str(pw)], env)  # fmt: skip
    where = Path(run_step(["path"], env).stdout.strip())
    assert (where / "config" / "ca.json").is_file()
    assert json.loads((where / "config" / "defaults.json").read_text())["root"] == str(
        where / "certs" / "root_ca.crt"
    )


def test_help_and_version(tmp_path: Path) -> None:
    env = _env(tmp_path, None)
    out = run_step(["--help"], env).stdout
    for command in ("ca", "certificate", "crypto", "path"):
        assert f"  {command} " in out
    assert run_step(["version"], env).stdout.startswith("stepca step ")
    assert "fingerprint" in run_step(["certificate", "--help"], env).stdout


def test_unknown_commands_and_options_are_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path, None)
    assert "nope" in assert_one_line_error(run_step(["nope"], env, check=False))
    assert "--bogus" in assert_one_line_error(run_step(["path", "--bogus"], env, check=False))
    line = assert_one_line_error(run_step(["certificate", "fingerprint"], env, check=False))
    assert "CRT_FILE" in line and "step certificate fingerprint" in line


# runs `step ARGS` in-process, then reports which of the HEAVY top-level packages got imported
_PROBE = """
import json, sys
args, heavy = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["step", *args]
from stepca.cli.main import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("MODULES=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["path"],
        ["version"],
        ["certificate", "fingerprint", str(FIXTURES / "pki" / "certs" / "root_ca.crt")],
    ],
    ids=["help", "path", "version", "fingerprint"],
)
def test_light_commands_import_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    """Start-up is a feature: these never load cryptography, pydantic, aiohttp, ..."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(HEAVY)],
        env=_env(tmp_path, None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if x.startswith("MODULES="))
    assert json.loads(line.removeprefix("MODULES=")) == []


def test_fingerprint_does_not_import_cryptography_per_importtime(tmp_path: Path) -> None:
    """The same through `python -X importtime` on the installed `step` entry point."""
    step = Path(sys.executable).parent / "step"
    root = FIXTURES / "pki" / "certs" / "root_ca.crt"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(step), "certificate", "fingerprint", str(root)],
        env=_env(tmp_path, None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (FIXTURES / "cli" / "fingerprint_root.txt").read_text()
    imported = {
        line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "stepca.crypto.pem" in imported  # the probe sees the imports
    assert not {m for m in imported if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize(
    "args", [["path"], ["certificate", "fingerprint", str(FIXTURES / "pki" / "certs" / "root_ca.crt")]]
)
def test_the_installed_step_script_does_not_import_re(tmp_path: Path, args: list[str]) -> None:
    """`re` is 7 ms of start-up: neither the `step` script (bin/step, not pip's generated
    wrapper, which imports it first) nor these commands load it."""
    step = Path(sys.executable).parent / "step"
    assert "import re" not in step.read_text()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(step), *args],
        env=_env(tmp_path, None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "stepca.cli.fast" in imported  # the probe sees the imports
    assert "re" not in imported and "enum" not in imported, sorted(imported)
