"""Used one-time token ids: their unique key is what makes every token single-use."""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, select

from stepca.db import schema
from stepca.db.dialect import Dialect
from stepca.db.operations import Outcome, UseTokenOp
from stepca.db.queries._registry import executor
from stepca.db.records import TokenReusedError, UsedToken

COLUMNS = ("token_id", "provisioner", "expires_at", "used_at")


def row(token: UsedToken, now: int) -> tuple[str, str, int, int]:
    return (token.token_id[:255], token.provisioner[:255], token.expires_at, now)


def insert(d: Dialect, conn: Connection, token: UsedToken) -> bool:
    """Record the token id unless it is there; True when it was not used before."""
    values = dict(zip(COLUMNS, row(token, int(time.time())), strict=True))
    return bool(conn.execute(d.insert_ignore(schema.used_tokens), values).rowcount == 1)


def used(conn: Connection, token_id: str) -> bool:
    t = schema.used_tokens
    return conn.execute(select(t.c.token_id).where(t.c.token_id == token_id)).first() is not None


def purge(d: Dialect, conn: Connection, before: int, limit: int) -> int:
    """Delete up to ``limit`` ids whose tokens expired before ``before``; commits."""
    t = schema.used_tokens
    if d.is_mysql:
        stmt = delete(t).where(t.c.expires_at < before).with_dialect_options(mysql_limit=limit)
    else:
        chunk = select(t.c.token_id).where(t.c.expires_at < before).limit(limit)
        stmt = delete(t).where(t.c.token_id.in_(chunk))
    count = int(conn.execute(stmt).rowcount)
    conn.commit()
    return count


def _stored(conn: Connection, op: UseTokenOp) -> object:
    # a token use leaves no row that proves *this* transaction committed: run it again, and a
    # use whose commit was lost shows as "already used" - refused, never accepted twice
    return TokenReusedError(op.token.token_id)


@executor(UseTokenOp, stored=_stored)
def use_token(d: Dialect, conn: Connection, op: UseTokenOp) -> Outcome:
    if not insert(d, conn, op.token):
        return TokenReusedError(op.token.token_id)
    return None
