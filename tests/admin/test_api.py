"""The admin API on a real step-ca (SQLite, two workers) with remote administration on: the
first start's import, every route refused without a valid admin token and allowed with one,
changes live on every worker within 2 s, the audit trail."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from stepca.client.token import jwk_token
from stepca.crypto.keys import generate_private_key
from tests.admin.helpers import AdminCredentials, admin_credentials, admin_pki, call, issue_cert, jwk_document
from tests.helpers import PKI, CAProcess, start_ca
from tests.tokens import csr_for, signer_for

ROUTES = [
    ("GET", "/admin/provisioners", None),
    ("POST", "/admin/provisioners", {"type": "JWK", "name": "x"}),
    ("GET", "/admin/provisioners/admin@example.com", None),
    ("PUT", "/admin/provisioners/admin@example.com", {"type": "JWK", "name": "admin@example.com"}),
    ("DELETE", "/admin/provisioners/admin@example.com", None),
    ("GET", "/admin/admins", None),
    ("POST", "/admin/admins", {"subject": "x", "provisioner": "admin@example.com", "type": "ADMIN"}),
    ("GET", "/admin/admins/none", None),
    ("PATCH", "/admin/admins/none", {"type": "ADMIN"}),
    ("DELETE", "/admin/admins/none", None),
]
ADMIN_ROUTES_THAT_CHANGE = [r for r in ROUTES if r[1].startswith("/admin/admins") and r[0] != "GET"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PKI, CAProcess]]:
    pki = admin_pki(tmp_path_factory.mktemp("admin-api"))
    # short certificates are allowed, so a test can hold an expired admin certificate
    pki.edit_config(
        lambda cfg: cfg["authority"]["provisioners"][0].__setitem__("claims", {"minTLSCertDuration": "1s"})
    )
    ca = start_ca(pki, workers=2)
    yield pki, ca
    ca.stop()


@pytest.fixture(scope="module")
def step_admin(served: tuple[PKI, CAProcess]) -> AdminCredentials:
    pki, ca = served
    return admin_credentials(ca, pki, "step")


def audit_rows(pki: PKI) -> list[tuple[str, str, str]]:
    with sqlite3.connect(pki.step_path / "db" / "stepca.db") as db:
        return [tuple(r) for r in db.execute("SELECT actor, action, target FROM admin_audit ORDER BY id")]


def sign_with(ca: CAProcess, name: str, key: Any, kid: str, subject: str = "svc.example.com") -> int:
    ott = jwk_token(
        subject=subject, issuer=name, kid=kid, key=key, audience=f"{ca.url}/1.0/sign", sans=[subject]
    )
    status, _ = ca.request("POST", "/1.0/sign", {"csr": csr_for(subject)[0], "ott": ott})
    return status


def eventually(check: Callable[[], bool], within: float = 2.0) -> float:
    """Seconds until ``check()`` held on ``tries`` fresh connections (spread over the workers)."""
    started = time.monotonic()
    while True:
        if all(check() for _ in range(6)):
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s")
        time.sleep(0.05)


def test_first_start_imports_ca_json_and_creates_the_super_admin(
    served: tuple[PKI, CAProcess], step_admin: AdminCredentials
) -> None:
    pki, ca = served
    status, body = call(ca, step_admin, "GET", "/admin/admins")
    assert status == 200, body
    assert [(a["subject"], a["type"]) for a in body["admins"]] == [("step", "SUPER_ADMIN")]
    status, body = call(ca, step_admin, "GET", "/admin/provisioners")
    assert status == 200
    assert [p["name"] for p in body["provisioners"]] == ["admin@example.com"]
    status, one = call(ca, step_admin, "GET", "/admin/provisioners/admin@example.com")
    assert status == 200 and one["type"] == "JWK" and one["details"]["JWK"]["publicKey"]
    assert body["provisioners"][0]["key"]["kid"] == pki.provisioner()["key"]["kid"]
    assert audit_rows(pki)[0][:2] == ("stepca", "import")


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_refuses_a_missing_or_foreign_token(
    served: tuple[PKI, CAProcess], method: str, path: str, body: Any
) -> None:
    pki, ca = served
    status, resp = call(ca, None, method, path, body)
    assert status == 401, resp
    # a certificate of this CA whose subject is no admin
    stranger = admin_credentials(ca, pki, "mallory")
    status, resp = call(ca, stranger, method, path, body)
    assert status == 401, resp
    assert "unable to load admin" in resp["message"]


def test_refused_tokens(served: tuple[PKI, CAProcess], step_admin: AdminCredentials) -> None:
    pki, ca = served
    path = "/admin/admins"
    # replayed: the same token twice, on every route (the first use may fail for its own reason)
    for method, route, body in ROUTES:
        headers = {"Authorization": step_admin.token(route), "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        ca.request(method, route, data, headers)
        status, resp = ca.request(method, route, data, headers)
        assert status == 401 and "already used" in resp["message"], (method, route, resp)
    # the one first use that changed something: the admin "x" of the POST route
    status, listed = call(ca, step_admin, "GET", "/admin/admins")
    for extra in [a for a in listed["admins"] if a["subject"] == "x"]:
        assert call(ca, step_admin, "DELETE", f"/admin/admins/{extra['id']}")[0] == 200
    # for another URL
    assert call(ca, step_admin, "GET", path, aud=f"{ca.url}/admin/provisioners")[0] == 401
    # expired token, token of a key that is not the certificate's
    assert call(ca, step_admin, "GET", path, exp=int(time.time()) - 120)[0] == 401
    other = AdminCredentials(ca.url, step_admin.chain, issue_cert(ca, pki, "step")[1], "step")
    assert call(ca, other, "GET", path)[0] == 401
    # a certificate of another CA (self-signed, subject step), and a provisioner token (no x5c)
    foreign_key = generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "step")])
    now = datetime.now(UTC)
    foreign = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(foreign_key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .sign(foreign_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    status, resp = call(ca, AdminCredentials(ca.url, [foreign], foreign_key, "step"), "GET", path)
    assert status == 401 and "not issued by this CA" in resp["message"], resp
    signer = signer_for(pki)
    status, resp = ca.request("GET", path, None, {"Authorization": signer.token("step")})
    assert status == 401 and "x5c" in resp["message"], resp


def test_an_expired_admin_certificate_is_refused(served: tuple[PKI, CAProcess]) -> None:
    pki, ca = served
    short = admin_credentials(ca, pki, "step", not_after="2s")
    assert call(ca, short, "GET", "/admin/admins")[0] == 200
    time.sleep(2.5)
    for method, path, body in ROUTES:
        status, resp = call(ca, short, method, path, body)
        assert status == 401 and "expired" in resp["message"], (method, path, resp)


def test_a_revoked_admin_certificate_is_refused(served: tuple[PKI, CAProcess]) -> None:
    pki, ca = served
    chain, key, _ = issue_cert(ca, pki, "step")
    creds = AdminCredentials(ca.url, chain, key, "step")
    assert call(ca, creds, "GET", "/admin/admins")[0] == 200
    signer = signer_for(pki)
    signer.audience = f"{ca.url}/1.0/sign"
    serial = str(chain[0].serial_number)
    ott = signer.token(serial, endpoint="revoke", sans=None)
    status, resp = ca.request("POST", "/1.0/revoke", {"serial": serial, "ott": ott, "passive": True})
    assert status == 200, resp
    for method, path, body in ROUTES:
        status, resp = call(ca, creds, method, path, body)
        assert status == 401 and "revoked" in resp["message"], (method, path, resp)


def test_an_admin_cannot_manage_admins(served: tuple[PKI, CAProcess], step_admin: AdminCredentials) -> None:
    pki, ca = served
    status, alice = call(
        ca,
        step_admin,
        "POST",
        "/admin/admins",
        {"subject": "alice", "provisioner": "admin@example.com", "type": "ADMIN"},
    )
    assert status == 201, alice
    assert alice["type"] == "ADMIN" and alice["subject"] == "alice" and alice["id"]
    creds = admin_credentials(ca, pki, "alice")
    assert call(ca, creds, "GET", "/admin/admins")[0] == 200
    assert call(ca, creds, "GET", f"/admin/admins/{alice['id']}")[0] == 200
    for method, path, body in ADMIN_ROUTES_THAT_CHANGE:
        status, resp = call(ca, creds, method, path.replace("none", alice["id"]), body)
        assert status == 403, (method, path, resp)
    # an ADMIN manages provisioners; removing one removes its admins, each audited
    doc, _ = jwk_document("alice-prov")
    assert call(ca, creds, "POST", "/admin/provisioners", doc)[0] == 201
    status, carol = call(
        ca,
        step_admin,
        "POST",
        "/admin/admins",
        {"subject": "carol", "provisioner": "alice-prov", "type": "ADMIN"},
    )
    assert status == 201, carol
    assert call(ca, creds, "DELETE", "/admin/provisioners/alice-prov")[0] == 200
    assert call(ca, step_admin, "GET", f"/admin/admins/{carol['id']}")[0] == 404
    assert ("alice", "admin.delete", carol["id"]) in audit_rows(pki)
    # the super-admin promotes, then removes her
    status, up = call(ca, step_admin, "PATCH", f"/admin/admins/{alice['id']}", {"type": "SUPER_ADMIN"})
    assert status == 200 and up["type"] == "SUPER_ADMIN"
    assert call(ca, step_admin, "DELETE", f"/admin/admins/{alice['id']}")[0] == 200
    assert call(ca, creds, "GET", "/admin/admins")[0] == 401
    actions = [a for a in audit_rows(pki) if a[2] == alice["id"]]
    assert [a[:2] for a in actions] == [
        ("step", "admin.create"),
        ("step", "admin.update"),
        ("step", "admin.delete"),
    ]


def test_a_provisioner_added_is_live_on_every_worker_and_removed_is_refused(
    served: tuple[PKI, CAProcess], step_admin: AdminCredentials
) -> None:
    pki, ca = served
    doc, key = jwk_document("ops")
    kid = doc["key"]["kid"]
    assert sign_with(ca, "ops", key, kid) == 401
    status, created = call(ca, step_admin, "POST", "/admin/provisioners", doc)
    assert status == 201, created
    assert created["name"] == "ops" and created["type"] == "JWK"
    eventually(lambda: sign_with(ca, "ops", key, kid) == 201)
    status, listed = ca.request("GET", "/provisioners")
    assert "ops" in [p["name"] for p in listed["provisioners"]]
    # update: claims change in place
    doc2 = {**doc, "claims": {"maxTLSCertDuration": "1h", "defaultTLSCertDuration": "1h"}}
    status, updated = call(ca, step_admin, "PUT", "/admin/provisioners/ops", doc2)
    assert status == 200, updated
    assert updated["claims"]["x509"]["durations"]["max"] == "1h"
    assert call(ca, step_admin, "DELETE", "/admin/provisioners/ops")[0] == 200
    eventually(lambda: sign_with(ca, "ops", key, kid) == 401)
    assert call(ca, step_admin, "GET", "/admin/provisioners/ops")[0] == 404
    trail = [a for a in audit_rows(pki) if a[2] == "ops"]
    assert [a[:2] for a in trail] == [
        ("step", "provisioner.create"),
        ("step", "provisioner.update"),
        ("step", "provisioner.delete"),
    ]


def test_a_provisioner_that_cannot_load_is_refused_naming_the_field(
    served: tuple[PKI, CAProcess], step_admin: AdminCredentials
) -> None:
    pki, ca = served
    doc, _ = jwk_document("broken")
    bad = {**doc, "key": {**doc["key"], "x": "AAAA"}}
    status, resp = call(ca, step_admin, "POST", "/admin/provisioners", bad)
    assert status == 400 and "key" in resp["message"], resp
    status, resp = call(ca, step_admin, "POST", "/admin/provisioners", {"type": "JWK", "name": "nokey"})
    assert status == 400 and "key" in resp["message"], resp
    # the name of an existing one
    status, resp = call(ca, step_admin, "POST", "/admin/provisioners", {**doc, "name": "admin@example.com"})
    assert status == 400 and "name" in resp["message"], resp
    # the super-admin's provisioner cannot go
    status, resp = call(ca, step_admin, "DELETE", "/admin/provisioners/admin@example.com")
    assert status == 400 and "super admin" in resp["message"], resp
    assert call(ca, step_admin, "GET", "/admin/provisioners/broken")[0] == 404


def test_linkedca_bodies_as_smallsteps_cli_sends_them(
    served: tuple[PKI, CAProcess], step_admin: AdminCredentials
) -> None:
    import base64

    pki, ca = served
    doc, key = jwk_document("lca")
    body = {
        "type": "JWK",
        "name": "lca",
        "details": {"JWK": {"publicKey": base64.b64encode(json.dumps(doc["key"]).encode()).decode()}},
        "claims": {"x509": {"enabled": True, "durations": {"default": "2h", "max": "4h"}}},
    }
    status, created = call(ca, step_admin, "POST", "/admin/provisioners", body)
    assert status == 201, created
    status, listed = call(ca, step_admin, "GET", "/admin/provisioners")
    stored = next(p for p in listed["provisioners"] if p["name"] == "lca")
    assert stored["key"] == doc["key"]
    assert stored["claims"] == {"defaultTLSCertDuration": "2h", "maxTLSCertDuration": "4h"}
    eventually(lambda: sign_with(ca, "lca", key, doc["key"]["kid"]) == 201)
    assert call(ca, step_admin, "DELETE", "/admin/provisioners/lca")[0] == 200


def test_off_without_enable_admin(tmp_path: Path) -> None:
    from tests.helpers import make_pki

    pki = make_pki(tmp_path)
    ca = start_ca(pki, workers=1)
    try:
        status, _ = ca.request("GET", "/admin/admins")
        assert status == 404
    finally:
        ca.stop()


def test_sqlite_every_worker_process_swaps_its_registry(tmp_path: Path) -> None:
    """A single-host CA on SQLite: each of its worker processes polls the version on its own."""
    import re

    pki = admin_pki(tmp_path)
    ca = start_ca(pki, workers=3)
    try:
        creds = admin_credentials(ca, pki, "step")
        doc, key = jwk_document("everywhere")
        status, _ = call(ca, creds, "POST", "/admin/provisioners", doc)
        assert status == 201
        started = time.monotonic()
        while True:
            workers = set(re.findall(r"provisioners changed.*?worker=(\d+)", ca.log()))
            if workers == {"0", "1", "2"}:
                break
            assert time.monotonic() - started < 2.0, ca.log()[-2000:]
            time.sleep(0.05)
        eventually(lambda: sign_with(ca, "everywhere", key, doc["key"]["kid"]) == 201)
        # a SIGHUP re-reads ca.json, whose provisioners are no longer the source: the set stays
        import signal

        ca.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while ca.log().count("reloaded configuration") < 3:
            assert time.monotonic() < deadline, ca.log()[-2000:]
            time.sleep(0.1)
        eventually(lambda: sign_with(ca, "everywhere", key, doc["key"]["kid"]) == 201)
    finally:
        ca.stop()


def test_concurrent_changes_are_all_applied(
    served: tuple[PKI, CAProcess], step_admin: AdminCredentials
) -> None:
    """Changes computed from the same version: the later ones are computed again, none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    pki, ca = served
    names = [f"race-{i}" for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda n: call(ca, step_admin, "POST", "/admin/provisioners", jwk_document(n)[0])[0], names
            )
        )
    assert statuses == [201] * 8
    status, listed = call(ca, step_admin, "GET", "/admin/provisioners", None)
    assert set(names) <= {p["name"] for p in listed["provisioners"]}
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda n: call(ca, step_admin, "DELETE", f"/admin/provisioners/{n}")[0], names)
        )
    assert statuses == [200] * 8


def test_admin_bodies_with_enum_numbers(served: tuple[PKI, CAProcess], step_admin: AdminCredentials) -> None:
    """Go's encoding/json (smallstep's CreateAdminRequest) writes the admin type as a number."""
    pki, ca = served
    body = {"subject": "bob", "provisioner": "admin@example.com", "type": 1}
    status, bob = call(ca, step_admin, "POST", "/admin/admins", body)
    assert status == 201 and bob["type"] == "ADMIN", bob
    status, up = call(ca, step_admin, "PATCH", f"/admin/admins/{bob['id']}", {"type": 2})
    assert status == 200 and up["type"] == "SUPER_ADMIN"
    status, resp = call(ca, step_admin, "POST", "/admin/admins", {**body, "type": 7})
    assert status == 400 and "admin type" in resp["message"]
    status, resp = call(ca, step_admin, "POST", "/admin/admins", {**body, "type": 1})
    assert status == 400 and "already exists" in resp["message"]
    assert call(ca, step_admin, "DELETE", f"/admin/admins/{bob['id']}")[0] == 200
    assert call(ca, step_admin, "GET", f"/admin/admins/{bob['id']}")[0] == 404
