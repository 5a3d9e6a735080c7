"""The revocation-list record family on every backend (SQLite, the local PostgreSQL and
MariaDB): the number sequence, publishing, the served list, the delta's base, purges, and the
revocation reads the lists are made of."""

from __future__ import annotations

import threading
from pathlib import Path

from stepca.db.operations import IssueOp, PublishCRLOp, RevokeOp
from stepca.db.queries import crls
from stepca.db.records import CertificateRecord, CRLRecord, DuplicateCRLNumberError, RevocationRecord
from tests.db.backends import Backend
from tests.db.test_store import open_store


def _crl(
    number: int, kind: str = "base", *, next_update: int = 2000, der: bytes = b"crl", scope: str = "x509:a"
) -> CRLRecord:
    return CRLRecord(scope, number, kind, 1000 + number, next_update, next_update, "tag", der)


def test_numbers_publishing_and_reads(db_backend: Backend, tmp_path: Path) -> None:
    store = open_store(db_backend, tmp_path)
    try:
        assert [store.next_crl_number("x509:a") for _ in range(3)] == [1, 2, 3]
        assert store.next_crl_number("ssh") == 1  # one sequence per scope

        # numbers from many threads (instances) are each handed out once
        got: list[int] = []

        def take() -> None:
            for _ in range(10):
                got.append(
                    store.sql.write_now(lambda conn: crls.next_number(store.sql.dialect, conn, "x509:a"))
                )

        threads = [threading.Thread(target=take) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got) == list(range(4, 44))

        assert store.sql.apply([PublishCRLOp(_crl(5, next_update=1500))]) == [None]
        assert store.sql.apply([PublishCRLOp(_crl(7, der=b"x" * 100_000))]) == [None]
        assert store.sql.apply([PublishCRLOp(_crl(6))]) == [None]  # finished late: not served
        assert isinstance(store.sql.apply([PublishCRLOp(_crl(7))])[0], DuplicateCRLNumberError)
        assert store.sql.apply([PublishCRLOp(_crl(8, "delta"))]) == [None]
        assert store.published_crl_numbers(["x509:a", "ssh"]) == {
            ("x509:a", "base"): 7,
            ("x509:a", "delta"): 8,
        }
        served = store.get_published_crl("x509:a", "base")
        assert served is not None and served.number == 7 and served.der == b"x" * 100_000
        meta = store.get_published_crl("x509:a", "base", with_der=False)
        assert meta is not None and meta.der == b"" and meta.this_update == 1007
        assert db_backend.scalar("SELECT count(*) FROM crls WHERE kind = 'base' AND size > 0") == 1
        # the delta's base: the oldest complete CRL still valid
        assert store.crl_anchor("x509:a", 1400) == (5, 1005)
        assert store.crl_anchor("x509:a", 1600) == (6, 1006)
        assert store.crl_anchor("x509:a", 2500) is None
        assert store.purge_crls(1600) == 1  # number 5: replaced and expired
        assert store.published_crl_numbers(["x509:a"])[("x509:a", "base")] == 7
    finally:
        store.close()


def test_revocation_reads(db_backend: Backend, tmp_path: Path) -> None:
    store = open_store(db_backend, tmp_path)
    try:
        revs = [
            RevocationRecord("11", 1, "", revoked_at=100, not_after=5000, invalidity_date=90),
            RevocationRecord("12", 0, "", revoked_at=200, not_after=150),  # expired at 1000
            RevocationRecord("13", 4, "", revoked_at=300, not_after=0),  # unknown certificate
            RevocationRecord("21", 0, "", revoked_at=400, not_after=5000, kind="ssh"),
            RevocationRecord("22", 0, "", revoked_at=500, not_after=0, kind="ssh"),
        ]
        ssh_cert = CertificateRecord("21", b"blob-21", "p", "s", 0, 5000, kind="ssh")
        assert store.sql.apply([IssueOp(ssh_cert), *(RevokeOp(r) for r in revs)]) == [None] * 6
        entries = sorted(store.revoked_entries("x509", active_at=1000))
        assert [(e.serial, e.revoked_at, e.reason_code, e.invalidity_date, e.not_after) for e in entries] == [
            ("11", 100, 1, 90, 5000),
            ("13", 300, 4, 0, 0),
        ]
        assert all(isinstance(e.serial, str) and isinstance(e.revoked_at, int) for e in entries)
        assert [e.serial for e in store.revoked_entries("x509", active_at=1000, since=200)] == ["13"]
        assert store.latest_revocation_time("x509") == 300
        assert store.latest_revocation_time("ssh") == 500
        ssh = sorted(store.ssh_revoked_entries(active_at=1000))
        assert ssh == [("21", 5000, b"blob-21"), ("22", 0, None)]
    finally:
        store.close()


def test_after_commit_hooks(db_backend: Backend, tmp_path: Path) -> None:
    store = open_store(db_backend, tmp_path)
    seen: list[str] = []

    async def hook(op: RevokeOp) -> None:
        seen.append(op.revocation.serial)
        if op.revocation.serial == "2":
            raise RuntimeError("a failing hook never fails the write")

    def apply(serial: str) -> object:
        return store.loop.run_until_complete(store.facade.apply(RevokeOp(RevocationRecord(serial, 0, "", 1))))

    try:
        store.facade.after_commit(RevokeOp, hook)
        assert apply("1") is None
        assert apply("2") is None
        assert apply("1") is not None  # refused (already revoked): no hook
        assert seen == ["1", "2"]
    finally:
        store.close()
