"""Worker 0 forgets used token ids long after their tokens expired; live ones stay."""

from __future__ import annotations

import sqlite3
import time

from tests.helpers import PKI, start_ca
from tests.tokens import csr_for, signer_for


def test_expired_token_ids_are_purged(pki: PKI) -> None:
    ca = start_ca(pki, workers=2, env={**pki.env, "STEPCA_TOKEN_PURGE_INTERVAL": "0.5"})
    try:
        csr, _ = csr_for("svc.example.com")
        live = signer_for(pki).token()
        assert ca.request("POST", "/1.0/sign", {"csr": csr, "ott": live})[0] == 201
        db = sqlite3.connect(pki.step_path / "db" / "stepca.db", timeout=30)
        with db:
            db.executemany(
                "INSERT INTO used_tokens (token_id, provisioner, expires_at, used_at) VALUES (?, ?, ?, ?)",
                [(f"old-{i}", "p", 1000, 1000) for i in range(3000)],
            )
        deadline = time.time() + 20
        while time.time() < deadline and db.execute("SELECT count(*) FROM used_tokens").fetchone()[0] > 1:
            time.sleep(0.2)
        assert db.execute("SELECT count(*) FROM used_tokens").fetchone()[0] == 1
        db.close()
        while time.time() < deadline and "purged used tokens" not in ca.log():
            time.sleep(0.1)  # the log is flushed every 0.2 s
        assert "purged used tokens" in ca.log()
        # the live token is still refused as used
        assert ca.request("POST", "/1.0/sign", {"csr": csr, "ott": live})[0] == 401
    finally:
        ca.stop()
