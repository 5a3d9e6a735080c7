"""Drive an interactive command through a real pseudo-terminal (prompts, arrow-key pickers)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time


class PtySession:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None = None) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            argv,
            env={**env, "TERM": "xterm"},
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.output = ""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.output += data.decode(errors="replace")
        return True

    def expect(self, pattern: str, timeout: float = 20) -> str:
        """Wait until ``pattern`` (a regex) appears in the output after ANSI codes are removed."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, strip_ansi(self.output)):
                return self.output
            if not self._read(0.1) and self.proc.poll() is not None:
                self._read(0.1)
                if re.search(pattern, strip_ansi(self.output)):
                    return self.output
                break
        raise AssertionError(f"did not see {pattern!r}; output so far:\n{strip_ansi(self.output)}")

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def sendline(self, text: str = "") -> None:
        self.send(text + "\r")

    def wait(self, timeout: float = 30) -> int:
        deadline = time.time() + timeout
        while self.proc.poll() is None and time.time() < deadline:
            self._read(0.1)
        while self._read(0.05):
            pass
        if self.proc.poll() is None:
            self.terminate()
            raise AssertionError(f"process did not exit; output:\n{strip_ansi(self.output)}")
        return int(self.proc.returncode)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        os.close(self.master)

    @property
    def text(self) -> str:
        return strip_ansi(self.output)


ARROW_DOWN = "\x1b[B"
ARROW_UP = "\x1b[A"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)
