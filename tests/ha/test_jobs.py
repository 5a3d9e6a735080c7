"""A cluster-scoped job runs on exactly one of three instances, and moves to another instance
within its lease time after ``kill -9`` of the one running it (PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.backends import Backend, open_backend
from tests.ha.cluster import Cluster, Instance, cluster

LEASE = 2.0
JOB = "purge-used-tokens"

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(180)]


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Backend]:
    backend = open_backend("postgresql", tmp_path)
    yield backend
    backend.close()


def holder(cl: Cluster) -> tuple[str, Instance | None]:
    """The lease's owner, and the live instance one of whose workers it is."""
    owner = cl.backend.scalar(f"SELECT owner FROM job_leases WHERE name = '{JOB}'")
    if owner is None:
        return "", None
    pid = int(owner.split("/")[1])
    for inst in cl.instances:
        if inst.ca is not None and inst.ca.proc.poll() is None and pid in inst.ca.pids():
            return owner, inst
    return owner, None


def wait_for_holder(cl: Cluster, timeout: float, not_owner: str = "") -> tuple[str, Instance]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owner, inst = holder(cl)
        if inst is not None and owner != not_owner:
            return owner, inst
        time.sleep(0.1)
    raise AssertionError(f"no live holder of {JOB} within {timeout}s (last owner {holder(cl)[0]!r})")


def add_expired_tokens(cl: Cluster, n: int, tag: str) -> None:
    with cl.backend.engine().begin() as conn:
        from sqlalchemy import text

        for i in range(n):
            conn.execute(
                text(
                    "INSERT INTO used_tokens (token_id, provisioner, expires_at, used_at) VALUES (:t, 'p', 1, 1)"
                ),
                {"t": f"{tag}-{i}"},
            )


def purges_logged(inst: Instance) -> int:
    assert inst.ca is not None
    return inst.ca.log().count("purged used tokens")


def test_a_cluster_job_runs_once_and_moves_after_kill9(pg: Backend, tmp_path: Path) -> None:
    env = {"STEPCA_JOB_LEASE_SECONDS": str(LEASE), "STEPCA_TOKEN_PURGE_INTERVAL": "0.3"}
    with cluster(pg, tmp_path, instances=3, workers=2, env=env) as cl:
        owner, first = wait_for_holder(cl, timeout=10)
        # the same owner holds it for several lease times; only its instance purges
        for round_ in range(4):
            add_expired_tokens(cl, 5, f"r{round_}")
            time.sleep(LEASE / 2)
            assert holder(cl)[0] == owner
        deadline = time.monotonic() + 5
        while pg.scalar("SELECT count(*) FROM used_tokens") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pg.scalar("SELECT count(*) FROM used_tokens") == 0
        others = [i for i in cl.instances if i is not first]
        assert purges_logged(first) >= 1
        assert [purges_logged(i) for i in others] == [0, 0]

        killed_at = time.monotonic()
        first.kill9()
        new_owner, second = wait_for_holder(cl, timeout=LEASE + 5, not_owner=owner)
        took = time.monotonic() - killed_at
        assert second is not first
        assert took <= LEASE + 2, took  # lease time plus a tick, with slack
        # and the new holder does the work
        before = purges_logged(second)
        add_expired_tokens(cl, 5, "after")
        deadline = time.monotonic() + 5
        while purges_logged(second) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert purges_logged(second) > before
        assert holder(cl)[0] == new_owner
