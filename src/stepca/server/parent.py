"""A worker must not outlive its supervisor (issue 10, item 4): orphaned workers kept serving a
stale configuration with no one to relay SIGHUP or restart them.

Two mechanisms, because each has a gap the other covers:

- ``PR_SET_PDEATHSIG`` (Linux): the kernel sends the worker SIGTERM when the supervisor dies. It
  is set right after fork; a supervisor that died before that is caught by comparing
  ``getppid()`` with the supervisor's pid.
- a pipe: the supervisor holds its write end and never writes; the worker's event loop watches
  the read end, which reads EOF once every write end is closed, i.e. when the supervisor is
  gone (any platform, any way of dying).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

_PR_SET_PDEATHSIG = 1


def set_death_signal(signum: int) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def parent_gone(parent_pid: int) -> bool:
    """True once the process that forked us is no longer our parent (we were re-parented)."""
    return os.getppid() != parent_pid


def pipe_closed(fd: int) -> bool:
    """Read the watched pipe (it becomes readable only at EOF): True if the writer is gone."""
    try:
        return os.read(fd, 1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
