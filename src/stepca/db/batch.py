"""The async face of the store, with group commit.

Handlers ``await store.apply(op)``. The event loop gathers the operations of one loop iteration
and hands them to the writer thread as one batch; while that batch commits, new operations wait
on the loop and go as the next batch the moment the commit returns. Each batch is one transaction
(one fsync for all), answered as a whole: a certificate is committed before its response is sent,
throughput is not capped by the disk's fsync rate, and the writer thread wakes once per batch,
not once per request. Reads run in a small thread pool so a slow database never blocks the event loop.
While a database server is unavailable the writer waits for it (``SQLStore.reconnect_window``)
and the operations arriving meanwhile queue up for the next batch. Each worker process opens at
most ``readers`` + 2 connections (the writer's, one per reader, one for a fallback transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from stepca.db.acme_records import (
    AccountRecord,
    AuthzRecord,
    ChallengeRecord,
    EABKeyRecord,
    OrderRecord,
)
from stepca.db.operations import Operation, Outcome
from stepca.db.queries import (
    acme,
    admin,
    audit,
    certificates,
    crls,
    dashboard,
    expiry,
    leases,
    revocations,
    tokens,
)
from stepca.db.records import (
    AdminState,
    AuditRecord,
    CertificateQuery,
    CertificateRecord,
    CertificateRow,
    CRLRecord,
    DashboardCounts,
    DashboardSession,
    Lease,
    RevocationRecord,
    RevokedEntry,
    SSHRevokedEntry,
    StoreUnavailable,
)
from stepca.db.sql import SQLStore

log = logging.getLogger("stepca.db")
T = TypeVar("T")

MAX_BATCH = 512
#: a batch that found the store busy (its operations arrived while the previous one committed)
#: waits this long for the requests still being worked on, so that they share its commit: a
#: commit costs the writer about the same CPU for 1 row as for 30 (syscalls, fsync, the GIL
#: taken back after each), and under load that CPU is taken from the event loop. Measured on 2
#: cores (docs/benchmarks.md): 7 operations per commit without the wait, 9-14 with 1-3 ms, and
#: /1.0/sign 1.11x faster with a lower p99. An idle store never waits (see ``group_window``).
BUSY_WINDOW = 0.002
_STOP = object()
#: while the database takes no writes, the writer probes it this often (seconds)
PROBE_INTERVAL = 1.0

Pending = tuple[Operation, "asyncio.Future[Outcome]"]
#: called with an operation once it is committed (see ``AsyncStore.after_commit``)
CommitHook = Callable[[Any], Awaitable[None]]


class AsyncStore:
    """The ``Store`` Protocol over a ``SQLStore``, used from one event loop (a worker's); the
    writer thread only sees whole batches.

    ``group_window`` (seconds) is an optional extra wait before a batch leaves an idle store;
    0 (the default) means the end of the current loop iteration. ``busy_window`` is the wait of
    a batch whose operations arrived while the previous batch committed (``BUSY_WINDOW``).
    """

    def __init__(
        self,
        store: SQLStore,
        *,
        readers: int = 4,
        group_window: float = 0.0,
        busy_window: float = BUSY_WINDOW,
    ) -> None:
        self._sync = store
        self._group_window = group_window
        self._busy_window = busy_window
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="stepca-db-read")
        self._pending: list[Pending] = []
        self._in_flight = False
        self._flush_scheduled = False
        self._hooks: dict[type[Operation], list[CommitHook]] = {}
        #: called from the writer thread after each group commit: (seconds, operations)
        self.on_commit: Callable[[float, int], None] | None = None
        self._writer = threading.Thread(target=self._write_loop, name="stepca-db-write", daemon=True)
        self._writer.start()

    def after_commit(self, op_type: type[Operation], hook: CommitHook) -> None:
        """Await ``hook(op)`` after each ``op_type`` this store commits, before ``apply`` returns.

        The composition root wires what must follow a write wherever it comes from: a revocation
        (``/revoke``, ``/ssh/revoke``, ACME tomorrow) republishes the revocation lists, so the
        revoke answer is sent once the new CRL or KRL is served. A failing hook is logged and
        never fails the operation: it is recorded."""
        self._hooks.setdefault(op_type, []).append(hook)

    async def apply(self, op: Operation) -> Outcome:
        """Run one write operation durably; returns None or the expected error instance."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((op, fut))
        if not self._in_flight and not self._flush_scheduled:
            self._flush_scheduled = True
            if self._group_window > 0:
                loop.call_later(self._group_window, self._flush, loop)
            else:
                loop.call_soon(self._flush, loop)
        outcome = await fut
        if outcome is None:
            for hook in self._hooks.get(type(op), ()):
                try:
                    await hook(op)
                except Exception as exc:
                    log.error("after %s: %s", type(op).__name__, exc)
        return outcome

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, fn, *args)

    async def _read(self, query: Callable[..., T], *args: Any) -> T:
        return await self._in_thread(self._sync.run_query, lambda conn: query(conn, *args))

    async def _write_now(self, write: Callable[..., T], *args: Any) -> T:
        return await self._in_thread(self._sync.write_now, lambda conn: write(conn, *args))

    # ------------------------------------------------------------------ reads

    async def get_certificate(self, serial: str, kind: str = "x509") -> CertificateRecord | None:
        return await self._read(certificates.get, serial, kind)

    async def get_certificate_status(
        self, serial: str, kind: str = "x509"
    ) -> tuple[CertificateRecord | None, bool]:
        return await self._read(certificates.get_with_revocation, serial, kind)

    async def count_certificates(self, kind: str = "x509") -> int:
        return await self._read(certificates.count, kind)

    async def audit_events(self, serial: str = "", limit: int = 100) -> list[dict[str, Any]]:
        return await self._read(audit.events, serial, limit)

    async def list_certificates(self, query: CertificateQuery) -> list[CertificateRow]:
        return await self._read(certificates.list_page, query)

    async def expiry_due(self, now: int, within: int, limit: int = 500) -> list[CertificateRow]:
        return await self._read(expiry.due, now, within, limit)

    async def purge_expiry_notices(self, before: int) -> int:
        return await self._write_now(expiry.purge, before)

    async def dashboard_counts(self, now: int, hours: int = 24) -> DashboardCounts:
        return await self._read(dashboard.counts, now, hours)

    async def put_dashboard_session(self, session: DashboardSession) -> None:
        await self._write_now(dashboard.put_session, session)

    async def get_dashboard_session(self, id_hash: str, now: int) -> DashboardSession | None:
        return await self._read(dashboard.get_session, id_hash, now)

    async def delete_dashboard_session(self, id_hash: str) -> None:
        await self._write_now(dashboard.delete_session, id_hash)

    async def count_expiring(self, kind: str, start: int, end: int) -> int:
        return await self._read(certificates.count_expiring, kind, start, end)

    async def ssh_certificate_blobs(self, *, valid_at: int | None = None) -> list[bytes]:
        return await self._read(certificates.ssh_blobs, valid_at)

    async def get_revocation(self, serial: str, kind: str = "x509") -> RevocationRecord | None:
        return await self._read(revocations.get, serial, kind)

    async def list_revocations(
        self, kind: str = "x509", *, active_at: int | None = None
    ) -> list[RevocationRecord]:
        return await self._read(revocations.list_all, kind, active_at)

    async def revoked_entries(
        self, kind: str, *, active_at: int, since: int | None = None
    ) -> list[RevokedEntry]:
        return await self._read(revocations.entries, kind, active_at, since)

    async def ssh_revoked_entries(self, *, active_at: int) -> list[SSHRevokedEntry]:
        return await self._read(revocations.ssh_entries, active_at)

    async def latest_revocation_time(self, kind: str) -> int:
        return await self._read(revocations.latest_time, kind)

    async def published_crl_numbers(self, scopes: list[str]) -> dict[tuple[str, str], int]:
        return await self._read(crls.published_numbers, list(scopes))

    async def get_published_crl(self, scope: str, kind: str, *, with_der: bool = True) -> CRLRecord | None:
        return await self._read(crls.latest, scope, kind, with_der)

    async def crl_anchor(self, scope: str, now: int) -> tuple[int, int] | None:
        return await self._read(crls.anchor, scope, now)

    async def token_used(self, token_id: str) -> bool:
        return await self._read(tokens.used, token_id)

    # ------------------------------------------------------------------ ACME (stepca.db.queries.acme)

    async def acme_account(self, account_id: str) -> AccountRecord | None:
        return await self._read(acme.account, account_id)

    async def acme_account_by_key(self, provisioner: str, thumbprint: str) -> AccountRecord | None:
        return await self._read(acme.account_by_key, provisioner, thumbprint)

    async def acme_order(self, order_id: str) -> OrderRecord | None:
        return await self._read(acme.order, order_id)

    async def acme_order_by_certificate(self, serial: str) -> OrderRecord | None:
        return await self._read(acme.order_by_certificate, serial)

    async def acme_orders_of_account(self, account_id: str, limit: int = 1000) -> list[OrderRecord]:
        return await self._read(acme.orders_of_account, account_id, limit)

    async def acme_authz(self, authz_id: str) -> AuthzRecord | None:
        return await self._read(acme.authz, authz_id)

    async def acme_authzs_of_order(self, order_id: str) -> list[AuthzRecord]:
        return await self._read(acme.authzs_of_order, order_id)

    async def acme_authzs(self, ids: list[str]) -> list[AuthzRecord]:
        return await self._read(acme.authzs, list(ids))

    async def acme_reusable_authz(
        self, account_id: str, kind: str, value: str, wildcard: bool, valid_until: int
    ) -> AuthzRecord | None:
        return await self._read(acme.reusable_authz, account_id, kind, value, wildcard, valid_until)

    async def acme_challenge(self, challenge_id: str) -> ChallengeRecord | None:
        return await self._read(acme.challenge, challenge_id)

    async def acme_challenges_of_authz(self, authz_id: str) -> list[ChallengeRecord]:
        return await self._read(acme.challenges_of_authz, authz_id)

    async def acme_stale_challenges(self, before: int, limit: int = 100) -> list[ChallengeRecord]:
        return await self._read(acme.stale_challenges, before, limit)

    async def acme_eab_key(self, key_id: str) -> EABKeyRecord | None:
        return await self._read(acme.eab_key, key_id)

    async def acme_eab_keys(self, provisioner: str, reference: str | None = None) -> list[EABKeyRecord]:
        return await self._read(acme.eab_keys, provisioner, reference)

    async def acme_secret(self, name: str) -> bytes:
        d = self._sync.dialect
        return await self._in_thread(self._sync.write_now, lambda conn: acme.secret(d, conn, name))

    async def purge_acme(self, before: int) -> int:
        return await self._write_now(acme.purge, before)

    async def admin_version(self) -> int:
        return await self._read(admin.version)

    async def admin_state(self) -> AdminState:
        return await self._read(admin.state)

    async def admin_audit(self, limit: int = 100) -> list[AuditRecord]:
        return await self._read(admin.audit, limit)

    def listen(self, channel: str, on_notify: Callable[[], None]) -> Callable[[], None] | None:
        """PostgreSQL: call ``on_notify`` (from a thread) on each NOTIFY of ``channel``; returns
        the function that stops listening. Other databases: None (they are polled)."""
        if self._sync.dialect.name != "postgresql":
            return None
        from stepca.db.notify import Listener

        listener = Listener(self._sync.engine.url, channel, on_notify)
        listener.start()
        return listener.stop

    def admin_state_now(self) -> AdminState:
        """The admin set, read on the calling thread: for a worker building its first authority,
        before its event loop runs."""
        return self._sync.run_query(admin.state)

    # ------------------------------------------------------------------ writes beside the batches

    async def purge_used_tokens(self, before: int, limit: int = 2000) -> int:
        d = self._sync.dialect
        return await self._in_thread(self._sync.write_now, lambda conn: tokens.purge(d, conn, before, limit))

    async def next_crl_number(self, scope: str) -> int:
        d = self._sync.dialect
        return await self._in_thread(self._sync.write_now, lambda conn: crls.next_number(d, conn, scope))

    async def purge_crls(self, before: int) -> int:
        return await self._write_now(crls.purge, before)

    async def acquire_lease(self, name: str, owner: str, ttl: float) -> Lease | None:
        now_ms = int(time.time() * 1000)
        return await self._in_thread(
            self._sync.write_now,
            lambda conn: leases.acquire(self._sync.dialect, conn, name, owner, now_ms, int(ttl * 1000)),
        )

    async def release_lease(self, name: str, owner: str) -> None:
        await self._write_now(leases.release, name, owner)

    async def get_lease(self, name: str) -> Lease | None:
        return await self._read(leases.get, name)

    async def checkpoint(self) -> None:
        await self._in_thread(self._sync.checkpoint)

    def health(self) -> str | None:
        return self._sync.health()

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_scheduled = False
        if self._in_flight or not self._pending:
            return
        batch = self._pending[:MAX_BATCH]
        del self._pending[:MAX_BATCH]
        self._in_flight = True
        self._queue.put((batch, loop))

    def _done(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[Pending],
        results: list[Any],
        error: BaseException | None,
    ) -> None:
        self._in_flight = False
        for i, (_, fut) in enumerate(batch):
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(results[i])
        if not self._pending or self._flush_scheduled:
            return
        if self._busy_window > 0 and len(self._pending) < MAX_BATCH:
            # what arrived during the commit waits a little for what is still on its way
            self._flush_scheduled = True
            loop.call_later(self._busy_window, self._flush, loop)
        else:
            self._flush(loop)

    def _write_loop(self) -> None:
        while True:
            if self._sync.failure is not None:
                try:
                    item = self._queue.get(timeout=PROBE_INTERVAL)
                except queue.Empty:
                    self._sync.probe()  # so /health recovers without waiting for a request
                    continue
            else:
                item = self._queue.get()
            if item is _STOP:
                return
            batch, loop = item
            try:
                started = time.perf_counter()
                results: list[Any] = self._sync.apply([op for op, _ in batch])
                error: BaseException | None = None
                if self.on_commit is not None:
                    self.on_commit(time.perf_counter() - started, len(batch))
            except StoreUnavailable as exc:
                results, error = [], exc
            except Exception as exc:
                log.error("database write failed: %s", exc)
                results, error = [], StoreUnavailable(f"the database cannot record writes: {exc}")
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(self._done, loop, batch, results, error)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._writer.join(timeout=10)
        self._readers.shutdown(wait=True)
        self._sync.close()
