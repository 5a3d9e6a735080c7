"""The ACME record family on every backend (SQLite, PostgreSQL, MariaDB): single-use nonces,
one account per key, conditional transitions, EAB binding once, and the purge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    RowUpdate,
    StaleStateError,
    TransitionOp,
    UseNonceOp,
)
from tests.db.backends import Backend
from tests.db.test_store import StoreUnderTest, open_store


@pytest.fixture
def store(db_backend: Backend, tmp_path: Path) -> Iterator[StoreUnderTest]:
    s = open_store(db_backend, tmp_path)
    yield s
    s.close()


def account(account_id: str, thumbprint: str, eab: str = "") -> AccountRecord:
    return AccountRecord(
        account_id, "acme", thumbprint, "{}", "valid", ("mailto:a@b.c",), eab, int(time.time())
    )


def order(order_id: str, expires_at: int, authz_ids: tuple[str, ...] = ()) -> OrderRecord:
    return OrderRecord(
        order_id,
        "acc1",
        "acme",
        "pending",
        expires_at,
        (("dns", "a.example.com"),),
        authz_ids,
        0,
        0,
        "",
        "",
        "",
        "",
        1,
    )


def test_nonces_and_accounts(store: StoreUnderTest) -> None:
    later = int(time.time()) + 60
    assert store.apply([UseNonceOp("n1", later), UseNonceOp("n2", later)]) == [None, None]
    (reused,) = store.apply([UseNonceOp("n1", later)])
    assert isinstance(reused, NonceReusedError)
    assert store.apply([NewAccountOp(account("acc1", "tp1"))]) == [None]
    (twin,) = store.apply([NewAccountOp(account("acc2", "tp1"))])
    assert isinstance(twin, AccountKeyInUseError) and twin.args[0] == "acc1"
    assert store.acme_account_by_key("acme", "tp1").id == "acc1"
    store.apply([NewAccountOp(account("acc3", "tp3"))])
    (taken,) = store.apply([ChangeAccountKeyOp("acc1", "acme", "tp1", "tp3", "{}")])
    assert isinstance(taken, AccountKeyInUseError) and taken.args[0] == "acc3"
    assert store.apply([ChangeAccountKeyOp("acc1", "acme", "tp1", "tp9", '{"k": 1}')]) == [None]
    assert store.acme_account("acc1").thumbprint == "tp9"


def test_eab_binds_once(store: StoreUnderTest) -> None:
    store.apply([AddEABKeyOp(EABKeyRecord("k1", "acme", "ref", b"\x01" * 32, "", 1, 0))])
    assert store.apply([NewAccountOp(account("a1", "t1", eab="k1"))]) == [None]
    (second,) = store.apply([NewAccountOp(account("a2", "t2", eab="k1"))])
    assert isinstance(second, EABKeyUnusableError)
    assert store.acme_account("a2") is None  # nothing of the refused account was written
    assert store.acme_eab_key("k1").account_id == "a1"
    assert [k.id for k in store.acme_eab_keys("acme", "ref")] == ["k1"]


def test_transitions_are_conditional_and_atomic(store: StoreUnderTest) -> None:
    later = int(time.time()) + 3600
    z = AuthzRecord("z1", "acc1", "o1", "dns", "a.example.com", False, "pending", later, 1)
    ch = ChallengeRecord("c1", "z1", "http-01", "tok", "pending", 0, "")
    assert store.apply([NewOrderOp(order("o1", later, ("z1",)), (z,), (ch,))]) == [None]
    step = TransitionOp(
        (RowUpdate("challenge", "c1", (("status", "processing"),), when_status=("pending",)),)
    )
    assert store.apply([step]) == [None]
    (stale,) = store.apply([step])  # a second POST of the challenge, on any instance
    assert isinstance(stale, StaleStateError)
    both = TransitionOp(
        (
            RowUpdate("challenge", "c1", (("status", "valid"),), when_status=("processing",)),
            RowUpdate("authz", "z1", (("status", "valid"),), when_status=("invalid",)),  # does not hold
        )
    )
    (refused,) = store.apply([both])
    assert isinstance(refused, StaleStateError)
    assert store.acme_challenge("c1").status == "processing"  # rolled back with the authz
    assert [a.id for a in store.acme_authzs_of_order("o1")] == ["z1"]
    assert [c.id for c in store.acme_challenges_of_authz("z1")] == ["c1"]


def test_purge_forgets_what_expired(store: StoreUnderTest) -> None:
    now = int(time.time())
    old, later = now - 10, now + 3600
    store.apply([UseNonceOp("old", old), UseNonceOp("new", later)])
    z_old = AuthzRecord("zo", "acc1", "oo", "dns", "a.example.com", False, "pending", old, 1)
    z_new = AuthzRecord("zn", "acc1", "on", "dns", "a.example.com", False, "pending", later, 1)
    store.apply(
        [
            NewOrderOp(
                order("oo", old, ("zo",)),
                (z_old,),
                (ChallengeRecord("co", "zo", "dns-01", "t", "pending", 0, ""),),
            ),
            NewOrderOp(order("on", later, ("zn",)), (z_new,), ()),
        ]
    )
    assert store.purge_acme(now) == 4  # the old nonce, order, authorization and challenge
    assert (
        store.acme_order("oo") is None
        and store.acme_authz("zo") is None
        and store.acme_challenge("co") is None
    )
    assert store.acme_order("on") is not None
    (fresh,) = store.apply([UseNonceOp("new", later)])
    assert isinstance(fresh, NonceReusedError)  # the unexpired nonce is still remembered
    assert store.acme_secret("nonce") == store.acme_secret("nonce")


def test_optional_updates_leave_a_row_that_moved_on(store: StoreUnderTest) -> None:
    later = int(time.time()) + 3600
    z = AuthzRecord("z2", "acc1", "o2", "dns", "b.example.com", False, "valid", later, 1)
    ch = ChallengeRecord("c2", "z2", "http-01", "tok", "processing", 1, "")
    store.apply([NewOrderOp(order("o2", later, ("z2",)), (z,), (ch,))])
    # a second challenge fails after the first made the authorization valid: the challenge
    # records its failure, the authorization stays valid
    failed = TransitionOp(
        (
            RowUpdate("challenge", "c2", (("status", "invalid"),), when_status=("processing",)),
            RowUpdate("authz", "z2", (("status", "invalid"),), when_status=("pending",), optional=True),
        )
    )
    assert store.apply([failed]) == [None]
    assert store.acme_challenge("c2").status == "invalid"
    assert store.acme_authz("z2").status == "valid"
