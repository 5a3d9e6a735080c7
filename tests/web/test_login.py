"""Dashboard logins and sessions over plain HTTPS (no browser): a CA without remote
administration, ``authority.adminProvisioners`` naming its JWK provisioner. The session is
stored as a hash; logout needs the CSRF token and deletes it; refusals say the same words."""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import signal
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import PASSWORD, PKI, CAProcess, make_pki, start_ca

PROVISIONER = "admin@example.com"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CAProcess]:
    pki = make_pki(tmp_path_factory.mktemp("dash-login"))
    pki.edit_config(lambda cfg: cfg["authority"].__setitem__("adminProvisioners", [PROVISIONER]))
    ca = start_ca(pki, workers=1)
    yield ca
    ca.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    def __init__(self, ca: CAProcess) -> None:
        self.ca = ca
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ca.ssl_context()),
            urllib.request.HTTPCookieProcessor(self.jar),
            NoRedirect(),
        )

    def go(self, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(f"{self.ca.url}{path}", data=data, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, dict(exc.headers), exc.read().decode()

    @staticmethod
    def csrf(html: str) -> str:
        return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    def login(
        self, provisioner: str = PROVISIONER, password: str = PASSWORD
    ) -> tuple[int, dict[str, str], str]:
        status, _, html = self.go("/dashboard/login")
        assert status == 200
        form = {
            "csrf": self.csrf(html),
            "method": "password",
            "provisioner": provisioner,
            "password": password,
        }
        return self.go("/dashboard/login", form)

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "") or ""


def _db(pki: PKI) -> sqlite3.Connection:
    return sqlite3.connect(json.loads(pki.ca_json.read_text())["db"]["dataSource"])


def test_password_login_session_and_logout(ca: CAProcess) -> None:
    b = Browser(ca)
    assert b.go("/dashboard")[0:2][0] == 303
    status, headers, _ = b.login()
    assert status == 303 and headers["Location"] == "/dashboard"
    sid = b.cookie("stepca_session")
    assert len(sid) >= 40
    with _db(ca.pki) as db:
        rows = db.execute(
            "SELECT id_hash, subject, provisioner, method, expires_at FROM dashboard_sessions"
        ).fetchall()
    mine = [r for r in rows if r[0] == hashlib.sha256(sid.encode()).hexdigest()]
    assert mine and mine[0][1:4] == (PROVISIONER, PROVISIONER, "password")
    assert abs(mine[0][4] - (time.time() + 8 * 3600)) < 60
    assert not any(sid in str(r) for r in rows)  # the id itself is never stored

    status, headers, html = b.go("/dashboard/provisioners")
    assert status == 200 and PROVISIONER in html
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<script>" not in html and " onclick=" not in html  # nothing inline
    assert b.go("/1.0/dashboard")[0] == 404  # no API prefix: the dashboard is at /dashboard only

    assert b.go("/dashboard/logout", {})[0] == 403  # no CSRF token: refused, still logged in
    assert b.go("/dashboard/logout", {"csrf": "0" * 64})[0] == 403
    assert b.go("/dashboard")[0] == 200
    status, headers, _ = b.go("/dashboard/logout", {"csrf": b.csrf(html)})
    assert status == 303 and headers["Location"] == "/dashboard/login"
    with _db(ca.pki) as db:
        left = db.execute("SELECT count(*) FROM dashboard_sessions WHERE id_hash = ?",
                          (hashlib.sha256(sid.encode()).hexdigest(),)).fetchone()[0]  # fmt: skip
    assert left == 0
    # the old cookie is worth nothing now
    b.jar.clear()
    replay = Browser(ca)
    req = urllib.request.Request(f"{ca.url}/dashboard", headers={"Cookie": f"stepca_session={sid}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        replay.opener.open(req, timeout=30)
    assert err.value.code == 303
    err.value.close()


def test_refusals_say_the_same(ca: CAProcess) -> None:
    started = time.monotonic()
    wrong = Browser(ca).login(password="wrong-password")
    unknown = Browser(ca).login(provisioner="nobody")
    assert time.monotonic() - started >= 2  # each refusal waits
    for status, _, html in (wrong, unknown):
        assert status == 401 and "invalid provisioner, subject or password" in html
    b = Browser(ca)
    b.go("/dashboard/login")
    status, _, html = b.go(
        "/dashboard/login", {"method": "password", "provisioner": PROVISIONER, "password": PASSWORD}
    )
    assert status == 403 and "expired" in html  # a login without the form's token
    assert not b.cookie("stepca_session")


def test_a_session_ends_when_its_holder_is_no_longer_an_admin(ca: CAProcess) -> None:
    b = Browser(ca)
    assert b.login()[0] == 303
    assert b.go("/dashboard")[0] == 200
    ca.pki.edit_config(lambda cfg: cfg["authority"].__setitem__("adminProvisioners", ["someone-else"]))
    try:
        ca.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while b.go("/dashboard")[0] == 200:
            assert time.monotonic() < deadline, "the session outlived the reload"
            time.sleep(0.3)
        status, headers, _ = b.go("/dashboard")
        assert status == 303 and headers["Location"] == "/dashboard/login"
    finally:
        ca.pki.edit_config(lambda cfg: cfg["authority"].__setitem__("adminProvisioners", [PROVISIONER]))
        ca.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while b.login()[0] != 303:
        assert time.monotonic() < deadline
        time.sleep(0.3)
