"""Shared fixtures: a PKI made by our `step ca init`, and a real `step-ca` serving it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import PKI, CAProcess, make_pki, start_ca

if TYPE_CHECKING:
    from tests.db.backends import Backend


@pytest.fixture(scope="session")
def session_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("session-pki"))


@pytest.fixture(scope="session")
def session_ca(session_pki: PKI) -> Iterator[CAProcess]:
    """One CA shared by the tests that only issue and read (never reconfigure it)."""
    ca = start_ca(session_pki, workers=2)
    yield ca
    ca.stop()


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    """A fresh PKI per test, for tests that change the configuration."""
    return make_pki(tmp_path)


@pytest.fixture
def ca_factory() -> Iterator[object]:
    started: list[CAProcess] = []

    def factory(pki: PKI, **kwargs: object) -> CAProcess:
        ca = start_ca(pki, **kwargs)  # type: ignore[arg-type]
        started.append(ca)
        return ca

    yield factory
    for ca in started:
        ca.stop()


# --------------------------------------------------------------------- database backends (issue 6)


def _backend_params() -> list[object]:
    from tests.db.backends import BACKENDS

    marks = {"postgresql": pytest.mark.postgres, "mysql": pytest.mark.mysql}
    return [pytest.param(kind, marks=marks[kind]) if kind in marks else kind for kind in BACKENDS]


@pytest.fixture(params=_backend_params())
def db_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh database on each backend (sqlite, the local PostgreSQL, the local MariaDB), dropped
    after the test. ``db_backend.apply(pki)`` points a PKI's ca.json at it; see tests/db/backends.py."""
    from tests.db.backends import open_backend

    backend = open_backend(request.param, tmp_path)
    yield backend
    backend.close()
