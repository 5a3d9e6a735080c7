"""Reads for the SSH host endpoints (``/ssh/check-host``, ``/ssh/hosts``)."""

from __future__ import annotations

from sqlalchemy import select

from stepca.db import schema
from stepca.db.sql import SQLStore


def ssh_certificate_blobs(store: SQLStore, *, valid_at: int | None = None) -> list[bytes]:
    """The stored SSH certificates (wire blobs); with ``valid_at``, only those not expired at
    that time and not revoked."""
    t = schema.certificates
    stmt = select(t.c.der).where(t.c.kind == "ssh")
    if valid_at is not None:
        r = schema.revocations
        revoked = select(r.c.serial).where(r.c.kind == "ssh")
        stmt = stmt.where(t.c.not_after >= valid_at, t.c.serial.not_in(revoked))
    return store.run_query(lambda conn: [bytes(row.der) for row in conn.execute(stmt)])
