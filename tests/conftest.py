"""Shared fixtures: a PKI made by our `step ca init`, and a real `step-ca` serving it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PKI, CAProcess, make_pki, start_ca


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
