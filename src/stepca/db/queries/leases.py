"""Cluster-wide job leases: one row per job, held by one owner until it expires.

Times are each instance's wall clock in milliseconds: instances are expected to run NTP, and the
lease time (tens of seconds) dwarfs their skew.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from stepca.db import schema
from stepca.db.dialect import Dialect
from stepca.db.records import Lease


def get(conn: Connection, name: str) -> Lease | None:
    t = schema.job_leases
    r = conn.execute(select(t).where(t.c.name == name)).first()
    if r is None:
        return None
    return Lease(
        name=r.name, owner=r.owner, expires_at=r.expires_at_ms / 1000, acquired_at=r.acquired_at_ms / 1000
    )


def acquire(d: Dialect, conn: Connection, name: str, owner: str, now_ms: int, ttl_ms: int) -> Lease | None:
    """Take the lease if it is free, expired or already ours (then renew it); commits."""
    t = schema.job_leases
    expires = now_ms + ttl_ms
    values = {"name": name, "owner": owner[:255], "expires_at_ms": expires, "acquired_at_ms": now_ms}
    taken = conn.execute(d.insert_ignore(t), values).rowcount == 1
    if not taken:
        renewed = conn.execute(
            update(t)
            .where(t.c.name == name, t.c.owner == owner[:255])
            .values(expires_at_ms=expires)
            .execution_options(preserve_rowcount=True)
        ).rowcount
        if renewed != 1:
            taken = (
                conn.execute(
                    update(t)
                    .where(t.c.name == name, t.c.expires_at_ms < now_ms)
                    .values(owner=owner[:255], expires_at_ms=expires, acquired_at_ms=now_ms)
                    .execution_options(preserve_rowcount=True)
                ).rowcount
                == 1
            )
            if not taken:
                conn.rollback()
                return None
    conn.commit()
    return get(conn, name)


def release(conn: Connection, name: str, owner: str) -> None:
    t = schema.job_leases
    conn.execute(delete(t).where(t.c.name == name, t.c.owner == owner[:255]))
    conn.commit()
