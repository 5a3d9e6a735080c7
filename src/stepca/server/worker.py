"""One worker process: an aiohttp server on the shared listening socket, its own database pool,
and in-place reload on SIGHUP (build the new authority beside the old one, swap one reference)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web

from stepca import metrics
from stepca.acme.dnsquery import Resolver
from stepca.acme.service import AcmeService
from stepca.acme.validation import Validator
from stepca.admin import source as admin_source
from stepca.admin.core import AdminCore
from stepca.api.acme import ACME
from stepca.api.admin import ADMIN
from stepca.api.handlers import MAX_BODY
from stepca.api.render import error_response
from stepca.api.revocation import PUBLISHER, RESPONDER
from stepca.api.routes import build_app
from stepca.authority.authority import Authority
from stepca.db.batch import BUSY_WINDOW, AsyncStore
from stepca.db.notify import ADMIN_CHANNEL
from stepca.db.operations import IssueOp, RevokeOp
from stepca.db.store import Store
from stepca.errors import PayloadTooLarge, StepError
from stepca.expiry import TICK as EXPIRY_TICK
from stepca.expiry import ExpiryWarnings
from stepca.jobs import DEFAULT_LEASE_TIME, Job, Scheduler, Scope
from stepca.redact import clean
from stepca.revocation import ocsp
from stepca.revocation.publisher import RevocationPublisher, settings_for
from stepca.server import fastpath, memory, parent
from stepca.server.balance import DEFER_STEP, MAX_DEFER, ConnectionShares
from stepca.server.fastpath import FastPath, FastRequest
from stepca.server.loader import Loaded, LoadError, Secrets, load
from stepca.server.logs import ServerLog
from stepca.server.tls import (
    SERVER_CERT_LIFETIME,
    apply_tls_settings,
    build_server_context,
    check_tls_config,
    issue_server_certificate,
    load_chain_into,
    needs_renewal,
)

#: how often a worker polls the admin set's version (authority.enableAdmin): a change made on any
#: instance is served by every worker within this and the time to build the new registry
ADMIN_POLL_INTERVAL = 0.5
#: how often a worker checks whether its server certificate reached 2/3 of its life
CERT_CHECK_INTERVAL = min(60.0, SERVER_CERT_LIFETIME.total_seconds() / 10)
SHUTDOWN_GRACE = 10.0
#: once the supervisor is gone: in-flight requests get this long, and the process is gone
#: ORPHAN_DEADLINE after noticing it whatever else is still running (issue 10: within 1 s)
ORPHAN_GRACE = 0.3
ORPHAN_DEADLINE = 0.8
#: idle connections (and connections that never send a request) are closed after this
KEEPALIVE_TIMEOUT = 75.0
TLS_HANDSHAKE_TIMEOUT = 10.0
#: a request whose body is unread after an error is drained this long before the close
LINGERING_TIME = 1.0
#: used token ids are forgotten this long after their token's expiry (tokens are refused 1
#: minute after it), checked every ``token_purge_interval`` seconds by one worker of the cluster
TOKEN_PURGE_GRACE = 600
TOKEN_PURGE_INTERVAL = 600.0
LOG_FLUSH_INTERVAL = 0.2
#: how often each worker copies the SQLite WAL back into the database file (off the write path)
CHECKPOINT_INTERVAL = 1.0
#: a full collection after reloads waits for the last of a burst, but no longer than this
REFREEZE_MAX_DELAY = 120.0
#: how often a worker gives its free heap pages back to the OS (stepca.server.memory)
MEMORY_TRIM_INTERVAL = 60.0
#: how often one worker of the cluster purges expired ACME nonces, orders and authorizations
ACME_PURGE_INTERVAL = 600.0
#: a challenge still processing after this long lost its worker: one worker of the cluster
#: validates it again (checked every ACME_RETAKE_INTERVAL seconds; $STEPCA_ACME_STALE_SECONDS)
ACME_RETAKE_INTERVAL = 30.0
#: ACME rows are kept this long after they expired (a client may still poll a finished order)
ACME_PURGE_GRACE = 24 * 3600
#: how often one worker of the cluster checks whether a revocation list is due (at most; a
#: quarter of crl.renewPeriod when that is shorter)
REVOCATION_CHECK_INTERVAL = 60.0


#: how often one worker of the cluster counts the certificates expiring within 24 hours
METRICS_EXPIRING_INTERVAL = 60.0


@dataclass(frozen=True)
class ServerLimits:
    """Bounds a slow or greedy client cannot stretch (``step-ca --body-timeout``,
    ``--max-connections``)."""

    #: seconds to receive a request body once its headers arrived (then 408 and close)
    body_timeout: float = 30.0
    #: open connections per worker; past it the worker stops accepting (the kernel queues them,
    #: another worker may take them) until one closes
    max_connections: int = 1024
    #: ``step-ca --resolver host:port``: the DNS server ACME validation and CAA checks ask
    #: ("" = the system's resolvers)
    acme_resolver: str = ""


#: the application's entry point, as a connection calls it, and what a connection calls first
AppHandler = Callable[[Any], Awaitable[web.StreamResponse]]
BodyGate = Callable[[web.BaseRequest, AppHandler], Awaitable[web.StreamResponse]]


class BodyTimeout(StepError):
    status = 408
    prefix = "The request body was not received in time"


@dataclass
class WorkerOptions:
    config_path: Path
    secrets: Secrets
    start_time: float
    worker_index: int
    #: how many workers the supervisor runs (sizes the database pool)
    workers: int = 1
    #: pipe to the supervisor: "ready:<pid>" once serving, "reloaded:<pid>" after each SIGHUP
    status_fd: int | None = None
    #: seconds between purges of used token ids ($STEPCA_TOKEN_PURGE_INTERVAL)
    token_purge_interval: float = TOKEN_PURGE_INTERVAL
    #: lease time of cluster-wide jobs ($STEPCA_JOB_LEASE_SECONDS)
    job_lease_time: float = DEFAULT_LEASE_TIME
    #: seconds between checks for a due CRL/KRL ($STEPCA_REVOCATION_CHECK_SECONDS)
    revocation_check_interval: float = REVOCATION_CHECK_INTERVAL
    metrics_expiring_interval: float = METRICS_EXPIRING_INTERVAL
    #: seconds between polls of the admin set's version ($STEPCA_ADMIN_POLL_SECONDS)
    admin_poll_interval: float = ADMIN_POLL_INTERVAL

    @staticmethod
    def tuning_from_environment() -> dict[str, float]:
        """Operator knobs read once where the server configures itself (see docs/operating.md)."""
        env = os.environ
        return {
            "token_purge_interval": float(env.get("STEPCA_TOKEN_PURGE_INTERVAL") or TOKEN_PURGE_INTERVAL),
            "job_lease_time": float(env.get("STEPCA_JOB_LEASE_SECONDS") or DEFAULT_LEASE_TIME),
            "revocation_check_interval": float(
                env.get("STEPCA_REVOCATION_CHECK_SECONDS") or REVOCATION_CHECK_INTERVAL
            ),
            "metrics_expiring_interval": float(
                env.get("STEPCA_METRICS_EXPIRING_SECONDS") or METRICS_EXPIRING_INTERVAL
            ),
            "admin_poll_interval": float(env.get("STEPCA_ADMIN_POLL_SECONDS") or ADMIN_POLL_INTERVAL),
        }

    #: the supervisor: this worker exits when it is gone (see ``parent.py``)
    parent_pid: int | None = None
    parent_fd: int | None = None
    limits: ServerLimits = field(default_factory=ServerLimits)
    #: every worker's open connections, shared with the others (see ``balance.py``)
    shares: ConnectionShares | None = None


class Runtime:
    """What handlers see (``AuthorityRef``): the current authority and the logger."""

    def __init__(self, authority: Authority, log: ServerLog) -> None:
        self.current = authority
        self.log = log

    def log_request(
        self, request: web.BaseRequest, status: int, started: float, fields: dict[str, Any]
    ) -> None:
        try:
            self.log.request(request, status, started, fields)
        except Exception as exc:  # a log line must never fail the request it describes
            self.log.error("could not log a request", error=f"{exc.__class__.__name__}: {exc}")

    def log_error(self, request: web.Request, exc: BaseException) -> None:
        self.log.exception(request, exc)


def db_signature(loaded: Loaded) -> str:
    """The ca.json ``db`` block as written: any change to it needs a restart."""
    return json.dumps(loaded.raw.get("db"), sort_keys=True)


def check_config(loaded: Loaded, start_time: float, previous: Loaded | None = None) -> None:
    """Raise ``LoadError`` (one line) if a worker could not serve ``loaded``, or, on reload,
    if it changes what only a restart can change (the database)."""
    if previous is not None and db_signature(loaded) != db_signature(previous):
        raise LoadError(f"{loaded.path}: the db block changed: restart step-ca to use another database")
    try:
        check_tls_config(loaded.config.tls)
        logging.disable(logging.WARNING)  # a dry run: the workers log what building it says
        try:
            build_authority(loaded, None, start_time)
        finally:
            logging.disable(logging.NOTSET)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(str(exc)) from None


def open_store(loaded: Loaded, workers: int = 1) -> tuple[AsyncStore, str | None]:
    """This worker's store. Reader threads (and so pooled connections) shrink as workers grow, so
    a CA stays within a database's connection limit: about ``workers * (readers + 2)``."""
    from stepca.db.engine import make_engine, resolve_target
    from stepca.db.sql import SQLStore

    readers = max(2, min(4, 64 // max(1, workers)))
    target = resolve_target(loaded.config.db, loaded.step_path / "db" / "stepca.db")
    engine = make_engine(target, pool_size=readers + 2)
    # $STEPCA_GROUP_COMMIT_MS: an optional extra wait (ms) before a batch leaves an idle store;
    # $STEPCA_GROUP_COMMIT_BUSY_MS: the wait of a batch that found the store busy (batch.py)
    env = os.environ
    group_window = float(env.get("STEPCA_GROUP_COMMIT_MS", "0") or 0) / 1000
    busy = env.get("STEPCA_GROUP_COMMIT_BUSY_MS", "")
    busy_window = float(busy) / 1000 if busy else BUSY_WINDOW
    store = AsyncStore(SQLStore(engine), readers=readers, group_window=group_window, busy_window=busy_window)
    return store, target.warning


def build_authority(loaded: Loaded, store: Store | None, start_time: float) -> Authority:
    has_ssh = loaded.ssh_host_key is not None or loaded.ssh_user_key is not None
    return Authority(
        config=loaded.config,
        raw_config=loaded.raw,
        roots=loaded.roots,
        federated_roots=loaded.federated_roots,
        intermediate=loaded.intermediate,
        intermediate_key=loaded.intermediate_key,
        store=store,
        start_time=start_time,
        ssh_source=loaded if has_ssh else None,
        step_path=loaded.step_path,
    )


#: how often a worker re-signs the OCSP responses past half their validity (and renews its
#: delegated responder certificate when due)
OCSP_REFRESH_INTERVAL = 30.0
#: successful OCSP answers are logged as one line of counts per worker this often
OCSP_SUMMARY_INTERVAL = 60.0


def _ocsp_settings(loaded: Loaded) -> ocsp.OCSPSettings | None:
    return ocsp.ocsp_settings(loaded.config, loaded.intermediate, loaded.intermediate_key)


def revocation_check_interval(loaded: Loaded, configured: float) -> float:
    """The CRL job's period: ``configured``, or a quarter of the renewal period if shorter."""
    crl = loaded.config.crl
    interval = configured
    if crl is not None and crl.enabled:
        interval = min(interval, crl.renew_after.total_seconds() / 4)
    return max(1.0, interval)


class Worker:
    def __init__(
        self,
        opts: WorkerOptions,
        sock: socket.socket,
        loaded: Loaded,
        insecure_sock: socket.socket | None = None,
        metrics_sock: socket.socket | None = None,
    ) -> None:
        self.opts = opts
        #: Prometheus /metrics (plain HTTP), when enabled: every worker answers for all
        self.metrics_sock = metrics_sock
        if metrics_sock is not None:
            metrics.enable()
        self.sock = sock
        #: the plain-HTTP listener on ``insecureAddress`` (revocation routes only), if any
        self.insecure_sock = insecure_sock
        self.loaded = loaded
        self.log = ServerLog(loaded.config.logger.format)
        route_stdlib_logging(self.log)
        self.store, warning = open_store(loaded, opts.workers)
        if warning and opts.worker_index == 0:
            self.log.warning(warning)
        #: authority.enableAdmin: the provisioner set from the database and its version
        self._admin_docs: list[dict[str, Any]] | None = None
        self._admin_version = 0
        if admin_source.enabled(loaded):
            state = self.store.admin_state_now()
            self._admin_docs, self._admin_version = admin_source.documents(state), state.version
        self.runtime = Runtime(self._build(loaded), self.log)
        self.admin = AdminCore(self.store, lambda: self.loaded, lambda: self.runtime.current.issuer.cert)
        self.ssl_ctx = self._new_context(loaded)
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self.jobs = Scheduler(store=self.store, lease_time=opts.job_lease_time)
        self.jobs.add(Job("flush-log", LOG_FLUSH_INTERVAL, self._flush_logs))
        self.jobs.add(Job("renew-server-certificate", CERT_CHECK_INTERVAL, self._renew_server_cert))
        self.jobs.add(Job("checkpoint", CHECKPOINT_INTERVAL, self.store.checkpoint))
        if memory.available():
            self.jobs.add(Job("release-free-memory", MEMORY_TRIM_INTERVAL, self._release_free_memory))
        self.jobs.add(
            Job("purge-used-tokens", opts.token_purge_interval, self._purge_used_tokens, scope=Scope.CLUSTER)
        )
        # revocation lists: republished after each revocation this worker records, renewed by one
        # worker of the cluster, served from this worker's cache
        self.publisher = RevocationPublisher(self.store)
        self.publisher.configure(*settings_for(loaded, self.runtime.current))
        self.store.after_commit(RevokeOp, self.publisher.on_revocation)
        self.jobs.add(
            Job(
                "renew-revocation-lists",
                revocation_check_interval(loaded, opts.revocation_check_interval),
                self.publisher.renew_due,
                scope=Scope.CLUSTER,
            )
        )
        # ACME: the nonce key and the running validations live across reloads
        self.acme = AcmeService(self.store)
        self.acme.validator = Validator(self.acme, Resolver.parse(opts.limits.acme_resolver))
        self.jobs.add(Job("purge-acme", ACME_PURGE_INTERVAL, self._purge_acme, scope=Scope.CLUSTER))
        self.jobs.add(
            Job(
                "retake-acme-validations",
                float(os.environ.get("STEPCA_ACME_RETAKE_SECONDS") or ACME_RETAKE_INTERVAL),
                self._retake_acme_validations,
                scope=Scope.CLUSTER,
            )
        )
        # the OCSP responder: answers from this worker's memory, replaced on revocations this
        # worker records (the hook) and others record (the poll), re-signed by the refresh job
        self.responder = ocsp.OCSPResponder(self.store)
        self.responder.configure(_ocsp_settings(loaded))
        self.store.after_commit(RevokeOp, self.responder.on_revocation)
        self.jobs.add(Job("ocsp-poll-revocations", ocsp.POLL_INTERVAL, self.responder.poll))
        self.jobs.add(Job("ocsp-refresh", OCSP_REFRESH_INTERVAL, self.responder.refresh))
        self.jobs.add(Job("ocsp-summary", OCSP_SUMMARY_INTERVAL, self._ocsp_summary))
        # certificates nearing their end unrenewed: reported once, by one worker of the cluster
        self.expiry = ExpiryWarnings(self.store)
        self.expiry.configure(loaded.config.expiry_warnings)
        self.jobs.add(Job("expiry-warnings", EXPIRY_TICK, self.expiry.tick, scope=Scope.CLUSTER))
        if metrics_sock is not None:
            self.store.after_commit(IssueOp, metrics.on_issue)
            self.store.after_commit(RevokeOp, metrics.on_revoke)
            self.store.on_commit = metrics.commit
            self.jobs.add(Job("metrics-ocsp", 1.0, self._ocsp_metrics))
            self.jobs.add(
                Job(
                    "metrics-expiring",
                    opts.metrics_expiring_interval,
                    self._expiring_metrics,
                    scope=Scope.CLUSTER,
                    first_run=1.0,
                )
            )
        self.jobs.add(Job("admin-poll", opts.admin_poll_interval, self._poll_admin))
        self._stop_listening: Callable[[], None] | None = None
        self._grace = SHUTDOWN_GRACE
        self._orphan = False
        self._handshaking = 0
        #: the pending full collection after a reload or an admin change (``_release_later``)
        self._refreeze: asyncio.TimerHandle | None = None
        self._refreeze_since = 0.0
        #: connections past their TLS handshake and not yet closed
        self._open = 0
        self._connecting: set[asyncio.Task[None]] = set()

    def _release_later(self, previous: Authority) -> None:
        """The authority a reload or an admin change replaced: its provisioners closed once the
        requests that started on it are done (the grace), then its cycles collected."""
        loop = asyncio.get_running_loop()

        async def release() -> None:
            await previous.provisioners.close()

        loop.call_later(SHUTDOWN_GRACE, lambda: loop.create_task(release()))
        # once the task above let go of ``previous``: one full collection (a pause of ~0.1 s),
        # so a burst of admin changes is collected once, after its last one (at most
        # REFREEZE_MAX_DELAY after its first, so that a steady stream of changes still is)
        now = loop.time()
        if self._refreeze is not None and now - self._refreeze_since <= REFREEZE_MAX_DELAY:
            self._refreeze.cancel()  # postponed to after this one
        else:
            self._refreeze_since = now  # a new burst (a pending one past the cap runs as planned)
        handle: asyncio.TimerHandle | None = None

        def refreeze() -> None:
            if self._refreeze is handle:
                self._refreeze = None
            started = time.perf_counter()
            memory.refreeze()
            self.log.info(
                "collected what the replaced configuration left",
                worker=self.opts.worker_index,
                duration=round(time.perf_counter() - started, 3),
            )

        handle = self._refreeze = loop.call_later(SHUTDOWN_GRACE + 1.0, refreeze)

    def _new_context(self, loaded: Loaded) -> ssl.SSLContext:
        ctx = build_server_context(loaded.config.tls, _trusted(self.runtime.current))
        self._install_server_cert(ctx, self.runtime.current, loaded)
        return ctx

    def _install_server_cert(self, ctx: ssl.SSLContext, authority: Authority, loaded: Loaded) -> None:
        chain, key, nb, na = issue_server_certificate(
            authority.issuer, loaded.config.dns_names, loaded.config.common_name
        )
        load_chain_into(ctx, chain, key)
        self.cert_window: tuple[datetime, datetime] = (nb, na)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_exception)
        app = build_app(self.runtime)
        app[PUBLISHER] = self.publisher
        app[ACME] = self.acme
        app[RESPONDER] = self.responder
        app[ADMIN] = self.admin
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        server = runner.server
        assert server is not None
        insecure_runner = await self._start_insecure()
        metrics_runner = await self._start_metrics()

        fast = FastPath(app, MAX_BODY) if fastpath.enabled() else None

        def protocol() -> web.RequestHandler:
            return _Protocol(
                server,
                self._bounded_body,
                self._connection_opened,
                self._connection_closed,
                fast,
                loop=loop,
                access_log=None,  # aiohttp accepts None: no access log
                keepalive_timeout=KEEPALIVE_TIMEOUT,
                lingering_time=LINGERING_TIME,
            )

        accepting = loop.create_task(self._accept(protocol, server))
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))
        loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        if self.opts.parent_fd is not None:
            loop.add_reader(self.opts.parent_fd, self._check_parent)
        # the supervisor forks us with SIGHUP blocked: a reload asked for while we were starting
        # is delivered now, to the handler above, instead of killing the process
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        if self.opts.parent_pid is not None and parent.parent_gone(self.opts.parent_pid):
            self._orphaned()
        try:  # built at start when the database holds none usable (never on a request)
            await self.publisher.start()
        except Exception as exc:
            self.log.error("could not publish the revocation lists (the CRL job tries again)", error=str(exc))
        self._status("ready")
        await self.runtime.current.provisioners.start()
        self.jobs.start()
        listening = self._listen_admin()
        await self._stopping.wait()
        if listening is not None:
            listening.cancel()
            if self._stop_listening is not None:
                await loop.run_in_executor(None, self._stop_listening)
        # stop accepting first, and close this process's copy of the listening socket
        accepting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await accepting
        self.sock.close()
        await self.jobs.stop()
        server.pre_shutdown()  # idle kept-alive connections close now
        await server.shutdown(self._grace)  # in-flight requests finish (or fail) within the grace
        await runner.cleanup()
        if insecure_runner is not None:
            await insecure_runner.cleanup()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await self.publisher.close()
        if self.acme.validator is not None:
            await self.acme.validator.close()
        await self._ocsp_summary()  # what was answered since the last summary
        await self.expiry.close()
        self.log.flush()
        await loop.run_in_executor(None, self.store.close)

    async def _start_insecure(self) -> web.AppRunner | None:
        """Plain HTTP on ``insecureAddress``: the revocation routes only (a CRL is signed; a
        client fetching it needs no TLS, RFC 5280 4.2.1.13)."""
        if self.insecure_sock is None:
            return None
        app = build_app(self.runtime, insecure=True)
        app[PUBLISHER] = self.publisher
        app[RESPONDER] = self.responder
        app.middlewares.append(self._bounded_body_middleware)  # OCSP requests have bodies
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        await web.SockSite(runner, self.insecure_sock, shutdown_timeout=SHUTDOWN_GRACE).start()
        return runner

    async def _ocsp_metrics(self) -> None:
        metrics.ocsp_counts(self.responder.stats)

    async def _expiring_metrics(self) -> None:
        start, end = metrics.expiring_window()
        for kind in ("x509", "ssh"):
            metrics.expiring(kind, await self.store.count_expiring(kind, start, end))

    async def _start_metrics(self) -> web.AppRunner | None:
        """``GET /metrics`` on ``metricsAddress``: every process's counters, read from their
        files in a thread (a scrape never blocks requests)."""
        if self.metrics_sock is None:
            return None

        async def serve(request: web.Request) -> web.Response:
            body, ctype = await asyncio.get_running_loop().run_in_executor(None, metrics.render)
            return web.Response(body=body, headers={"Content-Type": ctype})

        app = web.Application()
        app.router.add_get("/metrics", serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        await web.SockSite(runner, self.metrics_sock, shutdown_timeout=SHUTDOWN_GRACE).start()
        return runner

    async def _ocsp_summary(self) -> None:
        counts = self.responder.summary()
        if counts is not None:
            self.log.info("ocsp responses", worker=self.opts.worker_index, **counts)

    def _on_sigterm(self) -> None:
        # SIGTERM is also the parent-death signal: tell the two apart by who our parent is
        if self.opts.parent_pid is not None and parent.parent_gone(self.opts.parent_pid):
            self._orphaned()
        else:
            self._stopping.set()

    def _check_parent(self) -> None:
        assert self.opts.parent_fd is not None
        if parent.pipe_closed(self.opts.parent_fd):
            asyncio.get_running_loop().remove_reader(self.opts.parent_fd)
            self._orphaned()

    def _orphaned(self) -> None:
        """The supervisor is gone: stop accepting, give in-flight requests a short grace, exit.
        A watchdog ends the process at ORPHAN_DEADLINE whatever is still running."""
        if self._orphan:
            return
        self._orphan = True
        self._grace = ORPHAN_GRACE
        self.log.warning("the supervisor is gone: this worker exits", worker=self.opts.worker_index)

        def watchdog() -> None:
            time.sleep(ORPHAN_DEADLINE)
            self.log.flush()
            os._exit(1)

        threading.Thread(target=watchdog, name="orphan-watchdog", daemon=True).start()
        self._stopping.set()

    async def _accept(self, protocol: Callable[[], web.RequestHandler], server: web.Server) -> None:
        """Accept on the shared socket while this worker has fewer than ``max_connections``
        open (or in their TLS handshake); past it, leave new ones in the kernel's queue. A
        worker holding more connections than another first lets the other take the next one
        (``balance.py``), for at most ``MAX_DEFER``."""
        loop = asyncio.get_running_loop()
        limit = self.opts.limits.max_connections
        shares, index = self.opts.shares, self.opts.worker_index
        full = False
        while True:
            if self._open + self._handshaking >= limit:
                if not full:
                    full = True
                    self.log.warning("connection limit reached: not accepting until one closes", limit=limit)
                await asyncio.sleep(0.05)
                continue
            full = False
            deferred = 0.0
            while shares is not None and deferred < MAX_DEFER and shares.ahead(index):
                await asyncio.sleep(DEFER_STEP)
                deferred += DEFER_STEP
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError as exc:  # EMFILE and the like: back off instead of spinning
                self.log.warning("accept failed", error=str(exc))
                await asyncio.sleep(0.1)
                continue
            self._handshaking += 1
            self._publish_connections()
            task = loop.create_task(self._connect(protocol, conn))
            self._connecting.add(task)  # a reference, so the task is not collected mid-handshake
            task.add_done_callback(self._connecting.discard)

    def _publish_connections(self) -> None:
        if self.opts.shares is not None:
            self.opts.shares.set(self.opts.worker_index, self._open + self._handshaking)

    def _connection_opened(self) -> None:
        self._open += 1  # before the handshake count drops (``_connect``): never counted short

    def _connection_closed(self) -> None:
        self._open -= 1
        self._publish_connections()

    async def _connect(self, protocol: Callable[[], web.RequestHandler], conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                protocol, conn, ssl=self.ssl_ctx, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            conn.close()  # a failed handshake: nothing to log per connection
        finally:
            self._handshaking -= 1
            self._publish_connections()

    async def _bounded_body(self, request: web.BaseRequest, handler: AppHandler) -> web.StreamResponse:
        """Read the whole body within ``body_timeout`` before any handler runs (a client that
        stalls after its headers cannot hold the connection); a client that goes away
        mid-upload is an info line, not a traceback.

        Called by the connection (``_Protocol``) in front of the application, not as an aiohttp
        middleware: an application with a middleware pays for aiohttp's middleware chain (and
        its ``current_app`` bookkeeping) on every request."""
        if not request.body_exists:
            return await handler(request)
        started = time.perf_counter()
        timeout = self.opts.limits.body_timeout
        try:
            if request.content_length is not None and request.content_length > MAX_BODY:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
            if request.content.is_eof():  # the whole body came with the headers: no timer needed
                await request.read()
            else:
                async with asyncio.timeout(timeout):
                    await request.read()
        except TimeoutError:
            response = error_response(BodyTimeout(f"no complete body after {timeout:g} s"))
            response.force_close()
            self.runtime.log_request(request, 408, started, {"error": "request body timed out"})
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()  # now: not after draining what the client stalls on
            return response
        except web.HTTPRequestEntityTooLarge:
            exc = PayloadTooLarge(f"the request body is larger than {MAX_BODY} bytes")
            self.runtime.log_request(request, 413, started, {"error": exc.detail})
            return error_response(exc)
        except (ConnectionError, aiohttp_payload_errors()) as exc:
            self.log.info(
                "the client went away while sending its body",
                path=clean(request.path),
                remote_address=request.remote,
                error=exc.__class__.__name__,
            )
            return web.Response(status=400)
        return await handler(request)

    @web.middleware
    async def _bounded_body_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """``_bounded_body`` for the apps aiohttp's own sites serve (the plain-HTTP listener)."""
        return await self._bounded_body(request, handler)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        detail = f"{exc.__class__.__name__}: {exc}" if exc is not None else ""
        self.log.error(str(context.get("message") or "event loop error"), error=detail)

    def _status(self, kind: str) -> None:
        if self.opts.status_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.opts.status_fd, f"{kind}:{os.getpid()}\n".encode())

    async def _flush_logs(self) -> None:
        self.log.flush()

    async def _release_free_memory(self) -> None:
        memory.release_free_memory()  # on the loop: taking the arenas' locks, a few ms at most

    async def _purge_used_tokens(self) -> None:
        """Forget used token ids well after their tokens expired, in small chunks (the table
        would otherwise grow by one row per certificate forever)."""
        before = int(time.time()) - TOKEN_PURGE_GRACE
        total = 0
        try:
            while True:
                count = await self.store.purge_used_tokens(before)
                total += count
                if count < 2000:
                    break
                await asyncio.sleep(0.05)  # let writers in between chunks
        except Exception as exc:
            self.log.warning("could not purge used tokens", error=str(exc))
            return
        if total:
            self.log.info("purged used tokens", count=total)

    async def _purge_acme(self) -> None:
        """Forget used ACME nonces, and orders and authorizations a day after they expired
        (step-ca's ACME tables grow forever: smallstep/certificates#473)."""
        try:
            count = await self.store.purge_acme(int(time.time()) - ACME_PURGE_GRACE)
        except Exception as exc:
            self.log.warning("could not purge ACME records", error=str(exc))
            return
        if count:
            self.log.info("purged ACME records", count=count)

    async def _retake_acme_validations(self) -> None:
        stale = float(os.environ.get("STEPCA_ACME_STALE_SECONDS") or 120)
        try:
            count = await self.acme.retake_stale(stale)
        except Exception as exc:
            self.log.warning("could not retake ACME validations", error=str(exc))
            return
        if count:
            self.log.info("validating ACME challenges again (their worker stopped)", count=count)

    async def _renew_server_cert(self) -> None:
        if needs_renewal(*self.cert_window):
            try:
                self._install_server_cert(self.ssl_ctx, self.runtime.current, self.loaded)
                self.log.info("renewed the server certificate")
            except Exception as exc:
                self.log.error("server certificate renewal failed", error=str(exc))

    def _build(self, loaded: Loaded, docs: list[dict[str, Any]] | None = None) -> Authority:
        """The authority of ``loaded``; with remote administration its provisioners are the
        database's (``docs``, or the last set read) instead of ca.json's."""
        docs = docs if docs is not None else self._admin_docs
        if admin_source.enabled(loaded) and docs is not None:
            loaded = admin_source.with_provisioners(loaded, docs)
        return build_authority(loaded, self.store, self.opts.start_time)

    def _listen_admin(self) -> asyncio.Task[None] | None:
        """PostgreSQL: poll at once when an admin change is notified (the 0.5 s poll stays)."""
        if not admin_source.enabled(self.loaded):
            return None
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def notified() -> None:  # on the listener's thread
            loop.call_soon_threadsafe(wake.set)

        self._stop_listening = self.store.listen(ADMIN_CHANNEL, notified)
        if self._stop_listening is None:
            return None

        async def on_notify() -> None:
            while True:
                await wake.wait()
                wake.clear()
                await self._poll_admin()

        return loop.create_task(on_notify(), name="admin-listen")

    async def _poll_admin(self) -> None:
        """One primary-key read; when the admin set's version moved, build the authority with the
        new provisioners beside the current one and swap the reference, as a SIGHUP does (the
        requests in flight finish on the old set)."""
        if not admin_source.enabled(self.loaded):
            return
        try:
            version = await self.store.admin_version()
        except Exception as exc:
            self.log.warning("could not read the admin set's version", error=str(exc))
            return
        if version == self._admin_version:
            return
        async with self._reload_lock:
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            try:
                state = await self.store.admin_state()
            except Exception as exc:  # the next tick reads it again
                self.log.warning("could not read the admin set", error=str(exc))
                return
            try:
                docs = admin_source.documents(state)
                authority = await loop.run_in_executor(None, self._build, self.loaded, docs)
            except Exception as exc:
                # refused at write time, so only a set written by something else: not retried
                # every tick, the next change is loaded again
                self._admin_version = state.version
                self.log.error(
                    "could not load the provisioners of the database: keeping the previous set",
                    error=str(exc),
                )
                return
            await authority.provisioners.start()
            previous, self.runtime.current = self.runtime.current, authority
            self._release_later(previous)
            self._admin_docs, self._admin_version = docs, state.version
            self.log.info(
                "provisioners changed",
                worker=self.opts.worker_index,
                version=state.version,
                provisioners=len(authority.provisioners),
                duration=round(time.perf_counter() - started, 3),
            )

    async def reload(self) -> None:
        """Re-read ca.json from the same path; on any error keep serving the old configuration."""
        done = False
        try:
            done = await self._reload()
        finally:
            self._status("reloaded" if done else "reload-failed")

    async def _reload(self) -> bool:
        async with self._reload_lock:
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            try:
                loaded = await loop.run_in_executor(None, load, self.opts.config_path, self.opts.secrets)
                if db_signature(loaded) != db_signature(self.loaded):
                    raise LoadError(
                        f"{loaded.path}: the db block changed: restart step-ca to use another database"
                    )
                check_tls_config(loaded.config.tls)
                authority = await loop.run_in_executor(None, self._build, loaded)
                chain, key, nb, na = await loop.run_in_executor(
                    None,
                    issue_server_certificate,
                    authority.issuer,
                    loaded.config.dns_names,
                    loaded.config.common_name,
                )
            except Exception as exc:
                self.log.error(
                    "reload failed: keeping the previous configuration",
                    worker=self.opts.worker_index,
                    error=str(exc),
                )
                return False
            await authority.provisioners.start()
            # swap one reference: requests in flight finish on the old authority, new ones use the
            # new one. The listening socket and its SSLContext stay; the context gets the new
            # settings and certificate in place, so only new handshakes see them.
            previous, self.runtime.current = self.runtime.current, authority
            self._release_later(previous)
            self.loaded = loaded
            self.log.format = loaded.config.logger.format
            if self.publisher.configure(*settings_for(loaded, authority)):
                self.publisher.rebuild_soon()
            self.responder.configure(_ocsp_settings(loaded))
            self.expiry.configure(loaded.config.expiry_warnings)
            try:
                apply_tls_settings(self.ssl_ctx, loaded.config.tls, _trusted(authority))
                load_chain_into(self.ssl_ctx, chain, key)
                self.cert_window = (nb, na)
            except Exception as exc:
                self.log.error("could not refresh the TLS settings", error=str(exc))
            self.log.info(
                "reloaded configuration",
                worker=self.opts.worker_index,
                provisioners=len(authority.provisioners),
                duration=round(time.perf_counter() - started, 3),
            )
            self.log.flush()  # before the supervisor reports READY=1
            return True


class _ServerLogHandler(logging.Handler):
    """Library and module loggers (aiohttp, asyncio, stepca.*) write into the server log, so a
    json log stays one JSON object per line."""

    def __init__(self, log: ServerLog) -> None:
        super().__init__(logging.WARNING)
        self.server_log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                fields["error"] = f"{exc.__class__.__name__}: {exc}"
            self.server_log.event(record.levelname.lower(), record.getMessage(), **fields)
        except Exception:
            self.handleError(record)


def route_stdlib_logging(log: ServerLog) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ServerLogHandler):
            root.removeHandler(handler)
    root.addHandler(_ServerLogHandler(log))
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)


def aiohttp_payload_errors() -> type[Exception]:
    """What aiohttp raises from ``request.read()`` when the body ends early."""
    from aiohttp.http_exceptions import HttpProcessingError

    return HttpProcessingError


class _Protocol(web.RequestHandler):
    """aiohttp's protocol, with every request's body read (bounded) before the application sees
    it, and its own error responses (bad request line, bad header) that never quote what the
    client sent: they may hold a token.

    With ``fast``, a connection's plainest issuance requests skip aiohttp (``fastpath.py``) until
    the first bytes that are not one: from then on the connection is aiohttp's."""

    def __init__(
        self,
        manager: web.Server,
        bounded_body: BodyGate,
        on_open: Callable[[], None],
        on_close: Callable[[], None],
        fast: FastPath | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        self._on_open, self._on_close = on_open, on_close
        app_handler = self._request_handler
        assert app_handler is not None

        def handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
            return bounded_body(request, app_handler)

        self._request_handler = handle
        self._fast = fast
        #: the fast request being answered, and what arrived meanwhile
        self._fast_task: asyncio.Task[None] | None = None
        self._fast_pending = bytearray()
        self._fast_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._on_open()
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._on_close()

    def data_received(self, data: bytes) -> None:
        if self._fast is None:
            super().data_received(data)
            return
        if self._force_close or self._close or not data:
            return
        if self._fast_task is not None:  # answered in order: after the one in flight
            self._fast_pending += data
            if len(self._fast_pending) > MAX_BODY + fastpath.MAX_HEAD and self.transport is not None:
                self._fast_paused = True
                self.transport.pause_reading()
            return
        self._fast_feed(data)

    def _fast_feed(self, data: bytes | bytearray) -> None:
        assert self._fast is not None
        taken = self._fast.take(data, self)
        if taken is None:
            self._fast = None  # aiohttp's from here on, starting at this message boundary
            super().data_received(bytes(data))
            return
        handler, request, rest = taken
        self._fast_pending = bytearray(rest)
        # as aiohttp does for a request being handled: the keep-alive timer waits for it
        self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        self._fast_task = self._loop.create_task(self._fast_answer(handler, request))

    async def _fast_answer(self, handler: fastpath.Handler, request: FastRequest) -> None:
        assert self._fast is not None
        fast = self._fast
        try:
            response = await handler(request)
            wire = fast.serialize(response, request.close)
        except BaseException:
            self.force_close()
            raise
        finally:
            self._fast_task = None
        transport = self.transport
        if wire is None or transport is None or transport.is_closing():
            self.force_close()
            return
        body, keep_alive = wire
        transport.write(body)
        if not keep_alive or self._close or self._force_close:
            self.force_close()
            return
        self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        if self._keepalive_handle is None:
            self._keepalive_handle = self._loop.call_at(
                self._next_keepalive_close_time, self._process_keepalive
            )
        pending, self._fast_pending = self._fast_pending, bytearray()
        if self._fast_paused:
            self._fast_paused = False
            transport.resume_reading()
        if pending:
            self._fast_feed(pending)

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        task = self._fast_task
        if task is not None and not task.done():  # the answer in flight is written first
            await asyncio.wait([task], timeout=timeout)
        await super().shutdown(timeout)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        return super().handle_error(request, status, exc, f"{status} {HTTPStatus(status).phrase}")


def _trusted(authority: Authority) -> list[str]:
    """Client certificates may chain to a root or directly to our intermediate."""
    return [*authority.root_pems, authority.issuer.pem]


def run_worker(
    opts: WorkerOptions,
    sock: socket.socket,
    loaded: Loaded,
    insecure_sock: socket.socket | None = None,
    metrics_sock: socket.socket | None = None,
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    worker = Worker(opts, sock, loaded, insecure_sock, metrics_sock)
    memory.freeze_start_up_objects()  # before the first request (see memory.py)
    profile_dir = os.environ.get("STEPCA_PROFILE_DIR")
    if profile_dir:  # developers: cProfile each worker (see docs/benchmarks.md)
        import cProfile

        out = os.path.join(profile_dir, f"worker-{os.getpid()}.prof")
        cProfile.runctx("asyncio.run(worker.run())", globals(), locals(), out)
        return
    asyncio.run(worker.run())
