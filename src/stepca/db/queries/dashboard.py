"""The web dashboard's record family: its sessions (``dashboard_sessions``) and the overview's
counts. Session writes commit on their own (``Store.write_now``): a login is not a CA change."""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, literal_column, select

from stepca.db import schema
from stepca.db.records import DashboardCounts, DashboardSession


def put_session(conn: Connection, session: DashboardSession) -> None:
    t = schema.dashboard_sessions
    conn.execute(delete(t).where(t.c.expires_at < session.created_at))  # expired ones go
    conn.execute(
        t.insert(),
        {
            "id_hash": session.id_hash,
            "subject": session.subject[:255],
            "provisioner": session.provisioner[:255],
            "method": session.method,
            "created_at": session.created_at,
            "expires_at": session.expires_at,
        },
    )
    conn.commit()


def get_session(conn: Connection, id_hash: str, now: int) -> DashboardSession | None:
    t = schema.dashboard_sessions
    r = conn.execute(select(t).where(t.c.id_hash == id_hash, t.c.expires_at > now)).first()
    if r is None:
        return None
    return DashboardSession(r.id_hash, r.subject, r.provisioner, r.method, r.created_at, r.expires_at)


def delete_session(conn: Connection, id_hash: str) -> None:
    t = schema.dashboard_sessions
    conn.execute(delete(t).where(t.c.id_hash == id_hash))
    conn.commit()


def counts(conn: Connection, now: int, hours: int) -> DashboardCounts:
    """Issued per hour (``created_at`` index range), expiring within 24 h and not revoked,
    revoked and not expired, valid certificates by provisioner (the provisioner index)."""
    from stepca.db.queries.certificates import count_expiring

    c, r = schema.certificates, schema.revocations
    start = now - hours * 3600
    # hour buckets in SQL, without division (integer division differs between dialects)
    offset = c.c.created_at - literal_column(str(int(start)))  # an int: the same text in GROUP BY
    hour = (offset - offset % 3600).label("hour")
    rows = conn.execute(
        select(hour, func.count())
        .where(c.c.kind == "x509", c.c.created_at >= start, c.c.created_at <= now)
        .group_by(hour)
    )
    per_hour = [0] * hours
    for offset_s, n in rows:
        per_hour[min(hours - 1, max(0, int(offset_s) // 3600))] += int(n)
    revoked = conn.execute(
        select(func.count()).select_from(r).where(r.c.kind == "x509", r.c.not_after >= now)
    ).scalar_one()
    by_prov = conn.execute(
        select(c.c.provisioner, func.count())
        .where(c.c.kind == "x509", c.c.not_after >= now)
        .group_by(c.c.provisioner)
        .order_by(c.c.provisioner)
    ).all()
    return DashboardCounts(
        issued_per_hour=tuple(per_hour),
        expiring_24h=count_expiring(conn, "x509", now, now + 86400),
        revoked=int(revoked),
        per_provisioner=tuple((str(p), int(n)) for p, n in by_prov),
    )
