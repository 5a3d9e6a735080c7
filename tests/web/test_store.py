"""The dashboard's record family on every backend: sessions by their hash, expired ones unseen
and purged, and the overview's counts (issued per hour in SQL buckets)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from stepca.db.operations import IssueOp, RevokeOp
from stepca.db.records import CertificateRecord, DashboardSession, RevocationRecord
from tests.db.backends import Backend
from tests.db.test_store import StoreUnderTest, open_store


@pytest.fixture
def store(db_backend: Backend, tmp_path: Path) -> Iterator[StoreUnderTest]:
    s = open_store(db_backend, tmp_path)
    yield s
    s.close()


def test_sessions(store: StoreUnderTest) -> None:
    now = int(time.time())
    old = DashboardSession("a" * 64, "boss", "admin", "password", now - 10_000, now - 1)
    store.put_dashboard_session(old)
    assert store.get_dashboard_session("a" * 64, now) is None  # expired: not a session
    live = DashboardSession("b" * 64, "boss@example.com", "prov", "certificate", now, now + 3600)
    store.put_dashboard_session(live)  # and the expired one goes
    assert store.get_dashboard_session("b" * 64, now) == live
    with store.sql.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dashboard_sessions")).scalar_one() == 1
    store.delete_dashboard_session("b" * 64)
    assert store.get_dashboard_session("b" * 64, now) is None


def test_overview_counts(store: StoreUnderTest) -> None:
    now = int(time.time())
    ages = {"1": 30, "2": 3600 + 5, "3": 3600 + 50, "4": 23 * 3600 + 10, "5": 30 * 3600}
    for serial in ages:
        store.apply([IssueOp(CertificateRecord(serial, b"der", "p1" if serial != "5" else "p2",
                                               f"s{serial}", now - 60, now + 3600 if serial == "1" else now + 90_000))])  # fmt: skip
    with store.sql.engine.begin() as conn:
        for serial, age in ages.items():
            conn.execute(text("UPDATE certificates SET created_at = :t WHERE serial = :s"),
                         {"t": now - age, "s": serial})  # fmt: skip
    store.apply([RevokeOp(RevocationRecord("2", 1, "", now, not_after=now + 90_000))])
    counts = store.dashboard_counts(now)
    assert len(counts.issued_per_hour) == 24
    assert counts.issued_per_hour[-1] == 1 and counts.issued_per_hour[-2] == 2
    assert counts.issued_per_hour[0] == 1 and sum(counts.issued_per_hour) == 4  # 30 h ago: out
    assert counts.expiring_24h == 1
    assert counts.revoked == 1
    assert counts.per_provisioner == (("p1", 4), ("p2", 1))
