"""The remote-administration record family on every backend: the one-time import, changes
checked against a version (a stale one writes nothing), audit lines in the same transaction,
the admin token spent once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepca.db.operations import AdminChangeOp
from stepca.db.records import (
    AdminConflictError,
    AdminRecord,
    AlreadyImportedError,
    AuditRecord,
    ProvisionerRow,
    TokenReusedError,
    UsedToken,
)
from tests.db.backends import Backend
from tests.db.test_store import StoreUnderTest, open_store


@pytest.fixture
def store(db_backend: Backend, tmp_path: Path) -> Iterator[StoreUnderTest]:
    s = open_store(db_backend, tmp_path)
    yield s
    s.close()


def line(action: str, target: str, after: object = None, before: object = None) -> AuditRecord:
    return AuditRecord(
        actor="step",
        action=action,
        target=target,
        before=None if before is None else json.dumps(before),
        after=None if after is None else json.dumps(after),
        remote="127.0.0.1",
        at_ms=int(time.time() * 1000),
    )


def prov(name: str, position: int = 0) -> ProvisionerRow:
    doc = {"type": "JWK", "name": name, "key": {"kty": "EC", "kid": name}}
    return ProvisionerRow(
        id=os.urandom(8).hex(), name=name, type="JWK", document=json.dumps(doc), position=position
    )


def test_import_once_then_versioned_changes(store: StoreUnderTest) -> None:
    assert store.admin_version() == 0
    first = prov("admin")
    boss = AdminRecord(id="a1", provisioner_id=first.id, subject="step", type="SUPER_ADMIN")
    imported = AdminChangeOp(
        audit=(line("import", "ca.json"),), expect_version=None, put_provisioners=(first,), put_admins=(boss,)
    )
    assert store.apply([imported]) == [None]
    # a second instance starting at the same time finds the import done, and changes nothing
    again = AdminChangeOp(
        audit=(line("import", "ca.json"),), expect_version=None, put_provisioners=(prov("x"),)
    )
    assert isinstance(store.apply([again])[0], AlreadyImportedError)
    st = store.admin_state()
    assert st.version == 1
    assert [p.name for p in st.provisioners] == ["admin"]
    assert st.admins == (boss,)

    added = prov("ops", 1)
    tok = UsedToken(os.urandom(8).hex(), first.id, int(time.time()) + 300)
    change = AdminChangeOp(
        audit=(line("provisioner.create", "ops", after=json.loads(added.document)),),
        expect_version=1,
        put_provisioners=(added,),
        token=tok,
    )
    assert store.apply([change]) == [None]
    assert store.admin_version() == 2
    # checked against version 1, applied after another change: nothing is written
    stale = AdminChangeOp(
        audit=(line("provisioner.create", "late"),), expect_version=1, put_provisioners=(prov("late"),)
    )
    assert isinstance(store.apply([stale])[0], AdminConflictError)
    # the same admin token again: refused by the used-token key
    replay = AdminChangeOp(audit=(line("provisioner.delete", "ops"),), expect_version=2, token=tok)
    assert isinstance(store.apply([replay])[0], TokenReusedError)
    st = store.admin_state()
    assert st.version == 2
    assert [p.name for p in st.provisioners] == ["admin", "ops"]

    # update in place (same id), delete with its admins
    helper = AdminRecord(id="a2", provisioner_id=added.id, subject="alice", type="ADMIN")
    assert store.apply(
        [AdminChangeOp(audit=(line("admin.create", "a2"),), expect_version=2, put_admins=(helper,))]
    ) == [None]
    renamed = ProvisionerRow(
        id=added.id, name="ops", type="JWK", document='{"type":"JWK","name":"ops","x":1}', position=1
    )
    assert store.apply(
        [
            AdminChangeOp(
                audit=(line("provisioner.update", "ops"),), expect_version=3, put_provisioners=(renamed,)
            )
        ]
    ) == [None]
    assert json.loads(store.admin_state().provisioners[1].document)["x"] == 1
    assert store.apply(
        [
            AdminChangeOp(
                audit=(line("provisioner.delete", "ops"),), expect_version=4, delete_provisioners=(added.id,)
            )
        ]
    ) == [None]
    st = store.admin_state()
    assert (st.version, [p.name for p in st.provisioners], [a.subject for a in st.admins]) == (
        5,
        ["admin"],
        ["step"],
    )

    trail = store.admin_audit()
    assert [a.action for a in trail] == [
        "provisioner.delete",
        "provisioner.update",
        "admin.create",
        "provisioner.create",
        "import",
    ]
    assert trail[3].actor == "step" and json.loads(trail[3].after or "{}")["name"] == "ops"
    assert trail[3].before is None and trail[3].remote == "127.0.0.1"


def test_a_duplicate_subject_fails_only_its_change(store: StoreUnderTest) -> None:
    first = prov("admin")
    boss = AdminRecord(id="a1", provisioner_id=first.id, subject="step", type="SUPER_ADMIN")
    assert store.apply(
        [
            AdminChangeOp(
                audit=(line("import", "ca.json"),),
                expect_version=None,
                put_provisioners=(first,),
                put_admins=(boss,),
            )
        ]
    ) == [None]
    twin = AdminRecord(id="a2", provisioner_id=first.id, subject="step", type="ADMIN")
    out = store.apply(
        [AdminChangeOp(audit=(line("admin.create", "a2"),), expect_version=1, put_admins=(twin,))]
    )
    assert out[0] is not None  # the unique (subject, provisioner) key refused it
    st = store.admin_state()
    assert (st.version, len(st.admins)) == (1, 1)
    assert [a.action for a in store.admin_audit()] == ["import"]
