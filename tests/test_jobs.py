"""The scheduler on a real SQLite store: worker jobs run everywhere, a cluster job on one holder,
taken over after the holder stops renewing its lease; a failing job does not stop the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

from stepca.db.batch import AsyncStore
from stepca.db.engine import make_engine, resolve_target
from stepca.db.sql import SQLStore
from stepca.jobs import Job, Scheduler, Scope


def open_store(path: Path) -> AsyncStore:
    from stepca.config import DBConfig

    target = resolve_target(DBConfig.model_validate({"type": "sqlite", "dataSource": str(path)}), path)
    sql = SQLStore(make_engine(target, pool_size=2))
    sql.migrate()
    return AsyncStore(sql, readers=2)


def test_cluster_job_runs_on_one_holder_and_moves(tmp_path: Path) -> None:
    db = tmp_path / "ca.db"
    stores = [open_store(db), open_store(db)]
    runs: dict[str, int] = {"a": 0, "b": 0, "wa": 0, "wb": 0}

    def counter(key: str) -> Job:
        async def run() -> None:
            runs[key] += 1

        return Job("purge", 0.05, run, scope=Scope.CLUSTER, first_run=0)

    def worker_job(key: str) -> Job:
        async def run() -> None:
            runs[key] += 1

        return Job("tick", 0.05, run, first_run=0)

    async def failing() -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        a = Scheduler(store=stores[0], lease_time=0.6, owner="a")
        b = Scheduler(store=stores[1], lease_time=0.6, owner="b")
        a.add(counter("a"))
        a.add(worker_job("wa"))
        a.add(Job("fails", 0.05, failing, first_run=0))
        b.add(counter("b"))
        b.add(worker_job("wb"))
        a.start()
        await asyncio.sleep(0.1)  # a takes the lease first
        b.start()
        await asyncio.sleep(0.8)
        assert runs["a"] >= 5 and runs["b"] == 0, runs
        assert runs["wa"] >= 5 and runs["wb"] >= 5, runs  # worker scope: both, despite "fails"
        assert a.held == {"purge"} and b.held == frozenset()
        # a dies without releasing (as after kill -9): b takes over within the lease time
        for task in a._tasks:
            task.cancel()
        await asyncio.sleep(0.05)
        before = runs["b"]
        await asyncio.sleep(1.2)
        assert runs["b"] > before, runs
        lease = await stores[1].get_lease("purge")
        assert lease is not None and lease.owner == "b"
        await b.stop()
        assert await stores[1].get_lease("purge") is None  # released on a clean stop

    try:
        asyncio.run(scenario())
    finally:
        for s in stores:
            s.close()
