"""Remote administration: provisioners, admins, the audit trail and the set's version.

Every change is one ``AdminChangeOp``: its first statement bumps the version row *if it still
holds the version the change was checked against* (the row lock serializes concurrent changes on
every backend; a change checked against an older set gets ``AdminConflictError`` and writes
nothing), then the rows, the audit lines and the admin token id go in the same transaction.
Workers poll ``version`` (one primary-key read) and rebuild their registry when it moved.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from stepca.db import schema
from stepca.db.dialect import Dialect
from stepca.db.notify import ADMIN_CHANNEL
from stepca.db.operations import AdminChangeOp, Outcome
from stepca.db.queries import tokens
from stepca.db.queries._registry import STORED, executor
from stepca.db.records import (
    AdminConflictError,
    AdminRecord,
    AdminState,
    AlreadyImportedError,
    AuditRecord,
    ProvisionerRow,
    TokenReusedError,
)

VERSION_ROW = 1


def version(conn: Connection) -> int:
    """The version of the set (0: the ca.json provisioners were never imported)."""
    t = schema.admin_config
    found = conn.execute(select(t.c.version).where(t.c.id == VERSION_ROW)).scalar()
    return int(found or 0)


def state(conn: Connection) -> AdminState:
    """The whole set (a few rows: read whole, never paged in SQL). The version is read first:
    rows newer than it only make a change checked against them fail with a conflict, and the
    next poll sees the newer version."""
    p, a = schema.admin_provisioners, schema.admins
    v = version(conn)
    provs = tuple(
        ProvisionerRow(
            id=r.id, name=r.name, type=r.type, document=bytes(r.document).decode(), position=int(r.position)
        )
        for r in conn.execute(select(p).order_by(p.c.position, p.c.id))
    )
    admins = tuple(
        AdminRecord(id=r.id, provisioner_id=r.provisioner_id, subject=r.subject, type=r.type)
        for r in conn.execute(select(a).order_by(a.c.created_at, a.c.id))
    )
    return AdminState(version=v, provisioners=provs, admins=admins)


def audit(conn: Connection, limit: int = 100) -> list[AuditRecord]:
    """The newest ``limit`` audit lines, newest first."""
    t = schema.admin_audit
    rows = conn.execute(select(t).order_by(t.c.id.desc()).limit(limit))
    return [
        AuditRecord(
            actor=r.actor,
            action=r.action,
            target=r.target,
            before=None if r.before is None else bytes(r.before).decode(),
            after=None if r.after is None else bytes(r.after).decode(),
            remote=r.remote,
            at_ms=int(r.at_ms),
        )
        for r in rows
    ]


def _bump(d: Dialect, conn: Connection, expect: int | None) -> bool:
    t = schema.admin_config
    now_ms = int(time.time() * 1000)
    if expect is None:  # the one-time import creates the row: exactly one instance does
        values = {"id": VERSION_ROW, "version": 1, "updated_at_ms": now_ms}
        return bool(conn.execute(d.insert_ignore(t), values).rowcount == 1)
    count = conn.execute(
        update(t)
        .where(t.c.id == VERSION_ROW, t.c.version == expect)
        .values(version=t.c.version + 1, updated_at_ms=now_ms)
        .execution_options(preserve_rowcount=True)
    ).rowcount
    return bool(count == 1)


def _provisioner_values(row: ProvisionerRow, now: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "document": row.document.encode(),
        "position": row.position,
        "updated_at": now,
    }


def _stored(conn: Connection, op: AdminChangeOp) -> object:
    """A lost commit is proven by its first audit line (same time, actor, action, target)."""
    if not op.audit:
        return AdminConflictError()
    first, t = op.audit[0], schema.admin_audit
    found = conn.execute(
        select(t.c.id).where(
            t.c.at_ms == first.at_ms,
            t.c.actor == first.actor[:255],
            t.c.action == first.action[:64],
            t.c.target == first.target[:255],
        )
    ).first()
    if found is not None:
        return STORED
    return AlreadyImportedError() if op.expect_version is None else AdminConflictError()


@executor(AdminChangeOp, stored=_stored)
def apply_change(d: Dialect, conn: Connection, op: AdminChangeOp) -> Outcome:
    if op.token is not None and not tokens.insert(d, conn, op.token):
        return TokenReusedError(op.token.token_id)
    if not _bump(d, conn, op.expect_version):
        return AlreadyImportedError() if op.expect_version is None else AdminConflictError()
    if d.name == "postgresql":  # delivered at commit: listeners poll at once (db/notify.py)
        conn.execute(select(func.pg_notify(ADMIN_CHANNEL, "")))
    now = int(time.time())
    p, a = schema.admin_provisioners, schema.admins
    for pid in op.delete_provisioners:
        conn.execute(delete(a).where(a.c.provisioner_id == pid))
        conn.execute(delete(p).where(p.c.id == pid))
    for aid in op.delete_admins:
        conn.execute(delete(a).where(a.c.id == aid))
    for row in op.put_provisioners:
        values = _provisioner_values(row, now)
        done = conn.execute(
            update(p).where(p.c.id == row.id).values(**values).execution_options(preserve_rowcount=True)
        ).rowcount
        if done != 1:
            conn.execute(p.insert().values(created_at=now, **values))
    for adm in op.put_admins:
        values = {"provisioner_id": adm.provisioner_id, "subject": adm.subject, "type": adm.type}
        done = conn.execute(
            update(a).where(a.c.id == adm.id).values(**values).execution_options(preserve_rowcount=True)
        ).rowcount
        if done != 1:
            conn.execute(a.insert().values(id=adm.id, created_at=now, **values))
    t = schema.admin_audit
    for line in op.audit:
        conn.execute(
            t.insert().values(
                at_ms=line.at_ms,
                actor=line.actor[:255],
                action=line.action[:64],
                target=line.target[:255],
                before=None if line.before is None else line.before.encode(),
                after=None if line.after is None else line.after.encode(),
                remote=line.remote[:255],
            )
        )
    return None
