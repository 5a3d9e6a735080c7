"""Three step-ca instances on one database (the local PostgreSQL, then the local MariaDB) with
remote administration, under a 16-client sign load: a provisioner added at A (`step ca
provisioner add` with an admin certificate) signs at B and C
within 2 s; removed at A, it is refused everywhere within 2 s; the load loses no request."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.admin.helpers import admin_credentials, call, jwk_document
from tests.admin.test_api import sign_with
from tests.db.backends import Backend, open_backend
from tests.ha.cluster import Instance, LoadResult, cluster, run_load

CLIENTS = 16
LOAD_SECONDS = 14.0
LIVE_WITHIN = 2.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    backend = open_backend(request.param, tmp_path)
    yield backend
    backend.close()


def _enable_admin(cfg: dict[str, Any]) -> None:
    cfg["authority"]["enableAdmin"] = True


def _until(check: Any, instances: list[Instance], within: float) -> float:
    """Seconds until ``check(instance)`` holds at every instance (each checked until it does)."""
    started = time.monotonic()
    pending = list(instances)
    while pending:
        pending = [m for m in pending if not check(m)]
        elapsed = time.monotonic() - started
        assert elapsed <= within or not pending, f"{[m.name for m in pending]} not within {within} s"
        if pending:
            time.sleep(0.05)
    return time.monotonic() - started


def test_a_change_at_one_instance_is_live_at_every_instance_within_2s(
    shared_db: Backend, tmp_path: Path
) -> None:
    with cluster(shared_db, tmp_path, instances=3, workers=1, configure=_enable_admin) as cl:
        a, b, c = cl.instances
        assert a.ca is not None
        # the admin's certificate, from the admin provisioner, as files for the CLI
        creds = admin_credentials(a.ca, a.pki, "step")
        crt, admin_key = tmp_path / "admin.crt", tmp_path / "admin.key"
        crt.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in creds.chain))
        admin_key.write_bytes(
            creds.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())  # type: ignore[union-attr]
        )
        cli = [
            "--ca-url",
            a.url,
            "--root",
            str(cl.base.root),
            "--admin-cert",
            str(crt),
            "--admin-key",
            str(admin_key),
        ]
        doc, key = jwk_document("live")
        kid = doc["key"]["kid"]
        public = tmp_path / "live.pub.json"
        public.write_text(json.dumps(doc["key"]))

        def signs(m: Instance) -> bool:
            assert m.ca is not None
            return sign_with(m.ca, "live", key, kid) == 201

        def refused(m: Instance) -> bool:
            assert m.ca is not None
            return sign_with(m.ca, "live", key, kid) == 401

        assert all(refused(m) for m in cl.instances)
        result: list[LoadResult] = []
        load = threading.Thread(
            target=lambda: result.append(asyncio.run(run_load(cl, clients=CLIENTS, duration=LOAD_SECONDS)))
        )
        load.start()
        try:
            time.sleep(2.0)
            a.pki.step("ca", "provisioner", "add", "live", "--public-key", str(public), *cli)
            added = _until(signs, [b, c, a], LIVE_WITHIN)
            time.sleep(2.0)
            a.pki.step("ca", "provisioner", "remove", "live", *cli)
            removed = _until(refused, [b, c, a], LIVE_WITHIN)
        finally:
            load.join(timeout=120)
        outcomes = result[0].outcomes
        failed = [o for o in outcomes if o.status != 201]
        assert len(outcomes) > 100
        assert not failed, failed[:3]
        print(
            f"{shared_db.kind}: live in {added:.2f} s, gone in {removed:.2f} s, {len(outcomes)} signs, 0 failed"
        )
        # every change is in the audit table with the admin's subject
        # the three instances started at once: exactly one imported ca.json
        assert shared_db.scalar("SELECT COUNT(*) FROM admin_audit WHERE action = 'import'") == 1
        assert shared_db.scalar("SELECT COUNT(*) FROM admins") == 1
        trail = shared_db.scalar("SELECT COUNT(*) FROM admin_audit WHERE actor = 'step' AND target = 'live'")
        assert trail == 2


@pytest.mark.postgres
def test_postgresql_notifies_the_other_instances(tmp_path: Path) -> None:
    """With the version poll slowed to a minute, only LISTEN/NOTIFY can make the change live at
    B within 2 s."""
    backend = open_backend("postgresql", tmp_path)
    try:
        env = {"STEPCA_ADMIN_POLL_SECONDS": "60"}
        with cluster(backend, tmp_path, instances=2, workers=2, configure=_enable_admin, env=env) as cl:
            a, b = cl.instances
            assert a.ca is not None
            creds = admin_credentials(a.ca, a.pki, "step")
            doc, key = jwk_document("notified")
            kid = doc["key"]["kid"]

            def signs(m: Instance) -> bool:
                assert m.ca is not None
                return all(sign_with(m.ca, "notified", key, kid) == 201 for _ in range(4))

            status, body = call(a.ca, creds, "POST", "/admin/provisioners", doc)
            assert status == 201, body
            _until(signs, [b, a], LIVE_WITHIN)
    finally:
        backend.close()
