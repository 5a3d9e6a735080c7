"""The certificate inventory (issue 15): `GET /admin/certificates` and `/admin/certificates/{serial}`
on a real CA, and `step ca certificates list|expiring|export`: filters, keyset pages, export;
who may read (admins with remote administration, authority.adminProvisioners without it) and
who may not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.admin.helpers import AdminCredentials, admin_credentials, call, issue_cert
from tests.helpers import PKI, CAProcess, assert_one_line_error, make_pki, start_ca

BOSS = "boss@example.com"


@pytest.fixture(scope="module")
def inventory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CAProcess, PKI, AdminCredentials, dict[str, list[int]]]]:
    """A CA with remote administration and a mixed set: 3 certificates of 30 minutes, 4 of 24 h
    (one revoked), all from the admin JWK provisioner."""
    base = tmp_path_factory.mktemp("inventory")
    pki = make_pki(base, extra_args=["--remote-management", "--admin-subject", BOSS])
    ca = start_ca(pki, workers=2)
    creds = admin_credentials(ca, pki, BOSS)
    made: dict[str, list[int]] = {"short": [], "long": []}
    for i in range(3):
        chain, _, _ = issue_cert(ca, pki, f"short{i}.example.com", not_after="30m")
        made["short"].append(chain[0].serial_number)
    for i in range(4):
        chain, _, _ = issue_cert(ca, pki, f"long{i}.example.com")
        made["long"].append(chain[0].serial_number)
    yield ca, pki, creds, made
    ca.stop()


def _all(ca: CAProcess, creds: AdminCredentials, query: str) -> list[dict]:  # type: ignore[type-arg]
    status, body = call(ca, creds, "GET", f"/admin/certificates?{query}")
    assert status == 200, body
    return list(body["certificates"])


def test_filters_and_order(inventory) -> None:  # type: ignore[no-untyped-def]
    ca, pki, creds, made = inventory
    rows = _all(ca, creds, "limit=1000")
    serials = [int(r["serial"]) for r in rows]
    assert set(made["short"] + made["long"]) <= set(serials)
    assert [r["notAfter"] for r in rows] == sorted(r["notAfter"] for r in rows)  # soonest first
    short = _all(ca, creds, "expiringWithin=1h")
    assert sorted(int(r["serial"]) for r in short) == sorted(made["short"])
    one = _all(ca, creds, "subject=long2.example.com")
    assert [int(r["serial"]) for r in one] == [made["long"][2]]
    assert all(
        r["provisioner"] == "admin@example.com" for r in _all(ca, creds, "provisioner=admin%40example.com")
    )
    assert _all(ca, creds, "provisioner=nobody") == []
    assert rows[0].keys() >= {
        "serial",
        "kind",
        "provisioner",
        "subject",
        "notBefore",
        "notAfter",
        "origin",
        "revoked",
    }


def test_keyset_pages(inventory) -> None:  # type: ignore[no-untyped-def]
    ca, pki, creds, made = inventory
    seen: list[str] = []
    cursor = ""
    for _ in range(20):
        status, body = call(ca, creds, "GET", f"/admin/certificates?limit=2&cursor={cursor}")
        assert status == 200, body
        assert len(body["certificates"]) <= 2
        seen += [r["serial"] for r in body["certificates"]]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == len(_all(ca, creds, "limit=1000"))
    status, body = call(ca, creds, "GET", "/admin/certificates?cursor=not-a-cursor")
    assert status == 400 and "invalid cursor" in body["message"]
    status, body = call(ca, creds, "GET", "/admin/certificates?expiringWithin=banana")
    assert status == 400 and "expiringWithin" in body["message"]


def test_revoked_filter_and_export(inventory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca, pki, creds, made = inventory
    victim = made["long"][0]
    pki.step("ca", "revoke", str(victim), "--provisioner", "admin@example.com",
             "--password-file", str(pki.password_file))  # fmt: skip
    revoked = _all(ca, creds, "revoked=true")
    assert [int(r["serial"]) for r in revoked] == [victim] and revoked[0]["revokedAt"]
    assert victim not in [int(r["serial"]) for r in _all(ca, creds, "revoked=false&limit=1000")]

    status, body = call(ca, creds, "GET", f"/admin/certificates/{made['long'][1]}")
    assert status == 200, body
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert cert.serial_number == made["long"][1] and body["subject"] == "long1.example.com"
    assert call(ca, creds, "GET", "/admin/certificates/12345")[0] == 404
    assert call(ca, creds, "GET", "/admin/certificates/x'1")[0] == 400


def test_the_cli_lists_exactly_the_short_lived_ones(inventory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca, pki, creds, made = inventory
    login = ["--admin-subject", BOSS, "--admin-provisioner", "admin@example.com",
             "--admin-password-file", str(pki.password_file)]  # fmt: skip
    out = pki.step("ca", "certificates", "list", "--expiring-within", "1h", "--format", "json", *login).stdout
    assert sorted(int(r["serial"]) for r in json.loads(out)) == sorted(made["short"])
    table = pki.step("ca", "certificates", "expiring", "--within", "1h", *login).stdout.splitlines()
    assert table[0].split() == ["SERIAL", "SUBJECT", "PROVISIONER", "NOT", "AFTER", "REVOKED"]
    assert len(table) == 1 + len(made["short"])
    csv_out = pki.step(
        "ca", "certificates", "list", "--subject", "short0.example.com", "--format", "csv", *login
    ).stdout
    lines = csv_out.splitlines()
    assert lines[0].startswith("serial,kind,subject") and lines[1].startswith(
        f"{made['short'][0]},x509,short0.example.com"
    )
    dest = tmp_path / "exported.crt"
    pki.step("ca", "certificates", "export", str(made["short"][1]), "--out", str(dest), *login)
    assert x509.load_pem_x509_certificate(dest.read_bytes()).serial_number == made["short"][1]
    bad = pki.step("ca", "certificates", "list", "--expiring-within", "soon", *login, check=False)
    assert "expiringWithin" in assert_one_line_error(bad)


def test_who_may_not_read(inventory) -> None:  # type: ignore[no-untyped-def]
    ca, pki, creds, made = inventory
    assert call(ca, None, "GET", "/admin/certificates")[0] == 401
    outsider = admin_credentials(ca, pki, "not-an-admin@example.com")
    status, body = call(ca, outsider, "GET", "/admin/certificates")
    assert status == 401 and "unable to load admin" in body["message"]
    tok_path = "/admin/certificates"
    token = creds.token(tok_path)
    headers = {"Authorization": token}
    assert ca.request("GET", tok_path, None, headers)[0] == 200
    assert ca.request("GET", tok_path, None, headers)[0] == 401  # replayed


def test_without_remote_administration(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    ca = start_ca(pki, workers=1)
    try:
        creds = admin_credentials(ca, pki, "ops@example.com")
        status, body = call(ca, creds, "GET", "/admin/certificates")
        assert status == 404 and "authority.adminProvisioners" in body["message"]
    finally:
        ca.stop()
    pki.edit_config(lambda cfg: cfg["authority"].__setitem__("adminProvisioners", ["admin@example.com"]))
    ca = start_ca(pki, workers=1)
    try:
        creds = admin_credentials(ca, pki, "ops@example.com")
        status, body = call(ca, creds, "GET", "/admin/certificates")
        assert status == 200 and any(r["subject"] == "ops@example.com" for r in body["certificates"])
        assert call(ca, None, "GET", "/admin/certificates")[0] == 401
    finally:
        ca.stop()
    # a certificate of another provisioner may not
    pki.edit_config(lambda cfg: cfg["authority"].__setitem__("adminProvisioners", ["someone-else"]))
    ca = start_ca(pki, workers=1)
    try:
        creds = admin_credentials(ca, pki, "ops@example.com")
        status, body = call(ca, creds, "GET", "/admin/certificates")
        assert status == 401 and "is not an admin provisioner" in body["message"]
    finally:
        ca.stop()


def test_the_audit_log(tmp_path: Path) -> None:
    """Issuance, renewal (mTLS) and revocation each leave one audit line in their transaction:
    action, certificate, names, provisioner, credential (the token's id, or the client
    certificate), remote address."""
    pki = make_pki(tmp_path)
    pki.edit_config(lambda cfg: cfg["authority"].__setitem__("adminProvisioners", ["admin@example.com"]))
    ca = start_ca(pki, workers=2)
    try:
        crt, key = tmp_path / "a.crt", tmp_path / "a.key"
        pki.step("ca", "certificate", "audited.example.com", str(crt), str(key), "--san", "audited.example.com",
                 "--san", "10.0.0.7", "--provisioner-password-file", str(pki.password_file))  # fmt: skip
        first = x509.load_pem_x509_certificate(crt.read_bytes()).serial_number
        pki.step("ca", "renew", str(crt), str(key), "--force")
        second = x509.load_pem_x509_certificate(crt.read_bytes()).serial_number
        pki.step("ca", "revoke", str(second), "--provisioner-password-file", str(pki.password_file))
        creds = admin_credentials(ca, pki, "auditor@example.com")
        status, body = call(ca, creds, "GET", f"/admin/audit?serial={first}")
        assert status == 200, body
        (issued,) = body["events"]
        assert issued["action"] == "sign" and issued["kind"] == "x509"
        assert issued["subject"] == "audited.example.com" and issued["names"] == [
            "audited.example.com",
            "10.0.0.7",
        ]
        assert issued["provisioner"] == "admin@example.com" and issued["remote"] == "127.0.0.1"
        assert issued["credential"] and not issued["credential"].startswith("cert:")  # the token's id
        status, body = call(ca, creds, "GET", f"/admin/audit?serial={second}")
        actions = {e["action"]: e for e in body["events"]}
        assert set(actions) == {"renew", "revoke"}
        assert actions["renew"]["credential"] == f"cert:{first}"  # mTLS with the old certificate
        assert actions["renew"]["names"] == ["audited.example.com", "10.0.0.7"]
        assert actions["revoke"]["provisioner"] == "admin@example.com" and actions["revoke"]["credential"]
        status, body = call(ca, creds, "GET", "/admin/audit?limit=2")
        assert (
            status == 200 and len(body["events"]) == 2 and body["events"][0]["at"] >= body["events"][1]["at"]
        )
        assert call(ca, None, "GET", "/admin/audit")[0] == 401
        assert call(ca, creds, "GET", "/admin/audit?serial=abc")[0] == 400
    finally:
        ca.stop()
