"""The first start with ``authority.enableAdmin``: the ca.json provisioners go into the database
once, with the first super-admin, as smallstep does (subject ``step`` unless
``authority.adminSubject`` — written by ``step ca init --admin-subject`` — says otherwise).

The super-admin belongs to the first JWK provisioner of ca.json (the one ``step ca init`` made);
with none, a JWK provisioner named ``Admin JWK`` is created, its key encrypted with the CA's key
password (smallstep's ``CreateFirstProvisioner``). Several instances starting at once: the
version row's key lets exactly one import; the others find it done.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from stepca.db.operations import AdminChangeOp
from stepca.db.records import AdminRecord, AlreadyImportedError, AuditRecord, ProvisionerRow

if TYPE_CHECKING:
    from stepca.db.sql import SQLStore
    from stepca.server.loader import Loaded

DEFAULT_ADMIN_SUBJECT = "step"
FIRST_PROVISIONER = "Admin JWK"
SUPER_ADMIN = "SUPER_ADMIN"
ADMIN = "ADMIN"
#: the actor of audit lines the CA writes itself
SYSTEM_ACTOR = "stepca"


class BootstrapError(Exception):
    """The first start cannot create the admin set (the message says why)."""


def new_id() -> str:
    return str(uuid.uuid4())


def import_once(loaded: Loaded, store: SQLStore, password: bytes | None) -> bool:
    """Import ca.json's provisioners and create the first super-admin unless done before;
    True when this call did it."""
    from stepca.db.queries import admin as queries

    if store.run_query(queries.version) != 0:
        return False
    authority: dict[str, Any] = loaded.raw.get("authority") or {}
    docs: list[dict[str, Any]] = [dict(d) for d in authority.get("provisioners") or []]
    subject = str(authority.get("adminSubject") or DEFAULT_ADMIN_SUBJECT)
    owner = next((i for i, d in enumerate(docs) if str(d.get("type", "")).upper() == "JWK"), None)
    if owner is None:
        if not password:
            raise BootstrapError(
                f"authority.enableAdmin: creating the {FIRST_PROVISIONER!r} provisioner needs the CA "
                "key password (--password-file)"
            )
        from stepca.pki.provisioners import jwk_create, jwk_entry

        public, encrypted = jwk_create(password)
        docs.append(jwk_entry(FIRST_PROVISIONER, public, encrypted))
        owner = len(docs) - 1
    rows = tuple(
        ProvisionerRow(
            id=new_id(),
            name=str(d.get("name", "")),
            type=str(d.get("type", "")).upper(),
            document=json.dumps(d, separators=(",", ":")),
            position=i,
        )
        for i, d in enumerate(docs)
    )
    first = AdminRecord(id=new_id(), provisioner_id=rows[owner].id, subject=subject, type=SUPER_ADMIN)
    line = AuditRecord(
        actor=SYSTEM_ACTOR,
        action="import",
        target=str(loaded.path)[:255],
        before=None,
        after=json.dumps({"provisioners": [r.name for r in rows], "superAdmin": subject}),
        remote="",
        at_ms=int(time.time() * 1000),
    )
    op = AdminChangeOp(audit=(line,), expect_version=None, put_provisioners=rows, put_admins=(first,))
    outcome = store.apply([op])[0]
    if isinstance(outcome, AlreadyImportedError):
        return False
    if outcome is not None:
        raise BootstrapError(f"cannot import the ca.json provisioners: {outcome}")
    return True
