"""An in-process Authority on the real SQLite store in a temp dir: fast unit tests of the core
(no server, no HTTP), built the way a worker builds it (``server.loader.load`` +
``build_authority``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stepca.authority.authority import Authority
from stepca.db.batch import AsyncStore
from stepca.db.engine import make_engine, resolve_target
from stepca.db.sql import SQLStore
from stepca.server.loader import Secrets, load
from stepca.server.worker import build_authority
from tests.helpers import PKI, make_pki


@dataclass
class Core:
    pki: PKI
    authority: Authority
    store: AsyncStore
    loop: asyncio.AbstractEventLoop

    def run(self, coro: object) -> object:
        return self.loop.run_until_complete(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def core_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("core-pki"), ssh=True)


@pytest.fixture
def core(core_pki: PKI, tmp_path: Path) -> Iterator[Core]:
    """A fresh database per test; the PKI (``step ca init``) is shared by the module."""
    loaded = load(core_pki.ca_json, Secrets(password_file=str(core_pki.password_file)))
    sql = SQLStore(make_engine(resolve_target(None, tmp_path / "stepca.db")))
    sql.migrate()
    loop = asyncio.new_event_loop()
    store = AsyncStore(sql, readers=2)
    authority = build_authority(loaded, store, start_time=time.time() - 1)
    yield Core(core_pki, authority, store, loop)
    store.close()
    loop.close()
