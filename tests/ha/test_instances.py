"""Three step-ca instances on one database (the local PostgreSQL, then the local MariaDB).

One run per database: 32 concurrent clients spread over the three instances for 20 s, then
instance C is killed with SIGKILL and the load goes on at A and B for a few more seconds. Then:
- every serial any client received is unique and in the database, with the same DER;
- A and B answered every request, before and after the kill;
- every token used (at any instance) is refused when replayed at another live instance;
- a certificate revoked at A cannot be renewed at B (and a control renewal at B works).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.backends import Backend, open_backend
from tests.ha.cluster import Cluster, Instance, cluster, post, replay, run_load

CLIENTS = 32
LOAD_SECONDS = 20.0
AFTER_KILL_SECONDS = 4.0

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


def test_three_instances_one_database_lose_nothing(shared_db: Backend, tmp_path: Path) -> None:
    with cluster(shared_db, tmp_path, instances=3, workers=1) as cl:
        a, b, c = cl.instances
        killed_at = LOAD_SECONDS
        load = asyncio.run(
            run_load(
                cl, clients=CLIENTS, duration=LOAD_SECONDS + AFTER_KILL_SECONDS, kill=(c.name, killed_at)
            )
        )
        t0 = min(o.started for o in load.outcomes)
        issued = load.issued()
        per_instance = Counter(o.instance for o in issued)
        seconds = LOAD_SECONDS + AFTER_KILL_SECONDS
        print(f"\n{shared_db.kind}: {len(issued)} certificates in {seconds:.0f}s, {dict(per_instance)}")
        assert all(per_instance[m.name] > 50 for m in cl.instances), per_instance

        # the survivors answered everything, before and after the kill
        survivors = [o for o in load.outcomes if o.instance in (a.name, b.name)]
        failed = [o for o in survivors if o.status != 201]
        assert not failed, failed[:5]
        after_kill = Counter(o.instance for o in survivors if o.started - t0 > killed_at + 0.5)
        assert after_kill[a.name] > 10 and after_kill[b.name] > 10, after_kill
        # C answered 201 or nothing at all: never an error status; the kill cut requests short
        at_c = Counter(o.status for o in load.outcomes if o.instance == c.name)
        assert set(at_c) <= {201, 0} and at_c[0] >= 1, at_c

        # every serial returned is unique and is in the database with the same certificate
        serials = [o.serial for o in issued]
        assert len(serials) == len(set(serials))
        stored = _stored_certificates(shared_db)
        missing = [o for o in issued if stored.get(o.serial) != o.der]
        assert not missing, f"{len(missing)} certificates answered but not stored, e.g. {missing[:3]}"

        # every used token, replayed at another live instance: 401, every time
        live = [a, b]
        pairs = [(_other(live, o.instance), o.token) for o in issued]
        started = time.monotonic()
        statuses = asyncio.run(replay(cl, pairs))
        print(f"replayed {len(pairs)} tokens in {time.monotonic() - started:.1f}s")
        refused = Counter(status for status, _ in statuses)
        assert refused == {401: len(pairs)}, (refused, [s for s in statuses if s[0] != 401][:3])
        # control: a fresh token works at both survivors (the 401s were about reuse)
        fresh = [(a, cl.token("svc.example.com")), (b, cl.token("svc.example.com"))]
        assert [status for status, _ in asyncio.run(replay(cl, fresh))] == [201, 201]

        _revoke_at_a_renew_at_b(cl, a, b, tmp_path)


def _other(live: list[Instance], name: str) -> Instance:
    """An instance other than ``name`` (for C's tokens, either survivor)."""
    return next(m for m in live if m.name != name)


def _stored_certificates(backend: Backend) -> dict[str, bytes]:
    engine = backend.engine()
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT serial, der FROM certificates WHERE kind = 'x509'").all()
    finally:
        engine.dispose()
    return {(s.decode() if isinstance(s, bytes) else s): bytes(d) for s, d in rows}


def _issue_at(cl: Cluster, inst: Instance, tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    """A certificate and key on disk, issued by ``inst`` (for mutual TLS)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.x509build import build_csr

    key = generate_private_key()
    csr = build_csr(name, [name], key).decode()
    status, body = post(cl, inst, "/1.0/sign", {"csr": csr, "ott": cl.token(name)})
    assert status == 201, body
    crt_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    crt_path.write_text(body["crt"] + body["ca"])
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    serial = str(x509.load_pem_x509_certificate(body["crt"].encode()).serial_number)
    return crt_path, key_path, serial


def _revoke_at_a_renew_at_b(cl: Cluster, a: Instance, b: Instance, tmp_path: Path) -> None:
    control_crt, control_key, _ = _issue_at(cl, a, tmp_path, "control.example.com")
    status, body = post(cl, b, "/1.0/renew", None, cl.ssl_context(control_crt, control_key))
    assert status == 201, body  # B renews what A issued

    crt, key, serial = _issue_at(cl, a, tmp_path, "revoked.example.com")
    revoke = {"serial": serial, "ott": cl.token(serial, "revoke"), "reasonCode": 1, "passive": True}
    status, body = post(cl, a, "/1.0/revoke", revoke)
    assert status == 200, body
    status, body = post(cl, b, "/1.0/renew", None, cl.ssl_context(crt, key))
    assert status == 401, body
