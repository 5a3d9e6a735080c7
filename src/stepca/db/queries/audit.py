"""The audit log of certificate events (``audit_events``): rows written by the issuance and
revocation executors in their own transaction, and read back by the admin API."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, insert, select

from stepca.db import schema
from stepca.db.records import AuditEvent

COLUMNS = ("at_ms", "action", "kind", "serial", "subject", "names", "provisioner", "credential", "remote")
_insert = insert(schema.audit_events)


def row(e: AuditEvent, at_ms: int) -> tuple[Any, ...]:
    return (
        at_ms,
        e.action[:32],
        e.kind,
        e.serial,
        e.subject[:1024],
        json.dumps(list(e.names), separators=(",", ":")).encode(),
        e.provisioner[:255],
        e.credential[:255],
        e.remote[:255],
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def insert_one(conn: Connection, e: AuditEvent) -> None:
    conn.execute(_insert, dict(zip(COLUMNS, row(e, now_ms()), strict=True)))


def events(conn: Connection, serial: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """The newest events first (of one serial when given)."""
    t = schema.audit_events
    stmt = select(t)
    if serial:
        stmt = stmt.where(t.c.serial == serial)
    out = []
    for r in conn.execute(stmt.order_by(t.c.id.desc()).limit(limit)):
        out.append(
            {
                "at": r.at_ms,
                "action": r.action,
                "kind": r.kind,
                "serial": r.serial,
                "subject": r.subject,
                "names": json.loads(bytes(r.names) or b"[]"),
                "provisioner": r.provisioner,
                "credential": r.credential,
                "remote": r.remote,
            }
        )
    return out
