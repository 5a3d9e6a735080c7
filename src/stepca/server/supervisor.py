"""The parent process: binds the listening socket, forks one worker per core, relays signals,
restarts a worker that dies, and speaks sd_notify.

SIGHUP is forwarded to every worker, each swaps its configuration in place (no socket is closed,
no worker restarted); the parent reports RELOADING=1 then READY=1 once every worker is done.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from stepca.server import sdnotify
from stepca.server.loader import Loaded, LoadError, Secrets, load
from stepca.server.logs import ServerLog, go_log_line
from stepca.server.worker import WorkerOptions, run_worker

READY_TIMEOUT = 60.0
RESTART_BACKOFF = 1.0
STOP_TIMEOUT = 20.0


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"invalid address {address!r}: expected host:port or :port")
    return host.strip("[]"), int(port)


def bind(address: str) -> socket.socket:
    host, port = parse_address(address)
    if not host and socket.has_dualstack_ipv6():
        sock = socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=2048)
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host or "0.0.0.0", port), family=family, backlog=2048)  # noqa: S104
    sock.setblocking(False)
    return sock


@dataclass
class WorkerSlot:
    index: int
    pid: int = 0
    started: float = 0.0
    ready: bool = False


@dataclass
class Supervisor:
    config_path: Path
    secrets: Secrets
    loaded: Loaded
    workers: int
    log: ServerLog
    sock: socket.socket = field(init=False)
    start_time: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.slots = [WorkerSlot(i) for i in range(self.workers)]
        self._status_r, self._status_w = os.pipe()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._status_r, False)
        self._pending: list[int] = []
        self._stopping = False
        self._reload_waiting: set[int] = set()
        self._reload_started = 0.0

    # ------------------------------------------------------------------ workers

    def _spawn(self, slot: WorkerSlot) -> None:
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, set())
                for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                os.close(self._status_r)
                os.close(self._wake_r)
                os.close(self._wake_w)
                run_worker(
                    WorkerOptions(
                        config_path=self.config_path,
                        secrets=self.secrets,
                        start_time=self.start_time,
                        worker_index=slot.index,
                        status_fd=self._status_w,
                    ),
                    self.sock,
                    self.loaded,
                )
            except BaseException as exc:
                if not isinstance(exc, SystemExit | KeyboardInterrupt):
                    print(
                        go_log_line(f"worker {slot.index} failed: {exc.__class__.__name__}: {exc}"),
                        file=sys.stderr,
                    )
                    code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        slot.pid = pid
        slot.started = time.monotonic()
        slot.ready = False

    def _signal(self, sig: int) -> None:
        for slot in self.slots:
            if slot.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, sig)

    # ------------------------------------------------------------------ main loop

    def run(self) -> int:
        self.sock = bind(self.loaded.config.address)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, self._on_signal)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for slot in self.slots:
            self._spawn(slot)
        sel = selectors.DefaultSelector()
        sel.register(self._status_r, selectors.EVENT_READ, "status")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        announced = False
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            for key, _ in sel.select(timeout=1.0):
                data = os.read(key.fd, 4096) if key.data == "wake" else b""
                del data
                if key.data == "status":
                    self._read_status()
            self._handle_pending()
            if self._stopping:
                return self._shutdown()
            if not announced and all(s.ready for s in self.slots):
                announced = True
                print(
                    go_log_line(f"Serving HTTPS on {self.loaded.config.address} ..."),
                    file=sys.stderr,
                    flush=True,
                )
                sdnotify.ready(f"serving on {self.loaded.config.address}")
            elif not announced and time.monotonic() > deadline:
                print(go_log_line("workers did not become ready in time"), file=sys.stderr, flush=True)
                self._stopping = True
            if self._reload_waiting is not None and self._reload_started and not self._reload_waiting:
                self._reload_started = 0.0
                sdnotify.ready()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._pending.append(signum)

    def _read_status(self) -> None:
        try:
            data = os.read(self._status_r, 4096)
        except BlockingIOError:
            return
        for line in data.decode(errors="replace").split("\n"):
            if not line:
                continue
            kind, _, pid_text = line.partition(":")
            pid = int(pid_text) if pid_text.isdigit() else 0
            for slot in self.slots:
                if slot.pid == pid:
                    if kind == "ready":
                        slot.ready = True
                    elif kind == "reloaded":
                        self._reload_waiting.discard(pid)

    def _handle_pending(self) -> None:
        while self._pending:
            sig = self._pending.pop(0)
            if sig in (signal.SIGTERM, signal.SIGINT):
                self._stopping = True
            elif sig == signal.SIGHUP:
                self._reload()
            elif sig == signal.SIGCHLD:
                self._reap()

    def _reload(self) -> None:
        sdnotify.reloading()
        # keep the parent's view current so a restarted worker starts with the new configuration
        try:
            self.loaded = load(self.config_path, self.secrets)
        except LoadError as exc:
            self.log.error("reload failed: keeping the previous configuration", error=str(exc))
            self.log.flush()
        self._reload_waiting = {s.pid for s in self.slots if s.pid}
        self._reload_started = time.monotonic()
        self._signal(signal.SIGHUP)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for slot in self.slots:
                if slot.pid == pid:
                    slot.pid = 0
                    self._reload_waiting.discard(pid)
                    if not self._stopping:
                        code = os.waitstatus_to_exitcode(status)
                        self.log.error("worker exited; restarting it", worker=slot.index, exit_code=code)
                        self.log.flush()
                        if time.monotonic() - slot.started < RESTART_BACKOFF:
                            time.sleep(RESTART_BACKOFF)
                        self._spawn(slot)

    def _shutdown(self) -> int:
        sdnotify.stopping()
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(s.pid for s in self.slots) and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
                continue
            for slot in self.slots:
                if slot.pid == pid:
                    slot.pid = 0
        self._signal(signal.SIGKILL)
        self.sock.close()
        return 0
