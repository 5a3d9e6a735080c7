"""Revocation lists: the CRL number sequences and the published CRLs, delta CRLs and KRLs.

Numbers come from one counter row per scope, incremented in its own short transaction before a
list is built (never held while building: a 100,000-entry CRL takes a second). Whatever was
revoked before a number was handed out is in the list that carries it. Two builders finishing
out of order are harmless: the newest number with a body is the one served.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update

from stepca.db import schema
from stepca.db.dialect import Dialect
from stepca.db.operations import Outcome, PublishCRLOp
from stepca.db.queries._registry import STORED, executor
from stepca.db.records import CRLRecord, DuplicateCRLNumberError

_META = (
    "scope",
    "number",
    "kind",
    "base_number",
    "this_update",
    "next_update",
    "refresh_at",
    "tag",
)


def next_number(d: Dialect, conn: Connection, scope: str) -> int:
    """Hand out the next number of ``scope`` (1, 2, ...); commits.

    The UPDATE takes the row's lock, so concurrent callers on any instance are serialized and
    each reads back its own increment within its transaction (PostgreSQL, MySQL, SQLite)."""
    t = schema.crl_numbers
    conn.execute(d.insert_ignore(t), {"scope": scope, "number": 0})
    conn.execute(update(t).where(t.c.scope == scope).values(number=t.c.number + 1))
    number = int(conn.execute(select(t.c.number).where(t.c.scope == scope)).scalar_one())
    conn.commit()
    return number


def _record(row: Any, der: bytes = b"") -> CRLRecord:
    return CRLRecord(
        scope=row.scope,
        number=int(row.number),
        kind=row.kind,
        base_number=int(row.base_number),
        this_update=int(row.this_update),
        next_update=int(row.next_update),
        refresh_at=int(row.refresh_at),
        tag=row.tag,
        der=der,
    )


def published_numbers(conn: Connection, scopes: list[str]) -> dict[tuple[str, str], int]:
    """(scope, kind) → the number of the list served now (the newest with a body)."""
    t = schema.crls
    stmt = (
        select(t.c.scope, t.c.kind, func.max(t.c.number))
        .where(t.c.scope.in_(scopes), t.c.size > 0)
        .group_by(t.c.scope, t.c.kind)
    )
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(stmt)}


def latest(conn: Connection, scope: str, kind: str, with_der: bool) -> CRLRecord | None:
    """The list of ``kind`` served now, with its body or only its numbers and times."""
    t = schema.crls
    cols = [t.c[c] for c in _META] + ([t.c.der] if with_der else [])
    row = conn.execute(
        select(*cols)
        .where(t.c.scope == scope, t.c.kind == kind, t.c.size > 0)
        .order_by(t.c.number.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return _record(row, bytes(row.der) if with_der else b"")


def anchor(conn: Connection, scope: str, now: int) -> tuple[int, int] | None:
    """(number, thisUpdate) of the oldest complete CRL still valid at ``now``: a client may
    hold any of them, so a delta CRL names this one as its base (RFC 5280 5.2.4)."""
    t = schema.crls
    row = conn.execute(
        select(t.c.number, t.c.this_update)
        .where(t.c.scope == scope, t.c.kind == "base", t.c.next_update > now)
        .order_by(t.c.number)
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def purge(conn: Connection, before: int) -> int:
    """Forget replaced lists that expired before ``before``; commits."""
    t = schema.crls
    count = conn.execute(
        delete(t).where(t.c.size == 0, t.c.next_update < before).execution_options(preserve_rowcount=True)
    ).rowcount
    conn.commit()
    return int(count or 0)


def _stored(conn: Connection, op: PublishCRLOp) -> object:
    t = schema.crls
    found = conn.execute(
        select(t.c.tag, t.c.this_update).where(t.c.scope == op.crl.scope, t.c.number == op.crl.number)
    ).first()
    if found is not None and (found[0], int(found[1])) == (op.crl.tag, op.crl.this_update):
        return STORED
    return DuplicateCRLNumberError(op.crl.number)


@executor(PublishCRLOp, stored=_stored)
def publish(d: Dialect, conn: Connection, op: PublishCRLOp) -> Outcome:
    c, t = op.crl, schema.crls
    values = {name: getattr(c, name) for name in _META}
    values.update(size=len(c.der), der=c.der)
    if conn.execute(d.insert_ignore(t), values).rowcount != 1:
        return DuplicateCRLNumberError(c.number)
    newest = conn.execute(
        select(func.max(t.c.number)).where(t.c.scope == c.scope, t.c.kind == c.kind, t.c.size > 0)
    ).scalar_one()
    # only the newest body is ever served: empty the others (a CRL may weigh megabytes)
    conn.execute(
        update(t)
        .where(and_(t.c.scope == c.scope, t.c.kind == c.kind, t.c.size > 0, t.c.number < newest))
        .values(size=0, der=b"")
    )
    return None
