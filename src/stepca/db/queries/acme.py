"""ACME accounts, orders, authorizations, challenges, nonces and EAB keys (migration v6).

Every rule that must hold across instances is a database constraint or a conditional update:
a nonce is used once (primary key), one key is one account per provisioner (unique index), a
state transition applies only from the state it expects (``UPDATE ... WHERE status IN``), an EAB
key binds once (``UPDATE ... WHERE account_id = ''``). Nothing is read-then-written across
transactions, so any number of orders of one account proceed at once on any instance.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from sqlalchemy import Connection, Table, delete, select, update

from stepca.db import schema
from stepca.db.acme_records import (
    AccountKeyInUseError,
    AccountRecord,
    AddEABKeyOp,
    AuthzRecord,
    ChallengeRecord,
    ChangeAccountKeyOp,
    EABKeyRecord,
    EABKeyUnusableError,
    NewAccountOp,
    NewOrderOp,
    NonceReusedError,
    OrderRecord,
    RemoveEABKeyOp,
    StaleStateError,
    TransitionOp,
    UseNonceOp,
)
from stepca.db.dialect import Dialect
from stepca.db.operations import Outcome
from stepca.db.queries._registry import STORED, executor

_TABLES: dict[str, Table] = {
    "account": schema.acme_accounts,
    "order": schema.acme_orders,
    "authz": schema.acme_authzs,
    "challenge": schema.acme_challenges,
}
#: columns a ``RowUpdate`` may set, per family (anything else is a programming error)
_UPDATABLE = {
    "account": frozenset({"status", "contact"}),
    "order": frozenset({"status", "error", "cert_serial"}),
    "authz": frozenset({"status", "expires_at"}),
    "challenge": frozenset({"status", "validated_at", "error"}),
}


# ------------------------------------------------------------------------ rows ↔ records


def _account(row: Any) -> AccountRecord:
    return AccountRecord(
        id=row.id,
        provisioner=row.provisioner,
        thumbprint=row.thumbprint,
        jwk=row.jwk,
        status=row.status,
        contact=tuple(json.loads(row.contact)),
        eab_key_id=row.eab_key_id,
        created_at=int(row.created_at),
    )


def _account_values(a: AccountRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "provisioner": a.provisioner,
        "thumbprint": a.thumbprint,
        "jwk": a.jwk,
        "status": a.status,
        "contact": json.dumps(list(a.contact)),
        "eab_key_id": a.eab_key_id,
        "created_at": a.created_at,
    }


def _order(row: Any) -> OrderRecord:
    return OrderRecord(
        id=row.id,
        account_id=row.account_id,
        provisioner=row.provisioner,
        status=row.status,
        expires_at=int(row.expires_at),
        identifiers=tuple((t, v) for t, v in json.loads(row.identifiers)),
        authz_ids=tuple(json.loads(row.authz_ids)),
        not_before=int(row.not_before),
        not_after=int(row.not_after),
        profile=row.profile,
        replaces=row.replaces,
        error=row.error,
        cert_serial=row.cert_serial,
        created_at=int(row.created_at),
    )


def _order_values(o: OrderRecord) -> dict[str, Any]:
    return {
        "id": o.id,
        "account_id": o.account_id,
        "provisioner": o.provisioner,
        "status": o.status,
        "expires_at": o.expires_at,
        "identifiers": json.dumps([list(i) for i in o.identifiers]),
        "authz_ids": json.dumps(list(o.authz_ids)),
        "not_before": o.not_before,
        "not_after": o.not_after,
        "profile": o.profile,
        "replaces": o.replaces,
        "error": o.error,
        "cert_serial": o.cert_serial,
        "created_at": o.created_at,
    }


def _authz(row: Any) -> AuthzRecord:
    return AuthzRecord(
        id=row.id,
        account_id=row.account_id,
        order_id=row.order_id,
        identifier_type=row.identifier_type,
        identifier_value=row.identifier_value,
        wildcard=bool(row.wildcard),
        status=row.status,
        expires_at=int(row.expires_at),
        created_at=int(row.created_at),
    )


def _challenge(row: Any) -> ChallengeRecord:
    return ChallengeRecord(
        id=row.id,
        authz_id=row.authz_id,
        type=row.type,
        token=row.token,
        status=row.status,
        validated_at=int(row.validated_at),
        error=row.error,
    )


def _eab(row: Any) -> EABKeyRecord:
    return EABKeyRecord(
        id=row.id,
        provisioner=row.provisioner,
        reference=row.reference,
        hmac_key=bytes(row.hmac_key),
        account_id=row.account_id,
        created_at=int(row.created_at),
        bound_at=int(row.bound_at),
    )


# ------------------------------------------------------------------------ reads


def secret(d: Dialect, conn: Connection, name: str) -> bytes:
    """The shared secret ``name``, made by whichever instance asks first; commits."""
    t = schema.acme_secrets
    conn.execute(d.insert_ignore(t), {"name": name, "value": secrets.token_bytes(32)})
    value = bytes(conn.execute(select(t.c.value).where(t.c.name == name)).scalar_one())
    conn.commit()
    return value


def account(conn: Connection, account_id: str) -> AccountRecord | None:
    t = schema.acme_accounts
    row = conn.execute(select(t).where(t.c.id == account_id)).first()
    return None if row is None else _account(row)


def account_by_key(conn: Connection, provisioner: str, thumbprint: str) -> AccountRecord | None:
    t = schema.acme_accounts
    row = conn.execute(select(t).where(t.c.provisioner == provisioner, t.c.thumbprint == thumbprint)).first()
    return None if row is None else _account(row)


def order(conn: Connection, order_id: str) -> OrderRecord | None:
    t = schema.acme_orders
    row = conn.execute(select(t).where(t.c.id == order_id)).first()
    return None if row is None else _order(row)


def order_by_certificate(conn: Connection, serial: str) -> OrderRecord | None:
    t = schema.acme_orders
    row = conn.execute(select(t).where(t.c.cert_serial == serial).limit(1)).first()
    return None if row is None else _order(row)


def orders_of_account(conn: Connection, account_id: str, limit: int) -> list[OrderRecord]:
    t = schema.acme_orders
    rows = conn.execute(
        select(t).where(t.c.account_id == account_id).order_by(t.c.created_at, t.c.id).limit(limit)
    )
    return [_order(r) for r in rows]


def authz(conn: Connection, authz_id: str) -> AuthzRecord | None:
    t = schema.acme_authzs
    row = conn.execute(select(t).where(t.c.id == authz_id)).first()
    return None if row is None else _authz(row)


def authzs_of_order(conn: Connection, order_id: str) -> list[AuthzRecord]:
    t = schema.acme_authzs
    return [_authz(r) for r in conn.execute(select(t).where(t.c.order_id == order_id).order_by(t.c.id))]


def authzs(conn: Connection, ids: list[str]) -> list[AuthzRecord]:
    """The authorizations ``ids``, in that order (missing ones left out)."""
    t = schema.acme_authzs
    found = {r.id: _authz(r) for r in conn.execute(select(t).where(t.c.id.in_(ids)))} if ids else {}
    return [found[i] for i in ids if i in found]


def reusable_authz(
    conn: Connection, account_id: str, kind: str, value: str, wildcard: bool, valid_until: int
) -> AuthzRecord | None:
    """The account's newest valid authorization for the identifier that is still valid at
    ``valid_until`` (RFC 8555 §7.4: a server may reuse one for a new order)."""
    t = schema.acme_authzs
    row = conn.execute(
        select(t)
        .where(
            t.c.account_id == account_id,
            t.c.identifier_type == kind,
            t.c.identifier_value == value,
            t.c.wildcard == wildcard,
            t.c.status == "valid",
            t.c.expires_at > valid_until,
        )
        .order_by(t.c.expires_at.desc())
        .limit(1)
    ).first()
    return None if row is None else _authz(row)


def challenge(conn: Connection, challenge_id: str) -> ChallengeRecord | None:
    t = schema.acme_challenges
    row = conn.execute(select(t).where(t.c.id == challenge_id)).first()
    return None if row is None else _challenge(row)


def challenges_of_authz(conn: Connection, authz_id: str) -> list[ChallengeRecord]:
    t = schema.acme_challenges
    rows = conn.execute(select(t).where(t.c.authz_id == authz_id).order_by(t.c.type))
    return [_challenge(r) for r in rows]


def stale_challenges(conn: Connection, before: int, limit: int) -> list[ChallengeRecord]:
    """Challenges still ``processing`` since before ``before`` (their worker died mid-validation)."""
    t = schema.acme_challenges
    rows = conn.execute(
        select(t)
        .where(t.c.status == "processing", t.c.validated_at < before)
        .order_by(t.c.validated_at)
        .limit(limit)
    )
    return [_challenge(r) for r in rows]


def eab_key(conn: Connection, key_id: str) -> EABKeyRecord | None:
    t = schema.acme_eab_keys
    row = conn.execute(select(t).where(t.c.id == key_id)).first()
    return None if row is None else _eab(row)


def eab_keys(conn: Connection, provisioner: str, reference: str | None) -> list[EABKeyRecord]:
    t = schema.acme_eab_keys
    stmt = select(t).where(t.c.provisioner == provisioner)
    if reference is not None:
        stmt = stmt.where(t.c.reference == reference)
    return [_eab(r) for r in conn.execute(stmt.order_by(t.c.created_at, t.c.id))]


def purge(conn: Connection, before: int) -> int:
    """Forget used nonces, and orders and authorizations (with their challenges) that expired
    before ``before`` and hold no certificate; commits."""
    n, o, a, c = schema.acme_nonces, schema.acme_orders, schema.acme_authzs, schema.acme_challenges
    count = int(conn.execute(delete(n).where(n.c.expires_at < before)).rowcount or 0)
    dead_authzs = select(a.c.id).where(a.c.expires_at < before)
    count += int(conn.execute(delete(c).where(c.c.authz_id.in_(dead_authzs))).rowcount or 0)
    count += int(conn.execute(delete(a).where(a.c.expires_at < before)).rowcount or 0)
    count += int(conn.execute(delete(o).where(o.c.expires_at < before, o.c.cert_serial == "")).rowcount or 0)
    conn.commit()
    return count


# ------------------------------------------------------------------------ writes


def _nonce_stored(conn: Connection, op: UseNonceOp) -> object:
    return NonceReusedError(op.nonce)  # as a token use: a lost commit shows as a reuse


@executor(UseNonceOp, stored=_nonce_stored)
def use_nonce(d: Dialect, conn: Connection, op: UseNonceOp) -> Outcome:
    values = {"nonce": op.nonce, "expires_at": op.expires_at}
    if conn.execute(d.insert_ignore(schema.acme_nonces), values).rowcount != 1:
        return NonceReusedError(op.nonce)
    return None


def _account_stored(conn: Connection, op: NewAccountOp) -> object:
    found = account(conn, op.account.id)
    return STORED if found is not None else AccountKeyInUseError("")


@executor(NewAccountOp, stored=_account_stored)
def new_account(d: Dialect, conn: Connection, op: NewAccountOp) -> Outcome:
    a = op.account
    existing = account_by_key(conn, a.provisioner, a.thumbprint)
    if existing is not None:
        return AccountKeyInUseError(existing.id)
    if a.eab_key_id:
        e = schema.acme_eab_keys
        bound = conn.execute(
            update(e)
            .where(e.c.id == a.eab_key_id, e.c.provisioner == a.provisioner, e.c.account_id == "")
            .values(account_id=a.id, bound_at=a.created_at)
        ).rowcount
        if bound != 1:
            return EABKeyUnusableError(a.eab_key_id)
    if conn.execute(d.insert_ignore(schema.acme_accounts), _account_values(a)).rowcount != 1:
        raise AccountKeyInUseError("")  # a concurrent twin: roll the binding back too
    return None


def _order_stored(conn: Connection, op: NewOrderOp) -> object:
    return STORED if order(conn, op.order.id) is not None else StaleStateError(op.order.id)


@executor(NewOrderOp, stored=_order_stored)
def new_order(d: Dialect, conn: Connection, op: NewOrderOp) -> Outcome:
    conn.execute(schema.acme_orders.insert(), [_order_values(op.order)])
    if op.authzs:
        conn.execute(
            schema.acme_authzs.insert(),
            [
                {
                    "id": z.id,
                    "account_id": z.account_id,
                    "order_id": z.order_id,
                    "identifier_type": z.identifier_type,
                    "identifier_value": z.identifier_value,
                    "wildcard": z.wildcard,
                    "status": z.status,
                    "expires_at": z.expires_at,
                    "created_at": z.created_at,
                }
                for z in op.authzs
            ],
        )
    if op.challenges:
        conn.execute(
            schema.acme_challenges.insert(),
            [
                {
                    "id": c.id,
                    "authz_id": c.authz_id,
                    "type": c.type,
                    "token": c.token,
                    "status": c.status,
                    "validated_at": c.validated_at,
                    "error": c.error,
                }
                for c in op.challenges
            ],
        )
    return None


def _transition_stored(conn: Connection, op: TransitionOp) -> object:
    # the first row's new values in place prove the commit (values are distinct states)
    u = op.updates[0]
    t = _TABLES[u.family]
    row = conn.execute(select(t).where(t.c.id == u.id)).first()
    if row is not None and all(getattr(row, k) == v for k, v in u.values):
        return STORED
    return StaleStateError(u.id)


@executor(TransitionOp, stored=_transition_stored)
def transition(d: Dialect, conn: Connection, op: TransitionOp) -> Outcome:
    ordered = sorted(op.updates, key=lambda u: not u.when_status or u.optional)  # conditional ones first
    wrote = False
    for u in ordered:
        t = _TABLES[u.family]
        values = dict(u.values)
        if not values.keys() <= _UPDATABLE[u.family]:
            raise ValueError(f"cannot update {sorted(values)} of an ACME {u.family}")
        stmt = update(t).where(t.c.id == u.id)
        if u.when_status:
            stmt = stmt.where(t.c.status.in_(u.when_status))
        if conn.execute(stmt.values(**values)).rowcount != 1:
            if u.optional:
                continue
            if not wrote:
                return StaleStateError(u.id)
            raise StaleStateError(u.id)  # after a write: the whole transaction rolls back
        wrote = True
    return None


def _key_stored(conn: Connection, op: ChangeAccountKeyOp) -> object:
    found = account(conn, op.account_id)
    return (
        STORED if found is not None and found.thumbprint == op.thumbprint else StaleStateError(op.account_id)
    )


@executor(ChangeAccountKeyOp, stored=_key_stored)
def change_key(d: Dialect, conn: Connection, op: ChangeAccountKeyOp) -> Outcome:
    other = account_by_key(conn, op.provisioner, op.thumbprint)
    if other is not None:
        return AccountKeyInUseError(other.id)
    t = schema.acme_accounts
    changed = conn.execute(
        update(t)
        .where(t.c.id == op.account_id, t.c.thumbprint == op.old_thumbprint, t.c.status == "valid")
        .values(thumbprint=op.thumbprint, jwk=op.jwk)
    ).rowcount
    return None if changed == 1 else StaleStateError(op.account_id)


def _eab_stored(conn: Connection, op: AddEABKeyOp) -> object:
    return STORED if eab_key(conn, op.key.id) is not None else EABKeyUnusableError(op.key.id)


@executor(AddEABKeyOp, stored=_eab_stored)
def add_eab_key(d: Dialect, conn: Connection, op: AddEABKeyOp) -> Outcome:
    k = op.key
    conn.execute(
        schema.acme_eab_keys.insert(),
        [
            {
                "id": k.id,
                "provisioner": k.provisioner,
                "reference": k.reference,
                "hmac_key": k.hmac_key,
                "account_id": k.account_id,
                "created_at": k.created_at,
                "bound_at": k.bound_at,
            }
        ],
    )
    return None


def _eab_removed(conn: Connection, op: RemoveEABKeyOp) -> object:
    return STORED if eab_key(conn, op.key_id) is None else EABKeyUnusableError(op.key_id)


@executor(RemoveEABKeyOp, stored=_eab_removed)
def remove_eab_key(d: Dialect, conn: Connection, op: RemoveEABKeyOp) -> Outcome:
    e = schema.acme_eab_keys
    gone = conn.execute(delete(e).where(e.c.id == op.key_id, e.c.provisioner == op.provisioner)).rowcount
    return None if gone == 1 else EABKeyUnusableError(op.key_id)
