"""The expiry warnings' record family: which certificates were reported (``expiry_notices``),
and which are due a warning."""

from __future__ import annotations

from sqlalchemy import Connection, delete, exists, select

from stepca.db import schema
from stepca.db.dialect import Dialect
from stepca.db.operations import NoteExpiryOp, Outcome
from stepca.db.queries._registry import STORED, executor
from stepca.db.records import CertificateRow


def due(conn: Connection, now: int, within: int, limit: int) -> list[CertificateRow]:
    """Certificates valid now that end within ``within`` seconds and are past two thirds of
    their life (when a client should have renewed), not revoked, not renewed (no certificate
    of the same kind, subject and provisioner ends later), not reported yet; soonest first."""
    c, r, n = schema.certificates, schema.revocations, schema.expiry_notices
    d = schema.certificates.alias("newer")
    stmt = (
        select(
            c.c.serial,
            c.c.kind,
            c.c.provisioner,
            c.c.subject,
            c.c.not_before,
            c.c.not_after,
            c.c.origin,
            c.c.created_at,
        )
        .where(
            c.c.not_after >= now,
            c.c.not_after < now + within,
            3 * (now - c.c.not_before) >= 2 * (c.c.not_after - c.c.not_before),
            ~exists().where(r.c.serial == c.c.serial, r.c.kind == c.c.kind),
            ~exists().where(n.c.serial == c.c.serial, n.c.kind == c.c.kind),
            ~exists().where(
                d.c.subject == c.c.subject,
                d.c.kind == c.c.kind,
                d.c.provisioner == c.c.provisioner,
                d.c.not_after > c.c.not_after,
            ),
        )
        .order_by(c.c.not_after)
        .limit(limit)
    )
    return [CertificateRow(*row) for row in conn.execute(stmt)]


def purge(conn: Connection, before: int) -> int:
    t = schema.expiry_notices
    return int(conn.execute(delete(t).where(t.c.not_after < before)).rowcount or 0)


def _stored(conn: Connection, op: NoteExpiryOp) -> object:
    t = schema.expiry_notices
    found = conn.execute(select(t.c.serial).where(t.c.serial == op.serial, t.c.kind == op.kind)).first()
    return STORED if found is not None else None


@executor(NoteExpiryOp, stored=_stored)
def note(d: Dialect, conn: Connection, op: NoteExpiryOp) -> Outcome:
    values = {"serial": op.serial, "kind": op.kind, "not_after": op.not_after, "notified_at": op.notified_at}
    conn.execute(d.insert_ignore(schema.expiry_notices), values)  # reported twice by a race: once is enough
    return None
