"""The database server restarts under a running CA: the CA carries on without a restart.

Each test holds its server exclusively (tests.db.backends.server_lock): the other tests of this
suite that use that server wait, and the server is answering again when the test ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.backends import Backend, open_backend, restart_server
from tests.ha.cluster import cluster, post

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def restartable_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    backend = open_backend(request.param, tmp_path, exclusive=True)
    yield backend
    backend.close()


def test_the_ca_survives_database_restarts(restartable_db: Backend, tmp_path: Path) -> None:
    with cluster(restartable_db, tmp_path, instances=1, workers=2) as cl:
        (ca,) = cl.instances
        assert ca.ca is not None
        pids = sorted(ca.ca.pids())

        def sign() -> int:
            return post(cl, ca, "/1.0/sign", {"csr": cl.csr_pem, "ott": cl.token("svc.example.com")})[0]

        # warm up: both workers hold writer and reader connections
        assert [sign() for _ in range(8)] == [201] * 8
        before = restartable_db.scalar("SELECT count(*) FROM certificates")

        # 1. restart under an idle CA: the next requests succeed
        restart_server(restartable_db.kind)
        assert [sign() for _ in range(8)] == [201] * 8

        # 2. restart while requests are in flight: they wait for the database, none fails
        statuses: list[int] = []
        stop = threading.Event()

        def keep_signing() -> None:
            while not stop.is_set():
                statuses.append(sign())

        clients = [threading.Thread(target=keep_signing) for _ in range(4)]
        for t in clients:
            t.start()
        time.sleep(0.5)
        restart_server(restartable_db.kind)
        time.sleep(0.5)
        stop.set()
        for t in clients:
            t.join(timeout=60)
        assert statuses and set(statuses) == {201}, statuses

        assert sorted(ca.ca.pids()) == pids  # no worker was restarted
        after = restartable_db.scalar("SELECT count(*) FROM certificates")
        assert after - before == 8 + len(statuses)
