"""The store on every backend: the group-commit hot path, the per-operation fallback, uniqueness
enforced by the database, reads, and recovery from dropped connections.

Writes go through ``SQLStore.apply`` (a batch, as the writer thread hands it over); reads
through the ``Store`` Protocol (``AsyncStore``), each on the test's own event loop."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepca.config import DBConfig
from stepca.db.batch import AsyncStore
from stepca.db.engine import ensure_database, make_engine, resolve_target
from stepca.db.operations import IssueOp, RevokeOp, UseTokenOp
from stepca.db.records import (
    AlreadyRevokedError,
    CertificateRecord,
    RevocationRecord,
    TokenReusedError,
    UsedToken,
)
from stepca.db.sql import SQLStore
from tests.db.backends import Backend, terminate_connections


class StoreUnderTest:
    """A ``SQLStore`` (writes, internals) whose reads go through the ``Store`` Protocol
    (``AsyncStore``), driven synchronously on a private event loop."""

    def __init__(self, sql: SQLStore) -> None:
        self.sql = sql
        self.facade = AsyncStore(sql, readers=2)
        self.loop = asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Any:
        if name in ("sql", "facade", "loop"):
            raise AttributeError(name)
        if hasattr(self.sql, name):
            return getattr(self.sql, name)
        method = getattr(self.facade, name)
        return lambda *a, **k: self.loop.run_until_complete(method(*a, **k))

    def patch(self, name: str, value: Any) -> None:
        self.sql.__dict__[name] = value

    def close(self) -> None:
        self.facade.close()  # closes the SQLStore too
        self.loop.close()


def open_store(backend: Backend, tmp_path: Path, **kwargs: float) -> StoreUnderTest:
    target = resolve_target(DBConfig.model_validate(backend.db_block()), tmp_path / "unused.db")
    ensure_database(target)
    store = StoreUnderTest(SQLStore(make_engine(target), **kwargs))
    store.migrate()
    return store


@pytest.fixture
def store(db_backend: Backend, tmp_path: Path) -> Iterator[StoreUnderTest]:
    s = open_store(db_backend, tmp_path)
    yield s
    s.close()


def serial() -> str:
    return str(int.from_bytes(os.urandom(16)))


def cert(serial_: str | None = None) -> CertificateRecord:
    s = serial_ or serial()
    now = int(time.time())
    return CertificateRecord(
        serial=s, der=os.urandom(600), provisioner="admin", subject="svc", not_before=now, not_after=now + 60
    )


def token(token_id: str | None = None) -> UsedToken:
    return UsedToken(token_id or os.urandom(16).hex(), "admin/kid", int(time.time()) + 300)


def test_issue_batch_records_every_certificate(store: StoreUnderTest) -> None:
    ops = [IssueOp(cert(), token()) for _ in range(40)]
    assert store.apply(ops) == [None] * 40
    assert store.count_certificates() == 40
    for op in ops:
        got = store.get_certificate(op.cert.serial)
        assert got is not None and got.der == op.cert.der
        assert op.token is not None and store.token_used(op.token.token_id)


@pytest.mark.parametrize("size", [1, 3, 127, 128, 129, 300, 512])
def test_batches_of_every_size_record_every_row(store: StoreUnderTest, size: int) -> None:
    """SQLite writes a batch as multi-row INSERTs of 2^k rows (at most 128 each): every size,
    across chunk boundaries, stores each row once; a replay anywhere in it is still found."""
    ops = [IssueOp(cert(), token()) for _ in range(size)]
    assert store.apply(ops) == [None] * size
    assert store.count_certificates() == size
    for op in (ops[0], ops[size // 2], ops[-1]):
        got = store.get_certificate(op.cert.serial)
        assert got is not None and got.der == op.cert.der
        assert op.token is not None and store.token_used(op.token.token_id)
    replay = [IssueOp(cert(), token()) for _ in range(size)] + [IssueOp(cert(), ops[-1].token)]
    results = store.apply(replay)
    assert results[:-1] == [None] * size and isinstance(results[-1], TokenReusedError)
    assert store.count_certificates() == 2 * size


def test_reused_tokens_are_reported_per_operation(store: StoreUnderTest) -> None:
    """The affected-row count spots the replay; the fallback says exactly which op reused."""
    used = token()
    assert store.apply([UseTokenOp(used)]) == [None]
    twice = token()
    ops = [IssueOp(cert(), used), IssueOp(cert(), twice), IssueOp(cert(), token()), IssueOp(cert(), twice)]
    results = store.apply(ops)
    assert isinstance(results[0], TokenReusedError)
    assert results[1] is None
    assert results[2] is None
    assert isinstance(results[3], TokenReusedError)  # the same token twice in one batch
    assert store.get_certificate(ops[0].cert.serial) is None  # nothing issued for a replay
    assert store.get_certificate(ops[3].cert.serial) is None
    assert store.count_certificates() == 2


def test_serial_collision_fails_only_its_operation(store: StoreUnderTest) -> None:
    taken = cert()
    assert store.apply([IssueOp(taken)]) == [None]
    ops = [IssueOp(cert(taken.serial), token()), IssueOp(cert(), token())]
    results = store.apply(ops)
    assert results[0] is not None and "ntegrity" in type(results[0]).__name__
    assert results[1] is None
    got = store.get_certificate(taken.serial)
    assert got is not None and got.der == taken.der  # the first one stays
    # the failed op's token was rolled back with it: a retry with the same token works
    assert ops[0].token is not None and not store.token_used(ops[0].token.token_id)


def test_keys_compare_byte_for_byte(store: StoreUnderTest) -> None:
    """MySQL's default collation would make these the same key."""
    ids = ["token-ab", "TOKEN-AB", "token-ab ", "tökén-ab"]
    assert store.apply([UseTokenOp(token(i)) for i in ids]) == [None] * 4
    assert all(store.token_used(i) for i in ids)
    assert isinstance(store.apply([UseTokenOp(token("TOKEN-AB"))])[0], TokenReusedError)


def test_revocations(store: StoreUnderTest) -> None:
    c = cert()
    now = int(time.time())
    assert store.apply([IssueOp(c, token())]) == [None]
    rev = RevocationRecord(serial=c.serial, reason_code=1, reason="key compromise", revoked_at=now)
    tok = token()
    mixed = [RevokeOp(rev, tok), IssueOp(cert(), token()), UseTokenOp(token())]
    assert store.apply(mixed) == [None, None, None]
    got = store.get_revocation(c.serial)
    assert got is not None and got.reason == "key compromise" and got.revoked_at == now
    again = store.apply([RevokeOp(rev, token()), RevokeOp(rev, tok)])
    assert isinstance(again[0], AlreadyRevokedError)
    assert isinstance(again[1], TokenReusedError)
    assert [r.serial for r in store.list_revocations()] == [c.serial]


def test_purge_used_tokens(store: StoreUnderTest) -> None:
    old = UsedToken("old", "p", 100)
    assert store.apply([UseTokenOp(old), UseTokenOp(token("fresh"))]) == [None, None]
    assert store.purge_used_tokens(int(time.time())) == 1
    assert not store.token_used("old") and store.token_used("fresh")


# ------------------------------------------------------------------ servers: lost connections


@pytest.fixture
def server_store(server_backend: Backend, tmp_path: Path) -> Iterator[StoreUnderTest]:
    s = open_store(server_backend, tmp_path)
    yield s
    s.close()


@pytest.mark.parametrize("first", ["write", "read"])
def test_recovers_when_the_server_drops_every_connection(
    server_backend: Backend, server_store: StoreUnderTest, first: str
) -> None:
    store, db_backend = server_store, server_backend
    assert store.apply([IssueOp(cert(), token()) for _ in range(3)]) == [None] * 3
    assert store.count_certificates() == 3  # a pooled reader connection exists too
    assert terminate_connections(db_backend.kind, db_backend.database) >= 2
    if first == "write":
        assert store.apply([IssueOp(cert(), token())]) == [None]
        assert store.count_certificates() == 4
    else:
        assert store.count_certificates() == 3
        assert store.apply([IssueOp(cert(), token())]) == [None]


def _lose_first_ack(store: StoreUnderTest, name: str, calls: list[int]) -> None:
    """Make the store's transaction ``name`` commit on its first run and then lose the connection."""
    dbapi = store.engine.dialect.loaded_dbapi
    transaction = getattr(store, name)

    def run(*args: Any) -> Any:
        calls.append(len(args[-1]) if isinstance(args[-1], list) else 1)
        result = transaction(*args)
        if len(calls) == 1:
            raise dbapi.OperationalError("server closed the connection unexpectedly")
        return result

    store.patch(name, run)


def test_a_lost_commit_acknowledgement_is_not_applied_twice(server_store: StoreUnderTest) -> None:
    """The connection breaks after COMMIT reached the server: the retry reads the outcome back
    instead of applying the batch again (which would report its tokens as reused)."""
    store, calls = server_store, []
    ops = [IssueOp(cert(), token()), IssueOp(cert(), token())]
    _lose_first_ack(store, "_driver_batch", calls)
    assert store.apply(ops) == [None, None]
    assert calls == [2]  # found committed: not run again
    assert store.count_certificates() == 2


def test_a_lost_commit_keeps_each_outcome(server_store: StoreUnderTest) -> None:
    """A committed mixed batch: the replayed token stays refused, the others succeed."""
    store, calls = server_store, []
    used, revoked = token(), cert()
    assert store.apply([UseTokenOp(used), IssueOp(revoked)]) == [None, None]
    rev = RevocationRecord(serial=revoked.serial, reason_code=0, reason="", revoked_at=int(time.time()))
    ops = [IssueOp(cert(), used), IssueOp(cert(), token()), RevokeOp(rev, token())]
    _lose_first_ack(store, "_locked_transaction", calls)
    results = store.apply(ops)
    assert calls == [1]  # one transaction for the three ops, found committed: not run again
    assert isinstance(results[0], TokenReusedError) and results[1:] == [None, None]
    assert store.get_certificate(ops[0].cert.serial) is None
    assert store.count_certificates() == 2


def test_a_lost_token_use_is_refused_rather_than_accepted_twice(server_store: StoreUnderTest) -> None:
    store, calls = server_store, []
    _lose_first_ack(store, "_locked_transaction", calls)
    results = store.apply([UseTokenOp(token())])
    assert calls == [1, 1]  # nothing proves the commit: run again, and the token is now used
    assert isinstance(results[0], TokenReusedError)


def test_an_unreachable_server_fails_after_the_reconnect_window(
    server_backend: Backend, tmp_path: Path
) -> None:
    from tests.helpers import free_port

    block = server_backend.db_block()
    block["dataSource"] = (
        f"postgresql://postgres@127.0.0.1:{free_port()}/"
        if server_backend.kind == "postgresql"
        else f"root@tcp(127.0.0.1:{free_port()})/"
    )
    target = resolve_target(DBConfig.model_validate(block), tmp_path / "unused.db")
    store = SQLStore(make_engine(target), reconnect_window=0.6)
    started = time.monotonic()
    with pytest.raises(Exception, match=r"(?i)connect|refused"):
        store.apply([IssueOp(cert(), token())])
    assert 0.5 < time.monotonic() - started < 5
    store.close()


def test_purge_used_tokens_in_chunks(store: StoreUnderTest) -> None:
    """Expired token ids go, in chunks; live ones stay (so replays are still refused)."""
    old = [UseTokenOp(UsedToken(f"old-{i}", "p", 1000)) for i in range(25)]
    live = [UseTokenOp(UsedToken(f"live-{i}", "p", 10**10)) for i in range(5)]
    assert store.apply(old + live) == [None] * 30
    assert [store.purge_used_tokens(2000, limit=10) for _ in range(4)] == [10, 10, 5, 0]
    assert not store.token_used("old-3")
    assert store.token_used("live-3")


def test_a_value_the_database_refuses_fails_only_its_operation(store: StoreUnderTest) -> None:
    """Any database error of a batch (here a time beyond BIGINT) falls back to one op at a time:
    the faulty op gets its error, the others are recorded (they got 500s before)."""
    bad = CertificateRecord(
        serial=serial(), der=os.urandom(600), provisioner="p", subject="s", not_before=0, not_after=2**63
    )
    ops = [IssueOp(cert(), token()), IssueOp(bad, token()), IssueOp(cert(), token())]
    results = store.apply(ops)
    assert results[0] is None and results[2] is None, results
    assert isinstance(results[1], Exception)
    assert store.get_certificate(ops[0].cert.serial) is not None
    assert store.get_certificate(ops[2].cert.serial) is not None
    assert store.get_certificate(bad.serial) is None
    assert ops[1].token is not None and not store.token_used(ops[1].token.token_id)
    assert store.failure is None  # a faulty op is not an unavailable database


def _commits_of(window: float, tmp_path: Path) -> tuple[list[int], float, float]:
    """Operations per commit when A commits (held until B arrived), B arrives during A's commit
    and C 50 ms after A's commit; and how long B waited after A's commit, and how long a lone
    operation on the idle store took."""
    import threading

    tmp_path.mkdir(parents=True)
    target = resolve_target(
        DBConfig.model_validate({"type": "sqlite", "dataSource": str(tmp_path / "g.db")}), tmp_path / "x.db"
    )
    sql = SQLStore(make_engine(target))
    sql.migrate()
    facade = AsyncStore(sql, readers=1, busy_window=window)
    sizes: list[int] = []
    facade.on_commit = lambda seconds, count: sizes.append(count)
    hold = threading.Event()
    apply = sql.apply

    def held_apply(ops: list[Any]) -> list[Any]:
        hold.wait(5)  # the first commit lasts until the test lets it end
        return apply(ops)

    sql.__dict__["apply"] = held_apply

    async def scenario() -> tuple[float, float]:
        a = asyncio.ensure_future(facade.apply(IssueOp(cert(), token())))
        await asyncio.sleep(0.05)  # A is in flight, held
        b = asyncio.ensure_future(facade.apply(IssueOp(cert(), token())))
        b_done: list[float] = []
        b.add_done_callback(lambda _: b_done.append(time.monotonic()))
        await asyncio.sleep(0.05)
        hold.set()
        await a
        a_done = time.monotonic()
        await asyncio.sleep(0.05)
        c = asyncio.ensure_future(facade.apply(IssueOp(cert(), token())))
        await b
        b_wait = b_done[0] - a_done
        await c
        await asyncio.sleep(0.3)  # idle again
        started = time.monotonic()
        await facade.apply(IssueOp(cert(), token()))
        return b_wait, time.monotonic() - started

    loop = asyncio.new_event_loop()
    try:
        b_wait, lone = loop.run_until_complete(scenario())
    finally:
        facade.close()
        loop.close()
    return sizes, b_wait, lone


def test_a_batch_that_finds_the_store_busy_waits_for_stragglers(tmp_path: Path) -> None:
    """Group commit under load (``busy_window``): what arrived during a commit waits the window
    and shares its commit with what arrives meanwhile; without the window it goes at once,
    alone; an idle store never waits."""
    sizes, b_wait, lone = _commits_of(0.3, tmp_path / "with")
    assert sizes == [1, 2, 1], sizes  # A; B and C together; the lone one
    assert b_wait >= 0.25, b_wait
    assert lone < 0.2, lone  # the idle store flushed at once, not after the window
    sizes, b_wait, lone = _commits_of(0.0, tmp_path / "without")
    assert sizes == [1, 1, 1, 1], sizes  # B went alone, right after A; then C
    assert b_wait < 0.045, b_wait
    assert lone < 0.2, lone
