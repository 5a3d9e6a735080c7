"""The async face of the store, with group commit.

Handlers ``await store.apply(op)``; a writer thread takes every operation waiting at that moment
and runs them in one transaction (one fsync for all), then answers each. A certificate is
therefore committed before its response is sent, and throughput is not capped by the disk's
fsync rate. Reads run in a small thread pool so a slow database never blocks the event loop.
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
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from stepca.db.sql import Operation, Outcome, SQLStore

log = logging.getLogger("stepca.db")
T = TypeVar("T")

MAX_BATCH = 512
#: seconds a batch waits for company after its first write (set by STEPCA_GROUP_COMMIT_MS)
GROUP_WINDOW = float(os.environ.get("STEPCA_GROUP_COMMIT_MS", "2")) / 1000
_STOP = object()


class AsyncStore:
    def __init__(self, store: SQLStore, *, readers: int = 4) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="stepca-db-read")
        self._writer = threading.Thread(target=self._write_loop, name="stepca-db-write", daemon=True)
        self._writer.start()

    async def apply(self, op: Operation) -> Outcome:
        """Run one write operation durably; returns None or the expected error instance."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((op, fut, loop))
        return await fut

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, fn, *args)

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            stop = False
            # group commit: gather what arrives within a short window after the first write, so
            # one transaction (one fsync) serves many requests
            deadline = time.monotonic() + GROUP_WINDOW
            while len(batch) < MAX_BATCH:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._run_batch(batch)
            if stop:
                return

    def _run_batch(
        self, batch: list[tuple[Operation, asyncio.Future[Outcome], asyncio.AbstractEventLoop]]
    ) -> None:
        try:
            results: list[Any] = self.store.apply([op for op, _, _ in batch])
            error: BaseException | None = None
        except Exception as exc:
            log.error("database write failed: %s", exc)
            results = []
            error = exc
        by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Any, BaseException | None]]
        ] = {}
        for i, (_, fut, loop) in enumerate(batch):
            by_loop.setdefault(loop, []).append((fut, results[i] if error is None else None, error))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(_resolve, items)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._writer.join(timeout=10)
        self._readers.shutdown(wait=True)
        self.store.close()


def _resolve(items: list[tuple[asyncio.Future[Outcome], Any, BaseException | None]]) -> None:
    for fut, result, error in items:
        if fut.done():
            continue
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)
