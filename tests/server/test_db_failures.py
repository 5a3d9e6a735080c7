"""The embedded database going away under a running CA (issue: no silent loss).

With the SQLite file deleted or replaced, or its disk full, writes answer 503 ``{status,
message}``, ``/health`` is not ok, and no 201 is ever answered for a certificate that is not in
the database file the CA reads at its next start. A full disk recovers by itself when space
returns; nothing stored is corrupted.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import PKI, CAProcess, start_ca
from tests.tokens import csr_for, signer_for

pytestmark = pytest.mark.timeout(120)


def sign_once(ca: CAProcess, pki: PKI, name: str) -> tuple[int, dict]:
    csr, _ = csr_for(name)
    tok = signer_for(pki).token(name, sans=[name])
    return ca.request("POST", "/1.0/sign", {"csr": csr, "ott": tok})


def serial_of(body: dict) -> str:
    from cryptography import x509

    return str(x509.load_pem_x509_certificate(body["crt"].encode()).serial_number)


def stored_serials(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT serial FROM certificates")}
    finally:
        conn.close()


def db_file(pki: PKI) -> Path:
    return pki.step_path / "db" / "stepca.db"


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_removed_database_file_answers_503_and_health_not_ok(pki: PKI, how: str) -> None:
    ca = start_ca(pki, workers=2)
    try:
        status, body = sign_once(ca, pki, "before.example.com")
        assert status == 201, body
        db = db_file(pki)
        if how == "deleted":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        else:  # another file (a restored backup, say) moved over it: a different inode
            shutil.copy(db, f"{db}.copy")
            os.replace(f"{db}.copy", db)
        answers = [sign_once(ca, pki, f"after-{i}.example.com") for i in range(6)]
        assert [s for s, _ in answers] == [503] * 6, answers
        for _, b in answers:
            assert b["status"] == 503 and "removed or replaced" in b["message"], b
        status, health = ca.request("GET", "/health")
        assert status == 503 and "removed or replaced" in health["message"], health
        assert "the database cannot record writes" in ca.log()
    finally:
        ca.stop()


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode == 0


@pytest.mark.slow
def test_a_full_disk_answers_503_loses_nothing_and_recovers(pki: PKI, tmp_path: Path) -> None:
    mnt = tmp_path / "small-disk"
    if not _mount_tmpfs(mnt, "4m"):
        pytest.skip("needs root to mount a size-limited tmpfs")
    try:
        db = mnt / "stepca.db"
        pki.edit_config(lambda cfg: cfg.__setitem__("db", {"type": "sqlite", "dataSource": str(db)}))
        # one worker: /health reports what its own writer saw, and with two the health request
        # could reach a worker that has not tried a write since the disk filled up
        ca = start_ca(pki, workers=1)
        try:
            assert sign_once(ca, pki, "first.example.com")[0] == 201
            # leave a little room only, then issue until the disk is full
            st = os.statvfs(mnt)
            filler = mnt / "filler"
            filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - 96 * 1024))
            answered: list[str] = []
            statuses: list[int] = []
            for i in range(400):
                status, body = sign_once(ca, pki, f"n{i}.example.com")
                statuses.append(status)
                if status == 201:
                    answered.append(serial_of(body))
                else:
                    assert status == 503 and body["status"] == 503, body
                    assert "cannot record writes" in body["message"], body
                if statuses[-3:] == [503, 503, 503]:
                    break
            assert 503 in statuses, "the disk never filled up"
            status, health = ca.request("GET", "/health")
            assert status == 503, health
            # space returns: the store probes itself and takes writes again
            filler.unlink()
            deadline = time.monotonic() + 10
            while ca.request("GET", "/health")[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ca.request("GET", "/health")[0] == 200
            status, body = sign_once(ca, pki, "after.example.com")
            assert status == 201, body
            answered.append(serial_of(body))
        finally:
            ca.stop()
        # every certificate answered with 201 is in the file, which is intact
        assert set(answered) <= stored_serials(db)
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
