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
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from stepca.db.sql import Operation, Outcome, SQLStore

log = logging.getLogger("stepca.db")
T = TypeVar("T")

MAX_BATCH = 512
#: optional extra wait before a batch leaves an idle store, in ms (STEPCA_GROUP_COMMIT_MS);
#: 0 = the end of the current loop iteration
GROUP_WINDOW = float(os.environ.get("STEPCA_GROUP_COMMIT_MS", "0")) / 1000
_STOP = object()

Pending = tuple[Operation, "asyncio.Future[Outcome]"]


class AsyncStore:
    """Used from one event loop (a worker's); the writer thread only sees whole batches."""

    def __init__(self, store: SQLStore, *, readers: int = 4) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="stepca-db-read")
        self._pending: list[Pending] = []
        self._in_flight = False
        self._flush_scheduled = False
        self._writer = threading.Thread(target=self._write_loop, name="stepca-db-write", daemon=True)
        self._writer.start()

    async def apply(self, op: Operation) -> Outcome:
        """Run one write operation durably; returns None or the expected error instance."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((op, fut))
        if not self._in_flight and not self._flush_scheduled:
            self._flush_scheduled = True
            if GROUP_WINDOW > 0:
                loop.call_later(GROUP_WINDOW, self._flush, loop)
            else:
                loop.call_soon(self._flush, loop)
        return await fut

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, fn, *args)

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
        if self._pending:
            self._flush(loop)  # what arrived during the commit goes now, as one batch

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch, loop = item
            try:
                results: list[Any] = self.store.apply([op for op, _ in batch])
                error: BaseException | None = None
            except Exception as exc:
                log.error("database write failed: %s", exc)
                results, error = [], exc
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(self._done, loop, batch, results, error)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._writer.join(timeout=10)
        self._readers.shutdown(wait=True)
        self.store.close()
