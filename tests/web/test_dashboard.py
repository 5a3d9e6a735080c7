"""The web dashboard (issue 15 item 5) in a real browser: Debian's /usr/bin/chromium, headless,
driven by Playwright (no browser download). The browser trusts the CA through an NSS database
holding its root in a temporary HOME (no certificate errors ignored).

One CA with remote administration, CRL and OCSP on: log in with the admin provisioner's password,
find a certificate by subject, open it, revoke it after a confirmation, see it revoked (and in
the CRL and OCSP). Refused: a wrong password, a client certificate of a non-admin, a POST
without the CSRF token; no session goes to the login page. Screenshots: tests/web/artifacts/."""

from __future__ import annotations

import http.cookiejar
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509 import ocsp

from tests.admin.helpers import admin_credentials, call, issue_cert
from tests.helpers import PASSWORD, PKI, CAProcess, make_pki, start_ca

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
BOSS = "boss@example.com"
PROVISIONER = "admin@example.com"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.skipif(shutil.which("certutil") is None, reason="needs certutil (libnss3-tools)"),
]


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CAProcess, PKI, dict[str, int]]]:
    base = tmp_path_factory.mktemp("dashboard")
    pki = make_pki(base, extra_args=["--remote-management", "--admin-subject", BOSS])

    def edit(cfg: dict[str, Any]) -> None:
        cfg["crl"] = {"enabled": True, "generateOnRevoke": True}
        cfg["ocsp"] = {"enabled": True}

    pki.edit_config(edit)
    ca = start_ca(pki, workers=1)
    made: dict[str, int] = {}
    for name in ("web1.example.com", "web2.example.com", "victim.example.com"):
        chain, _, _ = issue_cert(ca, pki, name)
        made[name] = chain[0].serial_number
    yield ca, pki, made
    ca.stop()


@pytest.fixture(scope="module")
def browser(
    dash: tuple[CAProcess, PKI, dict[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Chromium trusting the CA's root: an NSS database in a temporary HOME."""
    from playwright.sync_api import sync_playwright

    ca, pki, _ = dash
    home = tmp_path_factory.mktemp("browser-home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "stepca test root", "-t", "C,,", "-i", str(pki.root)],
        check=True,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    # client certificates go through Playwright's own TLS proxy (Node): it verifies the CA
    # against Node's store plus this root (without it, the pages do not load)
    saved = os.environ.get("NODE_EXTRA_CA_CERTS")
    os.environ["NODE_EXTRA_CA_CERTS"] = str(pki.root)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox"],
            env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        )
        yield b
        b.close()
    if saved is None:
        os.environ.pop("NODE_EXTRA_CA_CERTS", None)
    else:
        os.environ["NODE_EXTRA_CA_CERTS"] = saved


def _page(browser: Any, **context_options: Any) -> Any:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, **context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _login(page: Any, ca: CAProcess, password: str = PASSWORD, subject: str = BOSS) -> None:
    page.goto(f"{ca.url}/dashboard/login")
    page.fill("#provisioner", PROVISIONER)
    page.fill("#subject", subject)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_load_state()


def test_no_session_goes_to_the_login_page(dash, browser) -> None:  # type: ignore[no-untyped-def]
    ca, _, _ = dash
    page = _page(browser)
    resp = page.goto(f"{ca.url}/dashboard/certificates")
    assert resp.ok  # a trusted certificate: no interstitial
    assert page.url == f"{ca.url}/dashboard/login"
    assert resp.headers["content-security-policy"].startswith("default-src 'self'")
    page.screenshot(path=str(ARTIFACTS / "login.png"), full_page=True)
    page.context.close()


def test_wrong_password_is_refused(dash, browser) -> None:  # type: ignore[no-untyped-def]
    ca, _, _ = dash
    page = _page(browser)
    _login(page, ca, password="not-the-password")
    assert page.url == f"{ca.url}/dashboard/login"
    message = page.text_content("#error")
    # the same words for a wrong subject (or an unknown provisioner)
    _login(page, ca, subject="nobody@example.com")
    assert page.text_content("#error") == message == "invalid provisioner, subject or password"
    page.screenshot(path=str(ARTIFACTS / "login-refused.png"), full_page=True)
    assert page.goto(f"{ca.url}/dashboard").url == f"{ca.url}/dashboard/login"
    page.context.close()


def test_login_search_detail_revoke(dash, browser) -> None:  # type: ignore[no-untyped-def]
    ca, _, made = dash
    serial = str(made["victim.example.com"])
    page = _page(browser)
    _login(page, ca)
    assert page.url == f"{ca.url}/dashboard"
    assert page.text_content("#who") == BOSS
    assert int(page.text_content("#issued-24h")) >= 3
    assert page.locator("#chart rect").count() == 24
    assert PROVISIONER in page.text_content("#per-provisioner")
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

    page.click("text=Certificates")
    page.fill("#q-subject", "victim.example.com")
    page.click("#search-go")
    rows = page.locator("#results tbody tr")
    assert rows.count() == 1 and serial in rows.first.text_content()
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)

    page.click(f"a.serial:has-text('{serial}')")
    assert page.url == f"{ca.url}/dashboard/certificates/{serial}"
    text = page.text_content("#inspect")
    assert f"Serial Number: {serial}" in text and "Subject: CN=victim.example.com" in text
    assert page.text_content("#status") == "valid"
    assert page.text_content("#ocsp") == "good"
    with page.expect_download() as dl:
        page.click("#download")
    pem = Path(dl.value.path()).read_bytes()
    leaf = x509.load_pem_x509_certificate(pem)
    assert leaf.serial_number == int(serial)
    page.screenshot(path=str(ARTIFACTS / "detail.png"), full_page=True)

    # the confirmation: a page, then a dialog; dismissing the dialog revokes nothing
    page.click("#revoke")
    assert page.url.endswith(f"/certificates/{serial}/revoke")
    page.select_option("#reason-code", "1")
    page.fill("#reason", "laptop lost")
    page.screenshot(path=str(ARTIFACTS / "revoke-confirm.png"), full_page=True)
    page.once("dialog", lambda d: d.dismiss())
    page.click("#confirm-revoke")
    assert page.url.endswith("/revoke")
    page.once("dialog", lambda d: d.accept())
    page.click("#confirm-revoke")
    page.wait_for_url(f"**/dashboard/certificates/{serial}?revoked=1")
    status = page.text_content("#status")
    assert status.startswith("revoked") and f"admin:{BOSS}" in status and "laptop lost" in status
    deadline = time.time() + 10
    while "revoked" not in (page.text_content("#crl") or "") and time.time() < deadline:
        time.sleep(0.5)
        page.reload()
    assert page.text_content("#crl").startswith("revoked (CRL #")
    assert page.text_content("#ocsp") == "revoked"
    page.screenshot(path=str(ARTIFACTS / "revoked.png"), full_page=True)

    # the CRL the CA serves lists it, and the search shows it revoked
    status_code, der = ca.request("GET", "/crl")
    assert status_code == 200
    assert x509.load_der_x509_crl(der).get_revoked_certificate_by_serial_number(int(serial)) is not None
    issuer = x509.load_pem_x509_certificate(ca.pki.intermediate.read_bytes())
    ocsp_req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    status_code, body = ca.request(
        "POST", "/ocsp", ocsp_req.public_bytes(Encoding.DER), {"Content-Type": "application/ocsp-request"}
    )
    assert status_code == 200
    assert ocsp.load_der_ocsp_response(body).certificate_status == ocsp.OCSPCertStatus.REVOKED
    # the audit log has the revocation: by the admin, through the dashboard, from the browser
    creds = admin_credentials(ca, ca.pki, BOSS)
    status_code, audit = call(ca, creds, "GET", f"/admin/audit?serial={serial}")
    assert status_code == 200, audit
    (event,) = [e for e in audit["events"] if e["action"] == "revoke"]
    assert event["provisioner"] == f"admin:{BOSS}" and event["credential"] == "dashboard"
    assert event["remote"] == "127.0.0.1"
    page.goto(f"{ca.url}/dashboard/certificates?revoked=true")
    assert serial in page.text_content("#results")

    page.click("text=OCSP / CRL")
    assert int(page.text_content("#crl-number")) >= 1
    assert page.text_content("#ocsp-expiry")
    page.screenshot(path=str(ARTIFACTS / "revocation.png"), full_page=True)
    page.click("text=Provisioners")
    assert PROVISIONER in page.text_content("#provisioners")

    # a POST without the CSRF token (same cookies, the form's token taken out) is refused
    other = str(made["web2.example.com"])
    page.goto(f"{ca.url}/dashboard/certificates/{other}/revoke")
    page.evaluate("document.querySelector('#revoke-form input[name=csrf]').remove()")
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation() as nav:
        page.click("#confirm-revoke")
    assert nav.value.status == 403
    assert "CSRF" in page.text_content("#error")
    page.screenshot(path=str(ARTIFACTS / "csrf-refused.png"), full_page=True)
    page.goto(f"{ca.url}/dashboard/certificates/{other}")
    assert page.text_content("#status") == "valid"

    # logout deletes the session
    page.click("text=Log out")
    assert page.url == f"{ca.url}/dashboard/login"
    assert page.goto(f"{ca.url}/dashboard").url == f"{ca.url}/dashboard/login"
    page.context.close()


# ----------------------------------------------------------------------------------- client certificates


def _client_cert(ca: CAProcess, pki: PKI, tmp_path: Path, subject: str) -> tuple[Path, Path]:
    chain, key, _ = issue_cert(ca, pki, subject)
    crt, keyfile = tmp_path / f"{subject}.crt", tmp_path / f"{subject}.key"
    crt.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in chain))
    keyfile.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))  # type: ignore[union-attr]
    return crt, keyfile


def test_client_certificate_login_in_the_browser(dash, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca, pki, _ = dash
    for subject, admitted in ((BOSS, True), ("intruder.example.com", False)):
        crt, keyfile = _client_cert(ca, pki, tmp_path, subject)
        page = _page(
            browser, client_certificates=[{"origin": ca.url, "certPath": str(crt), "keyPath": str(keyfile)}]
        )
        page.goto(f"{ca.url}/dashboard/login")
        assert f"CN={subject}" in page.text_content("main")
        page.click("#login-cert")
        page.wait_for_load_state()
        if admitted:
            assert page.url == f"{ca.url}/dashboard" and page.text_content("#who") == BOSS
            page.screenshot(path=str(ARTIFACTS / "certificate-login.png"), full_page=True)
        else:
            assert page.url == f"{ca.url}/dashboard/login"
            assert "not an admin" in page.text_content("#error")
            page.screenshot(path=str(ARTIFACTS / "certificate-refused.png"), full_page=True)
            assert page.goto(f"{ca.url}/dashboard").url == f"{ca.url}/dashboard/login"
        page.context.close()


def _cert_login(
    ca: CAProcess, pki: PKI, tmp_path: Path, subject: str, files: tuple[Path, Path] | None = None
) -> tuple[int, str, str]:
    """Log in with a client certificate for ``subject`` on Python's TLS client, to read the
    cookie's attributes: status, Location, Set-Cookie."""
    crt, keyfile = files or _client_cert(ca, pki, tmp_path, subject)
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(str(crt), str(keyfile))
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar), NoRedirect()
    )
    with opener.open(f"{ca.url}/dashboard/login", timeout=30) as resp:
        html = resp.read().decode()
    assert "Log in with this certificate" in html
    csrf = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    data = urllib.parse.urlencode({"csrf": csrf, "method": "certificate"}).encode()
    try:
        with opener.open(f"{ca.url}/dashboard/login", data=data, timeout=30) as resp:
            return resp.status, resp.headers.get("Location", ""), resp.headers.get("Set-Cookie", "")
    except urllib.error.HTTPError as exc:
        return (
            exc.code,
            exc.headers.get("Location", ""),
            exc.headers.get("Set-Cookie", "") + exc.read().decode(),
        )


def test_client_certificate_login(dash, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ca, pki, _ = dash
    status, location, cookie = _cert_login(ca, pki, tmp_path, BOSS)
    assert status == 303 and location == "/dashboard", cookie
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/dashboard"):
        assert attr in cookie
    status, _, body = _cert_login(ca, pki, tmp_path, "intruder.example.com")
    assert status == 401 and "not an admin" in body
    # an admin's certificate, revoked: refused
    (tmp_path / "revoked").mkdir()
    files = _client_cert(ca, pki, tmp_path / "revoked", BOSS)
    serial = x509.load_pem_x509_certificate(files[0].read_bytes()).serial_number
    pki.step(
        "ca", "revoke", str(serial), "--provisioner", PROVISIONER, "--password-file", str(pki.password_file)
    )
    status, _, body = _cert_login(ca, pki, tmp_path, BOSS, files)
    assert status == 401 and "revoked" in body
