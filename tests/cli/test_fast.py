"""The click-free fast forms (cli/fast.py) answer exactly like the full command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, STEP

ROOT = str(FIXTURES / "pki" / "certs" / "root_ca.crt")
LEAF = str(FIXTURES / "leaf" / "leaf.crt")

FULL = "import sys; from stepca.cli.main import main; sys.argv = ['step', *sys.argv[1:]]; main()"


def _both(
    args: list[str], tmp_path: Path, stdin: bytes | None = None
) -> tuple[subprocess.CompletedProcess[bytes], ...]:
    env = {**os.environ, "STEPPATH": str(tmp_path / "sp"), "HOME": str(tmp_path)}
    fast = subprocess.run([STEP, *args], env=env, capture_output=True, input=stdin, timeout=30)
    full = subprocess.run(
        [sys.executable, "-c", FULL, *args], env=env, capture_output=True, input=stdin, timeout=30
    )
    return fast, full


@pytest.mark.parametrize(
    "args",
    [
        ["path"],
        ["certificate", "fingerprint", ROOT],
        ["certificate", "fingerprint", "--bundle", LEAF],
        ["certificate", "fingerprint", LEAF, "--format", "base64"],
        ["certificate", "fingerprint", "--format=base64-url", ROOT],
        ["certificate", "fingerprint", "/nonexistent.crt"],
        ["certificate", "fingerprint", str(FIXTURES / "pki" / "config" / "ca.json")],
        ["certificate", "fingerprint", str(FIXTURES)],
    ],
)
def test_fast_forms_match_the_full_cli(args: list[str], tmp_path: Path) -> None:
    fast, full = _both(args, tmp_path)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)


def test_fingerprint_from_stdin(tmp_path: Path) -> None:
    fast, full = _both(["certificate", "fingerprint", "-"], tmp_path, stdin=Path(ROOT).read_bytes())
    assert fast.stdout == full.stdout == (FIXTURES / "cli" / "fingerprint_root.txt").read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ["path", "--help"],
        ["certificate", "fingerprint", ROOT, "--format", "nope"],
        ["certificate", "fingerprint"],
    ],
)
def test_other_forms_go_to_click(args: list[str], tmp_path: Path) -> None:
    fast, full = _both(args, tmp_path)
    assert (fast.returncode, fast.stdout) == (full.returncode, full.stdout)


@pytest.mark.parametrize(
    "text",
    ["/a/b", "/a//b/", "a/./b", "./a", ".", "", "/", "//", "///x", "//x/y", "a/../b", "/a/b/.", "~x", "a//"],
)
def test_step_path_text_normalizes_like_pathlib(text: str) -> None:
    from pathlib import PurePosixPath

    from stepca._fs import _posix_normal

    assert _posix_normal(text) == str(PurePosixPath(text))


def test_step_path_text_equals_step_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from stepca._fs import step_path, step_path_text

    for value in ("~/x//y/", "/tmp/./s", None):
        if value is None:
            monkeypatch.delenv("STEPPATH", raising=False)
        else:
            monkeypatch.setenv("STEPPATH", value)
        assert step_path_text() == str(step_path())
