"""Background jobs: one small scheduler for every periodic task of a worker.

A job is a name, an interval and an async function, in one of two scopes:

- ``WORKER``: every worker process runs it (flushing its log, renewing its own TLS certificate).
- ``CLUSTER``: exactly one worker of all the instances sharing a database runs it (purging used
  token ids; tomorrow CRL regeneration, OCSP pre-signing, ACME purges). Every worker competes for
  the job's lease row in the database (``Store.acquire_lease``); the holder renews it at each tick
  (a third of the lease time) and runs the job when it is due. When the holder dies its lease
  expires and another worker, on any instance, takes it over within one lease time and a tick.

A job that fails is logged and tried again at its next tick; it never stops the scheduler.
Cluster jobs must tolerate running twice in a row (a lease lost during a long run may let
another holder start before the first one finished); purges and regenerations do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stepca.db.store import Store

log = logging.getLogger("stepca.jobs")

#: default lease time of cluster jobs (seconds): how long a dead holder keeps a job from running
DEFAULT_LEASE_TIME = 30.0


class Scope(StrEnum):
    WORKER = "worker"
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    #: seconds between runs
    interval: float
    run: Callable[[], Awaitable[None]]
    scope: Scope = Scope.WORKER
    #: seconds before the first run (default: one interval)
    first_run: float | None = None


def default_owner() -> str:
    """This worker's name in lease rows: host, process id and a random suffix (pids are reused)."""
    return f"{socket.gethostname()[:100]}/{os.getpid()}/{secrets.token_hex(3)}"


@dataclass
class Scheduler:
    """Runs the jobs added to it on the current event loop until ``stop()``."""

    store: Store | None = None
    lease_time: float = DEFAULT_LEASE_TIME
    owner: str = field(default_factory=default_owner)
    _jobs: list[Job] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _held: set[str] = field(default_factory=set)

    def add(self, job: Job) -> None:
        if any(j.name == job.name for j in self._jobs):
            raise ValueError(f"job {job.name!r} is already scheduled")
        if job.scope is Scope.CLUSTER and self.store is None:
            raise ValueError(f"cluster job {job.name!r} needs a store for its lease")
        self._jobs.append(job)
        if self._tasks:  # already started: start this one too
            self._tasks.append(asyncio.get_running_loop().create_task(self._loop(job)))

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop(job), name=f"job:{job.name}") for job in self._jobs]

    @property
    def held(self) -> frozenset[str]:
        """The cluster jobs whose lease this worker holds now."""
        return frozenset(self._held)

    async def stop(self) -> None:
        """Cancel every job and give up this worker's leases (another worker takes them at once)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.store is not None:
            for name in list(self._held):
                with contextlib.suppress(Exception):
                    await self.store.release_lease(name, self.owner)
        self._held.clear()

    async def _loop(self, job: Job) -> None:
        if job.scope is Scope.CLUSTER:
            await self._cluster_loop(job)
            return
        await asyncio.sleep(job.interval if job.first_run is None else job.first_run)
        while True:
            await self._run_once(job)
            await asyncio.sleep(job.interval)

    async def _cluster_loop(self, job: Job) -> None:
        assert self.store is not None
        tick = max(0.05, min(job.interval, self.lease_time / 3))
        due = time.monotonic() + (job.interval if job.first_run is None else job.first_run)
        while True:
            try:
                lease = await self.store.acquire_lease(job.name, self.owner, self.lease_time)
            except Exception as exc:
                log.warning("job %s: could not take its lease: %s", job.name, exc)
                lease = None
            if lease is None:
                if job.name in self._held:
                    log.warning("job %s: lease lost to another worker", job.name)
                    self._held.discard(job.name)
            else:
                if job.name not in self._held:
                    log.info("job %s: lease taken by %s", job.name, self.owner)
                    self._held.add(job.name)
                if time.monotonic() >= due:
                    await self._run_once(job)
                    due = time.monotonic() + job.interval
            await asyncio.sleep(tick)

    async def _run_once(self, job: Job) -> None:
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("job %s failed: %s", job.name, exc)


__all__ = ["DEFAULT_LEASE_TIME", "Job", "Scheduler", "Scope"]
