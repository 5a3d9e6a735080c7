"""Fixtures of the storage tests (``db_backend`` itself lives in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.backends import Backend, open_backend


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def server_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh database on the local PostgreSQL, then on the local MariaDB."""
    backend = open_backend(request.param, tmp_path)
    yield backend
    backend.close()
