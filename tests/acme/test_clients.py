"""Real ACME clients against a real step-ca: certbot (standalone http-01: issue, force-renew,
revoke) and lego (http-01, tls-alpn-01, renew, dns-01 through its exec provider and the loopback
DNS server). Ports 80 and 443 are taken under a machine-wide lock (the ``ports`` fixture).

Names resolve through ``step-ca --resolver`` (the loopback DNS server answers 127.0.0.1)."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from stepca.crypto.x509ext import PROVISIONER_OID, ProvisionerExtension
from tests.acme.client import AcmeClient
from tests.acme.conftest import directory_url
from tests.acme.dns_server import LoopbackDNS
from tests.helpers import CAProcess, assert_one_line_error

pytestmark = [
    pytest.mark.usefixtures("ports"),
    pytest.mark.skipif(os.geteuid() != 0, reason="ports 80 and 443 need root"),
]
HERE = Path(__file__).resolve().parent


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, (
        f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


def check_certificate(
    ca: CAProcess, path: Path, names: list[str], chain: Path | None = None
) -> x509.Certificate:
    """``openssl verify`` with the chain; the leaf carries exactly ``names`` and the ACME provisioner."""
    pems = path.read_text()
    leaf = x509.load_pem_x509_certificate(pems.encode())
    bundle = chain or path
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca.pki.root), "-untrusted", str(bundle), str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(names)
    ext = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(PROVISIONER_OID))
    assert ProvisionerExtension.from_der(ext.value.value).type == 6  # type: ignore[attr-defined]
    return leaf


# ------------------------------------------------------------------------------------ certbot


@pytest.mark.skipif(
    shutil.which("certbot") is None, reason="certbot is not installed (apt-get install certbot)"
)
def test_certbot_standalone_issue_renew_revoke(acme_ca: CAProcess, tmp_path: Path) -> None:
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(acme_ca.pki.root)}
    dirs = [
        "--config-dir", str(tmp_path / "etc"), "--work-dir", str(tmp_path / "work"), "--logs-dir", str(tmp_path / "log"),
    ]  # fmt: skip
    server = ["--server", directory_url(acme_ca)]
    names = ["certbot.example.com", "www.certbot.example.com"]
    run(
        ["certbot", "certonly", "--standalone", "--non-interactive", "--agree-tos", "-m", "admin@example.com",
         "--http-01-address", "127.0.0.1", *server, *dirs, *[a for n in names for a in ("-d", n)]],
        env,
    )  # fmt: skip
    live = tmp_path / "etc" / "live" / names[0]
    first = check_certificate(acme_ca, live / "cert.pem", names, chain=live / "chain.pem")
    run(
        [
            "certbot",
            "renew",
            "--force-renewal",
            "--no-random-sleep-on-renew",
            "--non-interactive",
            "--http-01-address",
            "127.0.0.1",
            *dirs,
        ],
        env,
    )
    second = check_certificate(acme_ca, live / "cert.pem", names, chain=live / "chain.pem")
    assert second.serial_number != first.serial_number
    run(
        ["certbot", "revoke", "--non-interactive", "--cert-path", str(live / "cert.pem"), "--reason", "superseded",
         "--no-delete-after-revoke", *server, *dirs],
        env,
    )  # fmt: skip
    # the CA knows it is revoked: a second revocation is refused as alreadyRevoked
    again = subprocess.run(
        ["certbot", "revoke", "--non-interactive", "--cert-path", str(live / "cert.pem"), "--no-delete-after-revoke",
         *server, *dirs],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode != 0 and "alreadyRevoked" in (again.stdout + again.stderr + _log(tmp_path))


def _log(tmp_path: Path) -> str:
    log = tmp_path / "log" / "letsencrypt.log"
    return log.read_text() if log.exists() else ""


# ------------------------------------------------------------------------------------ lego


def lego(
    ca: CAProcess, path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "LEGO_CA_CERTIFICATES": str(ca.pki.root), **(env or {})}
    return run(["lego", "--server", directory_url(ca), "--email", "admin@example.com", "--accept-tos",
                "--path", str(path), *args], full)  # fmt: skip


skip_no_lego = pytest.mark.skipif(
    shutil.which("lego") is None, reason="lego is not installed (apt-get install lego)"
)


@skip_no_lego
def test_lego_http01_and_renew(acme_ca: CAProcess, tmp_path: Path) -> None:
    names = ["lego.example.com", "api.lego.example.com"]
    domains = [a for n in names for a in ("--domains", n)]
    lego(acme_ca, tmp_path, "--http", "--http.port", "127.0.0.1:80", *domains, "run")
    crt = tmp_path / "certificates" / f"{names[0]}.crt"
    first = check_certificate(acme_ca, crt, names)
    lego(
        acme_ca,
        tmp_path,
        "--http",
        "--http.port",
        "127.0.0.1:80",
        *domains,
        "renew",
        "--days",
        "3650",
        "--no-random-sleep",
    )
    second = check_certificate(acme_ca, crt, names)
    assert second.serial_number != first.serial_number


@skip_no_lego
def test_lego_tls_alpn01(acme_ca: CAProcess, tmp_path: Path) -> None:
    lego(acme_ca, tmp_path, "--tls", "--tls.port", "127.0.0.1:443", "--domains", "alpn.example.com", "run")
    check_certificate(acme_ca, tmp_path / "certificates" / "alpn.example.com.crt", ["alpn.example.com"])


@skip_no_lego
def test_lego_dns01_exec_provider_and_wildcard(
    acme_ca: CAProcess, dns_server: LoopbackDNS, tmp_path: Path
) -> None:
    env = {
        "EXEC_PATH": str(HERE / "lego_exec.py"),
        "ACME_DNS_RECORDS": str(dns_server.records_dir),
        "EXEC_PROPAGATION_TIMEOUT": "20",
        "EXEC_POLLING_INTERVAL": "1",
        "EXEC_SEQUENCE_INTERVAL": "1",  # the wildcard and the name share one TXT name
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    lego(acme_ca, tmp_path, "--dns", "exec", "--dns.resolvers", dns_server.address, "--dns.disable-cp",
         "--domains", "dns.example.com", "--domains", "*.dns.example.com", "run", env=env)  # fmt: skip
    check_certificate(
        acme_ca, tmp_path / "certificates" / "dns.example.com.crt", ["dns.example.com", "*.dns.example.com"]
    )


# ------------------------------------------------------------------------------------ failure


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def port80_404() -> Iterator[None]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 80), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


def test_http01_404_makes_authz_and_order_invalid_promptly(client: AcmeClient, port80_404: None) -> None:
    client.new_account()
    resp = client.new_order("missing.example.com")
    order_url, order = resp.location, resp.json()
    authz_url = order["authorizations"][0]
    ch = next(c for c in client.post(authz_url, None).json()["challenges"] if c["type"] == "http-01")
    started = time.monotonic()
    assert client.post(ch["url"], {}).json()["status"] == "processing"
    while time.monotonic() - started < 30:
        authz = client.post(authz_url, None).json()
        if authz["status"] != "pending":
            break
        time.sleep(0.2)
    assert authz["status"] == "invalid", authz
    failed = next(c for c in authz["challenges"] if c["type"] == "http-01")
    assert failed["status"] == "invalid"
    assert failed["error"]["type"] == "urn:ietf:params:acme:error:unauthorized"
    assert "404" in failed["error"]["detail"]
    final = client.post(order_url, None).json()
    assert final["status"] == "invalid" and final["error"]["type"].startswith("urn:ietf:params:acme:error:")
    assert time.monotonic() - started < 30


# ------------------------------------------------------------------------------------ our CLI


def test_step_ca_certificate_acme_standalone_and_webroot(acme_ca: CAProcess, tmp_path: Path) -> None:
    crt, key = tmp_path / "cli.crt", tmp_path / "cli.key"
    out = acme_ca.pki.step(
        "ca", "certificate", "cli.example.com", str(crt), str(key), "--acme", directory_url(acme_ca),
        "--standalone", "--http-listen", "127.0.0.1:80", "--san", "www.cli.example.com", "--contact", "me@example.com",
        "--root", str(acme_ca.pki.root),
    )  # fmt: skip
    assert "Certificate" in out.stderr + out.stdout
    check_certificate(acme_ca, crt, ["cli.example.com", "www.cli.example.com"])
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # --webroot: files for a web server already on port 80 (here: a static server on the dir)
    root_dir = tmp_path / "www"
    root_dir.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 80), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        acme_ca.pki.step(
            "ca", "certificate", "web.example.com", str(tmp_path / "web.crt"), str(tmp_path / "web.key"),
            "--acme", directory_url(acme_ca), "--webroot", str(root_dir), "--root", str(acme_ca.pki.root),
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    check_certificate(acme_ca, tmp_path / "web.crt", ["web.example.com"])
    assert not any((root_dir / ".well-known" / "acme-challenge").iterdir())  # cleaned up


def test_step_ca_certificate_acme_failure_is_one_line(
    acme_ca: CAProcess, tmp_path: Path, port80_404: None
) -> None:
    result = acme_ca.pki.step(
        "ca", "certificate", "fails.example.com", str(tmp_path / "f.crt"), str(tmp_path / "f.key"),
        "--acme", directory_url(acme_ca), "--webroot", str(tmp_path), "--root", str(acme_ca.pki.root),
        check=False,
    )  # fmt: skip
    line = assert_one_line_error(result)
    assert "fails.example.com" in line and "invalid" in line


class _Answer(http.server.BaseHTTPRequestHandler):
    """Hangs (never answers) until ``answer`` is set, then serves it."""

    answer: str = ""

    def do_GET(self) -> None:
        while not type(self).answer:
            time.sleep(0.1)
        body = type(self).answer.encode()
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the killed worker's connection

    def log_message(self, *args: Any) -> None:
        pass


def test_a_validation_whose_worker_died_is_taken_over(tmp_path: Path, dns_server: LoopbackDNS) -> None:
    import signal
    import ssl

    from tests.acme.conftest import add_acme_provisioner
    from tests.helpers import make_pki, start_ca

    pki = make_pki(tmp_path)
    add_acme_provisioner(pki)
    env = {
        **pki.env,
        "STEPCA_ACME_STALE_SECONDS": "1",
        "STEPCA_ACME_RETAKE_SECONDS": "1",
        "STEPCA_JOB_LEASE_SECONDS": "3",
    }
    ca = start_ca(pki, workers=1, env=env, extra_args=["--resolver", dns_server.address])
    handler = type("Hang", (_Answer,), {"answer": ""})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 80), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = AcmeClient(directory_url(ca), ssl.create_default_context(cafile=str(pki.root)))
        c.new_account()
        resp = c.new_order("retake.example.com")
        authz_url = resp.json()["authorizations"][0]
        ch = next(x for x in c.post(authz_url, None).json()["challenges"] if x["type"] == "http-01")
        assert c.post(ch["url"], {}).json()["status"] == "processing"
        time.sleep(0.5)  # the worker's validation is now waiting on the hanging server
        (worker,) = ca.pids()
        os.kill(worker, signal.SIGKILL)
        handler.answer = c.key_authorization(ch["token"])
        deadline = time.monotonic() + 30
        status = "processing"
        while time.monotonic() < deadline and status == "processing":
            time.sleep(0.5)
            try:
                status = c.post(ch["url"], None).json()["status"]
            except OSError:
                continue  # the supervisor is restarting the worker
        assert status == "valid"
        deadline = time.monotonic() + 10  # the worker's log is flushed every 0.2 s
        while "validating ACME challenges again" not in ca.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "validating ACME challenges again" in ca.log()
    finally:
        server.shutdown()
        server.server_close()
        ca.stop()


@skip_no_lego
def test_lego_ip_identifier_http01(acme_ca: CAProcess, tmp_path: Path) -> None:
    lego(acme_ca, tmp_path, "--http", "--http.port", "127.0.0.1:80", "--domains", "127.0.0.1", "run")
    crt = tmp_path / "certificates" / "127.0.0.1.crt"
    leaf = x509.load_pem_x509_certificate(crt.read_bytes())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", str(acme_ca.pki.root), "-untrusted", str(crt), str(crt)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
