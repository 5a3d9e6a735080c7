"""Publication of the revocation lists: built off the request path, shared by every worker and
instance through the database, served from each worker's memory.

- A list is built by whoever needs a new one: a worker at start-up when the database holds none
  usable, the worker that recorded a revocation (``on_revocation``, the store's after-commit
  hook: the delta CRL always, the complete CRL when ``generateOnRevoke``, the KRL on an SSH
  revocation), and the cluster job (``renew_due``: before nextUpdate, when a listed certificate
  expired, after a revocation whose republication failed). Each build takes its number from the
  scope's one sequence in the database, then reads the revocations, builds, and publishes.
- Serving: each request for a list first reads the numbers published now (one indexed query,
  shared by the requests that arrive while it runs) and loads a newer list if there is one, so a
  list published by another worker or instance is served at once; if the database does not
  answer, the cached list is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stepca.crypto.pem import der_to_pem
from stepca.db.operations import PublishCRLOp, RevokeOp
from stepca.db.records import CRLRecord
from stepca.errors import NotFound, NotImplementedByCA, ServiceUnavailable
from stepca.revocation.crl import DELTA_MARGIN, BuiltCRL, CRLSettings, EntryCache, build_crl
from stepca.revocation.krl import KRLSettings, build_krl

if TYPE_CHECKING:
    from stepca.db.store import Store

log = logging.getLogger("stepca.revocation")

BASE, DELTA, KRL = "base", "delta", "krl"
#: replaced lists are forgotten this long after their nextUpdate
KEEP_EXPIRED = 86400
#: a republication that failed after a revocation is tried again after these delays (seconds)
RETRY_DELAYS = (1.0, 5.0, 15.0)


class Published:
    """A list as served: its record and, made on first use (``?pem``), its PEM."""

    __slots__ = ("_pem", "record")

    def __init__(self, record: CRLRecord) -> None:
        self.record = record
        self._pem: bytes | None = None

    @property
    def der(self) -> bytes:
        return self.record.der

    @property
    def number(self) -> int:
        return self.record.number

    @property
    def pem(self) -> bytes:
        if self._pem is None:
            self._pem = der_to_pem(self.record.der, "X509 CRL").encode()
        return self._pem


class _Flight:
    """Runs ``fn`` one at a time; ``run()`` returns after a run that started after the call, so
    callers arriving while one runs share the next one (a burst of revocations, one rebuild)."""

    def __init__(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._fn = fn
        self._next: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = loop.create_future()
        fut = self._next
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._loop())
        await asyncio.shield(fut)

    async def _loop(self) -> None:
        while self._next is not None:
            fut, self._next = self._next, None
            try:
                await self._fn()
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
                    fut.exception()  # retrieved here: a caller may have gone away
            else:
                if not fut.done():
                    fut.set_result(None)


class RevocationPublisher:
    """One per worker: outlives reloads (``configure`` swaps the settings)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.crl: CRLSettings | None = None
        self.ssh: KRLSettings | None = None
        self._docs: dict[str, Published] = {}
        self._entries = EntryCache()
        self._flights = {
            BASE: _Flight(self._build_base),
            DELTA: _Flight(self._build_delta),
            KRL: _Flight(self._build_krl),
        }
        self._check = _Flight(self._load_newer)
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ configuration

    def configure(self, crl: CRLSettings | None, ssh: KRLSettings | None) -> bool:
        """Use these settings from now on; True if the lists must be rebuilt for them."""
        changed = (self._key(crl), self._key(ssh)) != (self._key(self.crl), self._key(self.ssh))
        if self._key(crl) != self._key(self.crl):
            self._docs.pop(BASE, None)
            self._docs.pop(DELTA, None)
        if self._key(ssh) != self._key(self.ssh):
            self._docs.pop(KRL, None)
        self.crl, self.ssh = crl, ssh
        return changed

    @staticmethod
    def _key(s: CRLSettings | KRLSettings | None) -> tuple[str, str] | None:
        return None if s is None else (s.scope, s.tag)

    def _settings_of(self, kind: str) -> tuple[str, str] | None:
        s: CRLSettings | KRLSettings | None = self.ssh if kind == KRL else self.crl
        return self._key(s)

    # ------------------------------------------------------------------ serving

    async def document(self, kind: str) -> Published:
        """The list of ``kind`` to serve now (never built here)."""
        if kind == KRL:
            if self.ssh is None:
                raise NotImplementedByCA(
                    "the SSH certificate authority is not configured (no ssh block in ca.json)"
                )
        elif self.crl is None:
            raise NotFound("Certificate Revocation Lists are not enabled")
        try:
            await self._refresh()
        except Exception as exc:  # the database is away: what we hold is still signed and valid
            log.warning("could not check for newer revocation lists: %s", exc)
        doc = self._docs.get(kind)
        if doc is None:
            raise ServiceUnavailable("the revocation list is not built yet: try again shortly")
        return doc

    async def _refresh(self) -> None:
        """Load any list newer than the cached ones. A request waits for a check that started
        after it arrived (a list published before the request is seen by it); the requests that
        arrive meanwhile share the next one, so a flood costs one query at a time."""
        await self._check.run()

    async def _load_newer(self) -> None:
        wanted = {kind: key for kind in (BASE, DELTA, KRL) if (key := self._settings_of(kind)) is not None}
        if not wanted:
            return
        numbers = await self.store.published_crl_numbers(sorted({scope for scope, _ in wanted.values()}))
        for kind, (scope, _tag) in wanted.items():
            number = numbers.get((scope, kind))
            held = self._docs.get(kind)
            if number is not None and (held is None or number > held.number):
                record = await self.store.get_published_crl(scope, kind)
                if record is not None:
                    self._offer(record)

    def _offer(self, record: CRLRecord) -> None:
        """Serve ``record`` if it is newer than what we hold for its kind and scope."""
        key = self._settings_of(record.kind)
        if key is None or key[0] != record.scope:
            return
        held = self._docs.get(record.kind)
        if held is None or record.number > held.number:
            self._docs[record.kind] = Published(record)

    # ------------------------------------------------------------------ building

    async def _publish(self, record: CRLRecord) -> None:
        outcome = await self.store.apply(PublishCRLOp(record))
        if outcome is not None:
            raise RuntimeError(f"could not publish {record.kind} list {record.number}: {outcome}")
        self._offer(record)
        log.info("published %s revocation list %d (%d bytes)", record.kind, record.number, len(record.der))

    async def _build_base(self) -> None:
        s = self.crl
        if s is None:
            return
        number = await self.store.next_crl_number(s.scope)
        now = int(time.time())
        entries = await self.store.revoked_entries("x509", active_at=now)
        held = self._docs.get(BASE)
        seed = held.der if held is not None and held.record.tag == s.tag and not self._entries else None

        def build() -> BuiltCRL:
            if seed:
                self._entries.seed(seed)  # a new worker: the lines of the CRL published before
            return build_crl(s, number=number, now=now, entries=entries, cache=self._entries)

        built = await asyncio.get_running_loop().run_in_executor(None, build)
        await self._publish(
            CRLRecord(
                s.scope,
                number,
                BASE,
                built.this_update,
                built.next_update,
                built.refresh_at,
                s.tag,
                built.der,
            )
        )

    async def _build_delta(self) -> None:
        s = self.crl
        if s is None:
            return
        number = await self.store.next_crl_number(s.scope)
        now = int(time.time())
        anchor = await self.store.crl_anchor(s.scope, now)
        if anchor is None:  # no complete CRL valid now: make one, the delta comes next
            await self._build_base()
            number = await self.store.next_crl_number(s.scope)
            now = int(time.time())
            anchor = await self.store.crl_anchor(s.scope, now)
            if anchor is None:
                raise RuntimeError("no complete CRL to base a delta CRL on")
        base_number, base_time = anchor
        entries = await self.store.revoked_entries("x509", active_at=now, since=base_time - DELTA_MARGIN)
        loop = asyncio.get_running_loop()
        built = await loop.run_in_executor(
            None, lambda: build_crl(s, number=number, now=now, entries=entries, delta_base=base_number)
        )
        await self._publish(
            CRLRecord(
                s.scope,
                number,
                DELTA,
                built.this_update,
                built.next_update,
                built.refresh_at,
                s.tag,
                built.der,
                base_number=base_number,
            )
        )

    async def _build_krl(self) -> None:
        s = self.ssh
        if s is None:
            return
        number = await self.store.next_crl_number(s.scope)
        now = int(time.time())
        entries = await self.store.ssh_revoked_entries(active_at=now)
        der, refresh_at = build_krl(s, version=number, now=now, entries=entries)
        await self._publish(CRLRecord(s.scope, number, KRL, now, refresh_at, refresh_at, s.tag, der))

    async def rebuild_x509(self, *, base: bool) -> None:
        """A new delta CRL (after a new complete CRL when ``base``): its number is then above
        every complete CRL's, as RFC 5280 asks of a delta."""
        if base:
            await self._flights[BASE].run()
        await self._flights[DELTA].run()

    async def rebuild_krl(self) -> None:
        await self._flights[KRL].run()

    # ------------------------------------------------------------------ triggers

    async def on_revocation(self, op: RevokeOp) -> None:
        """The store's after-commit hook for revocations: republish before the revoke answers."""
        kind = op.revocation.kind
        try:
            await self._after(kind)
        except Exception as exc:
            log.error(
                "could not republish the revocation lists after revoking %s: %s", op.revocation.serial, exc
            )
            self._spawn(self._retry(kind))

    async def _after(self, kind: str) -> None:
        if kind == "ssh":
            if self.ssh is not None:
                await self.rebuild_krl()
        elif self.crl is not None:
            await self.rebuild_x509(base=self.crl.generate_on_revoke)

    async def _retry(self, kind: str) -> None:
        for delay in RETRY_DELAYS:
            await asyncio.sleep(delay)
            try:
                await self._after(kind)
                return
            except Exception as exc:
                log.warning("republishing the revocation lists failed again: %s", exc)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        """At worker start: serve what the database holds, build what is missing or stale."""
        await self._refresh()
        await self.renew_due(purge=False)

    def rebuild_soon(self) -> None:
        """After a reload that changed the settings: rebuild in the background."""
        self._spawn(self.renew_due(purge=False))

    async def renew_due(self, *, purge: bool = True) -> None:
        """The cluster job: rebuild whatever is missing, made for other settings, due (renewal
        time, or a listed certificate expired), or older than the newest revocation."""
        now = int(time.time())
        if self.crl is not None:
            s = self.crl
            base = await self.store.get_published_crl(s.scope, BASE, with_der=False)
            delta = await self.store.get_published_crl(s.scope, DELTA, with_der=False)
            latest = await self.store.latest_revocation_time("x509")
            need_base = (
                base is None
                or base.tag != s.tag
                or base.refresh_at <= now
                or (s.generate_on_revoke and latest > base.this_update)
            )
            need_delta = (
                need_base
                or delta is None
                or base is None
                or delta.tag != s.tag
                or delta.refresh_at <= now
                or delta.number < base.number
                or latest > delta.this_update
            )
            if need_base or need_delta:
                await self.rebuild_x509(base=need_base)
        if self.ssh is not None:
            s2 = self.ssh
            krl = await self.store.get_published_crl(s2.scope, KRL, with_der=False)
            latest = await self.store.latest_revocation_time("ssh")
            if krl is None or krl.tag != s2.tag or krl.refresh_at <= now or latest > krl.this_update:
                await self.rebuild_krl()
        if purge:
            await self.store.purge_crls(now - KEEP_EXPIRED)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def settings_for(loaded: Any, authority: Any) -> tuple[CRLSettings | None, KRLSettings | None]:
    """The publisher's settings for a configuration (``loaded``: the server's ``Loaded``)."""
    from stepca.crypto.sshcert import key_blob
    from stepca.revocation.crl import crl_settings

    crl = crl_settings(loaded.config, loaded.intermediate, loaded.intermediate_key)
    ssh = None
    if authority.ssh is not None:
        keys = tuple(key_blob(k) for k in authority.ssh.signers.values() if k is not None)
        ssh = KRLSettings(ca_keys=keys)
    return crl, ssh


__all__ = ["BASE", "DELTA", "KRL", "Published", "RevocationPublisher", "settings_for"]
