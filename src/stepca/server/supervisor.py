"""The parent process: binds the listening socket, forks one worker per core, relays signals,
restarts a worker that dies, and speaks sd_notify.

SIGHUP: the parent re-reads ca.json and checks it the way a worker would build it. A config that
does not load, does not check, or changes the ``db`` block is refused here with one log line, and
the workers keep serving the previous one. Otherwise SIGHUP is forwarded to every worker, and each
swaps its configuration in place (no socket is closed, no worker restarted). systemd hears
RELOADING=1 at the start and READY=1 once every worker is done (or after RELOAD_TIMEOUT).

Workers die with the supervisor (``parent.py``): each gets a parent-death signal and watches the
read end of a pipe whose only write end the supervisor holds.
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
from typing import NoReturn

from stepca.server import parent, sdnotify
from stepca.server.balance import ConnectionShares
from stepca.server.loader import Loaded, LoadError, Secrets, load
from stepca.server.logs import ServerLog
from stepca.server.worker import ServerLimits, WorkerOptions, check_config, run_worker

READY_TIMEOUT = 60.0
RELOAD_TIMEOUT = 60.0
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
    start_time: float = field(default_factory=time.time)
    #: SIGHUPs received before ``run`` (while main() was loading): reloaded once serving
    early_signals: list[int] = field(default_factory=list)
    #: body timeout and connection cap, from the command line
    limits: ServerLimits = field(default_factory=ServerLimits)
    sock: socket.socket = field(init=False)
    #: plain HTTP on ca.json's ``insecureAddress`` (revocation routes only), when set
    insecure_sock: socket.socket | None = field(init=False, default=None)
    #: Prometheus /metrics (ca.json ``metricsAddress`` or ``--metrics-address``), when set
    metrics_address: str = ""
    metrics_sock: socket.socket | None = field(init=False, default=None)
    #: the address being bound (for the error message when it cannot be)
    binding: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.slots = [WorkerSlot(i) for i in range(self.workers)]
        #: each worker's open connections, mapped before the first fork (see ``balance.py``)
        self.shares = ConnectionShares(self.workers)
        #: where the socket listens: ca.json's address at start-up (a reload cannot move it)
        self.address = self.loaded.config.address
        self.insecure_address = self.loaded.config.insecure_address
        self._status_r, self._status_w = os.pipe()
        self._wake_r, self._wake_w = os.pipe()
        #: the workers watch the read end; only this process holds the write end
        self._alive_r, self._alive_w = os.pipe()
        os.set_blocking(self._alive_r, False)
        self._pid = os.getpid()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._status_r, False)
        self._pending: list[int] = []
        self._stopping = False
        self._exit_code = 0
        self._announced = False
        self._reload_waiting: set[int] = set()
        self._reload_failed = 0
        self._reload_deadline = 0.0

    # ------------------------------------------------------------------ workers

    def _spawn(self, slot: WorkerSlot) -> None:
        # fork with SIGHUP blocked: the worker unblocks it once its reload handler is installed,
        # so a reload asked for while it starts is delayed, never fatal
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        self.shares.set(slot.index, 0)  # a new worker holds nothing (its predecessor's are gone)
        pid = os.fork()
        if pid == 0:  # child
            self._child(slot)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        slot.pid = pid
        slot.started = time.monotonic()
        slot.ready = False

    def _child(self, slot: WorkerSlot) -> NoReturn:
        code = 0
        try:
            # first: a supervisor that dies from here on takes this worker with it
            parent.set_death_signal(signal.SIGTERM)
            os.close(self._alive_w)
            if parent.parent_gone(self._pid):  # it died before the line above
                os._exit(0)
            signal.pthread_sigmask(signal.SIG_SETMASK, {signal.SIGHUP})
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
                    workers=self.workers,
                    status_fd=self._status_w,
                    **WorkerOptions.tuning_from_environment(),
                    parent_pid=self._pid,
                    parent_fd=self._alive_r,
                    limits=self.limits,
                    shares=self.shares,
                ),
                self.sock,
                self.loaded,
                self.insecure_sock,
                self.metrics_sock,
            )
        except BaseException as exc:
            if not isinstance(exc, SystemExit | KeyboardInterrupt):
                self.log.error(f"worker {slot.index} failed", error=f"{exc.__class__.__name__}: {exc}")
                code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)

    def _start_metrics(self) -> None:
        """A private directory for every process's counters, made before the first fork (the
        workers find it in their environment); the parent counts worker restarts."""
        import tempfile

        from stepca import metrics

        self._metrics_dir = tempfile.mkdtemp(prefix="stepca-metrics-")  # 0700
        metrics.prepare_directory(self._metrics_dir)
        metrics.enable()

    def _signal(self, sig: int) -> None:
        for slot in self.slots:
            if slot.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, sig)

    # ------------------------------------------------------------------ main loop

    def run(self) -> int:
        self.binding = self.address
        self.sock = bind(self.address)
        if self.insecure_address:
            self.binding = self.insecure_address
            self.insecure_sock = bind(self.insecure_address)
        if self.metrics_address:
            self.binding = self.metrics_address
            self.metrics_sock = bind(self.metrics_address)
            self._start_metrics()
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, self._on_signal)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for slot in self.slots:
            self._spawn(slot)
        sel = selectors.DefaultSelector()
        sel.register(self._status_r, selectors.EVENT_READ, "status")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            for key, _ in sel.select(timeout=1.0):
                if key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(key.fd, 4096)
                else:
                    self._read_status()
            self._handle_pending()
            if self._stopping:
                return self._shutdown()
            if not self._announced:
                if all(s.ready for s in self.slots):
                    self._announce()
                elif time.monotonic() > deadline:
                    self._fatal("workers did not become ready in time")
            self._check_reload_done()

    def _announce(self) -> None:
        self._announced = True
        self.log.notice(f"Serving HTTPS on {self.address} ...")
        if self.insecure_address:
            self.log.notice(f"Serving HTTP on {self.insecure_address} (revocation lists only) ...")
        sdnotify.ready(f"serving on {self.address}")
        self._pending += self.early_signals
        self.early_signals = []

    def _fatal(self, message: str) -> None:
        self.log.error(message)
        self._stopping = True
        self._exit_code = 1

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._pending.append(signum)

    def _read_status(self) -> None:
        try:
            data = os.read(self._status_r, 4096)
        except BlockingIOError:
            return
        for line in data.decode(errors="replace").split("\n"):
            kind, _, pid_text = line.partition(":")
            pid = int(pid_text) if pid_text.isdigit() else 0
            slot = next((s for s in self.slots if pid and s.pid == pid), None)
            if slot is None:
                continue
            if kind == "ready":
                slot.ready = True
            elif kind in ("reloaded", "reload-failed") and pid in self._reload_waiting:
                self._reload_waiting.discard(pid)
                self._reload_failed += kind == "reload-failed"

    def _handle_pending(self) -> None:
        while self._pending:
            sig = self._pending.pop(0)
            if sig in (signal.SIGTERM, signal.SIGINT):
                self._stopping = True
            elif sig == signal.SIGHUP:
                if self._announced:
                    self._reload()
                else:  # still starting: reload once every worker serves
                    self.early_signals.append(sig)
            elif sig == signal.SIGCHLD:
                self._reap()

    # ------------------------------------------------------------------ reload

    def _reload(self) -> None:
        sdnotify.reloading()
        try:
            loaded = load(self.config_path, self.secrets)
            check_config(loaded, self.start_time, previous=self.loaded)
        except LoadError as exc:
            self.log.error("reload failed: keeping the previous configuration", error=str(exc))
            self.log.flush()
            sdnotify.ready(f"serving on {self.address}; the last reload failed (see the log)")
            return
        if loaded.config.insecure_address != self.insecure_address:
            self.log.warning(
                "the insecureAddress changed: restart step-ca to listen on it",
                serving=self.insecure_address,
                configured=loaded.config.insecure_address,
            )
        if loaded.config.address != self.loaded.config.address:
            self.log.warning(
                "the address changed: restart step-ca to listen on it",
                serving=self.address,
                configured=loaded.config.address,
            )
        # the parent's view stays current, so a restarted worker starts with the new configuration
        self.loaded = loaded
        self.log.format = loaded.config.logger.format
        self._reload_waiting = {s.pid for s in self.slots if s.pid}
        self._reload_failed = 0
        self._reload_deadline = time.monotonic() + RELOAD_TIMEOUT
        self._signal(signal.SIGHUP)

    def _check_reload_done(self) -> None:
        if not self._reload_deadline:
            return
        if self._reload_waiting and time.monotonic() < self._reload_deadline:
            return
        if self._reload_waiting:
            self.log.error("reload: some workers did not answer in time", workers=len(self._reload_waiting))
        elif self._reload_failed:
            self.log.error(
                "reload: some workers kept the previous configuration (see their log lines)",
                workers=self._reload_failed,
            )
        self.log.flush()
        self._reload_waiting = set()
        self._reload_deadline = 0.0
        sdnotify.ready(f"serving on {self.address}")

    # ------------------------------------------------------------------ exits

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for slot in self.slots:
                if slot.pid != pid:
                    continue
                slot.pid = 0
                self._reload_waiting.discard(pid)
                if self.metrics_sock is not None:
                    from stepca import metrics

                    metrics.process_dead(pid)
                if self._stopping:
                    continue
                code = os.waitstatus_to_exitcode(status)
                if not self._announced:
                    # a worker that cannot start now will not start on the next try either
                    self._fatal(f"worker {slot.index} exited during start-up (exit code {code})")
                    continue
                self.log.error("worker exited; restarting it", worker=slot.index, exit_code=code)
                if self.metrics_sock is not None:
                    from stepca import metrics

                    metrics.worker_restarted()
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
        if self.insecure_sock is not None:
            self.insecure_sock.close()
        if self.metrics_sock is not None:
            import shutil

            self.metrics_sock.close()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
        self.log.flush()
        return self._exit_code
