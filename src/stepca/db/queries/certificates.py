"""Issued certificates (X.509 DER and SSH wire blobs)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select

from stepca.db import schema
from stepca.db.dialect import Dialect
from stepca.db.operations import IssueOp, Outcome
from stepca.db.queries import tokens
from stepca.db.queries._registry import STORED, executor
from stepca.db.records import (
    AuditEvent,
    CertificateQuery,
    CertificateRecord,
    CertificateRow,
    TokenReusedError,
)

COLUMNS = (
    "serial",
    "kind",
    "provisioner",
    "subject",
    "not_before",
    "not_after",
    "origin",
    "created_at",
    "der",
    "credential",
    "remote",
)
_insert = insert(schema.certificates)


def row(c: CertificateRecord, now: int, audit: AuditEvent | None = None) -> tuple[Any, ...]:
    """The row of an issued certificate; ``audit`` fills its audit columns (who, from where)."""
    return (
        c.serial,
        c.kind,
        c.provisioner[:255],
        c.subject[:1024],
        c.not_before,
        c.not_after,
        c.origin,
        now,
        c.der,
        audit.credential[:255] if audit is not None else "",
        audit.remote[:64] if audit is not None else "",
    )


def _record(r: Any) -> CertificateRecord:
    return CertificateRecord(
        serial=r.serial,
        der=bytes(r.der),
        provisioner=r.provisioner,
        subject=r.subject,
        not_before=r.not_before,
        not_after=r.not_after,
        kind=r.kind,
        origin=r.origin,
    )


def get(conn: Connection, serial: str, kind: str) -> CertificateRecord | None:
    t = schema.certificates
    r = conn.execute(select(t).where(t.c.serial == serial, t.c.kind == kind)).first()
    return None if r is None else _record(r)


_c, _r = schema.certificates, schema.revocations
#: built once (a renewal reads it per request): the certificate and whether it is revoked
_GET_WITH_REVOCATION = (
    select(_c, _r.c.serial.label("revoked_serial"))
    .select_from(_c.outerjoin(_r, and_(_r.c.serial == _c.c.serial, _r.c.kind == _c.c.kind)))
    .where(_c.c.serial == bindparam("serial"), _c.c.kind == bindparam("kind"))
)


def get_with_revocation(conn: Connection, serial: str, kind: str) -> tuple[CertificateRecord | None, bool]:
    """The certificate (None when unknown) and whether it is revoked, in one query: a renewal
    asks both, and each read costs a trip to a reader thread."""
    r = conn.execute(_GET_WITH_REVOCATION, {"serial": serial, "kind": kind}).first()
    if r is None:
        return None, False
    return _record(r), r.revoked_serial is not None


def count(conn: Connection, kind: str) -> int:
    t = schema.certificates
    return int(conn.execute(select(func.count()).select_from(t).where(t.c.kind == kind)).scalar_one())


def list_page(conn: Connection, q: CertificateQuery) -> list[CertificateRow]:
    """A page of the inventory (``CertificateQuery``): one index range (``not_after``, or
    ``(provisioner, not_after)``, or ``subject``) in expiry order, each row checked against the
    revocations' primary key."""
    t, r = schema.certificates, schema.revocations
    stmt = (
        select(
            t.c.serial,
            t.c.kind,
            t.c.provisioner,
            t.c.subject,
            t.c.not_before,
            t.c.not_after,
            t.c.origin,
            t.c.created_at,
            r.c.revoked_at,
            r.c.reason_code,
        )
        .select_from(t.outerjoin(r, (r.c.serial == t.c.serial) & (r.c.kind == t.c.kind)))
        .where(t.c.kind == q.kind)
    )
    if q.provisioner:
        stmt = stmt.where(t.c.provisioner == q.provisioner)
    if q.subject:
        stmt = stmt.where(t.c.subject == q.subject)
    if q.revoked is True:
        stmt = stmt.where(r.c.serial.is_not(None))
    elif q.revoked is False:
        stmt = stmt.where(r.c.serial.is_(None))
    if q.not_after_from:
        stmt = stmt.where(t.c.not_after >= q.not_after_from)
    if q.not_after_to:
        stmt = stmt.where(t.c.not_after < q.not_after_to)
    if q.after is not None:
        not_after, serial = q.after
        # the first term bounds the index range (the OR alone makes some planners scan from the start)
        stmt = stmt.where(
            t.c.not_after >= not_after,
            or_(t.c.not_after > not_after, and_(t.c.not_after == not_after, t.c.serial > serial)),
        )
    stmt = stmt.order_by(t.c.not_after, t.c.serial).limit(max(1, min(q.limit, 1000)))
    return [
        CertificateRow(
            serial=row.serial,
            kind=row.kind,
            provisioner=row.provisioner,
            subject=row.subject,
            not_before=row.not_before,
            not_after=row.not_after,
            origin=row.origin,
            created_at=row.created_at,
            revoked_at=row.revoked_at or 0,
            reason_code=row.reason_code or 0,
        )
        for row in conn.execute(stmt)
    ]


def count_expiring(conn: Connection, kind: str, start: int, end: int) -> int:
    """Certificates of ``kind`` whose validity ends in [start, end) and that are not revoked
    (a range of the ``not_after`` index, each checked against the revocations' primary key)."""
    t, r = schema.certificates, schema.revocations
    revoked = select(r.c.serial).where(r.c.serial == t.c.serial, r.c.kind == t.c.kind).exists()
    stmt = (
        select(func.count())
        .select_from(t)
        .where(t.c.kind == kind, t.c.not_after >= start, t.c.not_after < end, ~revoked)
    )
    return int(conn.execute(stmt).scalar_one())


def ssh_blobs(conn: Connection, valid_at: int | None) -> list[bytes]:
    """The stored SSH certificates; with ``valid_at``, those not expired then and not revoked."""
    t = schema.certificates
    stmt = select(t.c.der).where(t.c.kind == "ssh")
    if valid_at is not None:
        r = schema.revocations
        revoked = select(r.c.serial).where(r.c.kind == "ssh")
        stmt = stmt.where(t.c.not_after >= valid_at, t.c.serial.not_in(revoked))
    return [bytes(r.der) for r in conn.execute(stmt)]


def _stored(conn: Connection, op: IssueOp) -> object:
    cert = get(conn, op.cert.serial, op.cert.kind)
    if cert is not None and cert.der == op.cert.der:
        return STORED
    return TokenReusedError(op.token.token_id if op.token else "")


def _batch(d: Dialect, cursor: Any, ops: list[IssueOp]) -> list[Outcome] | None:
    """The hot path: a batch of issuances as two multi-row inserts in the caller's transaction.

    Token ids are inserted with "insert unless present"; when the affected-row count shows a
    replayed token, None tells the caller to roll back and run the operations one by one, which
    reports exactly which token was reused."""
    now = int(time.time())
    toks = [tokens.row(op.token, now) for op in ops if op.token is not None]
    if toks and d.insert_rows(cursor, "used_tokens", tokens.COLUMNS, toks, ignore=True) != len(toks):
        return None
    d.insert_rows(cursor, "certificates", COLUMNS, [row(op.cert, now, op.audit) for op in ops])
    return [None] * len(ops)


@executor(IssueOp, stored=_stored, batch=_batch)
def issue(d: Dialect, conn: Connection, op: IssueOp) -> Outcome:
    if op.token is not None and not tokens.insert(d, conn, op.token):
        return TokenReusedError(op.token.token_id)
    conn.execute(_insert, dict(zip(COLUMNS, row(op.cert, int(time.time()), op.audit), strict=True)))
    return None
