"""`step ca admin ...` and `step ca provisioner add|update|remove` in remote mode against a real
step-ca made by `step ca init --remote-management`: the login to the admin provisioner, the
changes live without a reload, ca.json untouched."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.admin.test_api import eventually
from tests.helpers import PKI, assert_one_line_error, make_pki, start_ca

BOSS = "boss@example.com"


@pytest.fixture
def remote(tmp_path: Path) -> tuple[PKI, list[str]]:
    pki = make_pki(tmp_path, extra_args=["--remote-management", "--admin-subject", BOSS])
    login = [
        "--admin-subject",
        BOSS,
        "--admin-provisioner",
        "admin@example.com",
        "--admin-password-file",
        str(pki.password_file),
    ]
    return pki, login


def test_init_remote_management_writes_enable_admin(remote: tuple[PKI, list[str]]) -> None:
    pki, _ = remote
    authority = pki.config()["authority"]
    assert authority["enableAdmin"] is True and authority["adminSubject"] == BOSS
    assert [p["name"] for p in authority["provisioners"]] == ["admin@example.com"]


def test_admins_and_provisioners_from_the_cli(remote: tuple[PKI, list[str]], tmp_path: Path) -> None:
    pki, login = remote
    ca = start_ca(pki, workers=2)
    try:
        before = pki.ca_json.read_text()
        out = pki.step("ca", "admin", "list", *login).stdout.splitlines()
        assert out[0].split() == ["SUBJECT", "PROVISIONER", "TYPE"]
        assert out[1].split() == [BOSS, "admin@example.com", "(JWK)", "SUPER_ADMIN"]

        # a provisioner, added through the API (remote mode: ca.json has enableAdmin)
        pw2 = tmp_path / "ops-password"
        pw2.write_text("ops-password-123")
        added = pki.step("ca", "provisioner", "add", "ops", "--create", "--password-file", str(pw2), *login)
        assert "Added provisioner" in added.stderr and "SIGHUP" not in added.stderr

        def listed() -> list[str]:
            return [p["name"] for p in json.loads(pki.step("ca", "provisioner", "list").stdout)]

        eventually(lambda: "ops" in listed(), within=2.0)
        crt, key = tmp_path / "svc.crt", tmp_path / "svc.key"
        pki.step(
            "ca",
            "certificate",
            "svc.example.com",
            str(crt),
            str(key),
            "--provisioner",
            "ops",
            "--password-file",
            str(pw2),
        )
        assert crt.exists()

        pki.step(
            "ca", "provisioner", "update", "ops", "--x509-max-dur", "2h", "--x509-default-dur", "1h", *login
        )
        time.sleep(1.0)
        claims = next(
            p for p in json.loads(pki.step("ca", "provisioner", "list").stdout) if p["name"] == "ops"
        )["claims"]
        assert claims["maxTLSCertDuration"] in ("2h", "2h0m0s")

        # admins: add, promote, list, remove (ADMIN of ops)
        out = pki.step("ca", "admin", "add", "alice@example.com", "ops", *login).stdout
        assert "alice@example.com" in out and "ADMIN" in out and "ops (JWK)" in out
        out = pki.step("ca", "admin", "update", "alice@example.com", "--super=true", *login).stdout
        assert "SUPER_ADMIN" in out
        rows = pki.step("ca", "admin", "list", *login).stdout
        assert "alice@example.com" in rows
        supers = pki.step("ca", "admin", "list", "--super", *login).stdout
        assert "alice@example.com" in supers
        assert "Removed admin" in pki.step("ca", "admin", "remove", "alice@example.com", *login).stderr
        assert "alice@example.com" not in pki.step("ca", "admin", "list", *login).stdout

        # with an admin certificate given as files
        bcrt, bkey = tmp_path / "boss.crt", tmp_path / "boss.key"
        pki.step(
            "ca", "certificate", BOSS, str(bcrt), str(bkey),
            "--provisioner", "admin@example.com", "--password-file", str(pki.password_file),
        )  # fmt: skip
        files = ["--admin-cert", str(bcrt), "--admin-key", str(bkey)]
        assert BOSS in pki.step("ca", "admin", "list", *files).stdout

        removed = pki.step("ca", "provisioner", "remove", "ops", *files)
        assert "Removed provisioner" in removed.stderr
        eventually(lambda: "ops" not in listed(), within=2.0)
        assert pki.ca_json.read_text() == before  # ca.json is not the source of truth any more

        # a wrong password, a non-admin subject: one line each
        bad = tmp_path / "bad"
        bad.write_text("nope")
        wrong = [*login[:4], "--admin-password-file", str(bad)]
        assert_one_line_error(pki.step("ca", "admin", "list", *wrong, check=False))
        stranger = ["--admin-subject", "mallory", *login[2:]]
        line = assert_one_line_error(pki.step("ca", "admin", "list", *stranger, check=False))
        assert "unable to load admin" in line
    finally:
        ca.stop()


def test_without_a_jwk_provisioner_the_first_start_creates_admin_jwk(tmp_path: Path) -> None:
    """smallstep's first start: no provisioner to own the super-admin, so "Admin JWK" is made,
    its key encrypted with the CA key password; a restart imports nothing again."""
    pki = make_pki(tmp_path, extra_args=["--remote-management"])
    pki.edit_config(lambda cfg: cfg["authority"].__setitem__("provisioners", []))
    login = ["--admin-provisioner", "Admin JWK", "--admin-password-file", str(pki.password_file)]
    for _ in range(2):
        ca = start_ca(pki, workers=1)
        try:
            names = [p["name"] for p in json.loads(pki.step("ca", "provisioner", "list").stdout)]
            assert names == ["Admin JWK"]
            rows = pki.step("ca", "admin", "list", *login).stdout.splitlines()
            assert rows[1].split() == ["step", "Admin", "JWK", "(JWK)", "SUPER_ADMIN"]
        finally:
            ca.stop()
    import sqlite3

    with sqlite3.connect(pki.step_path / "db" / "stepca.db") as db:
        assert db.execute("SELECT COUNT(*) FROM admin_audit WHERE action = 'import'").fetchone() == (1,)


def test_the_admin_login_asks_for_the_password_on_a_terminal(remote: tuple[PKI, list[str]]) -> None:
    """Without --admin-password-file the admin provisioner's password is asked (no terminal: a
    one-line error naming the flag)."""
    from tests.helpers import STEP
    from tests.pty_session import PtySession

    pki, login = remote
    ca = start_ca(pki, workers=1)
    try:
        args = ["ca", "admin", "list", "--admin-subject", BOSS]
        line = assert_one_line_error(pki.step(*args, check=False))
        assert "--admin-password-file" in line
        session = PtySession([STEP, *args], pki.env)
        try:
            session.expect("password to decrypt the provisioner key")
            session.sendline(pki.password_file.read_text())
            assert session.wait() == 0, session.text
            assert "SUPER_ADMIN" in session.text and BOSS in session.text
        finally:
            session.terminate()
    finally:
        ca.stop()
