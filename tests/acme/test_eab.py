"""External Account Binding: ``requireEAB``, keys made by ``step ca acme eab add --ca-config``
straight in the CA's database, bound once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stepca.crypto.jose import b64url_encode
from tests.acme.client import AcmeClient, jwk_of
from tests.acme.conftest import PROVISIONER, add_acme_provisioner, directory_url
from tests.acme.dns_server import LoopbackDNS
from tests.helpers import PKI, CAProcess, assert_one_line_error, make_pki, start_ca

NS = "urn:ietf:params:acme:error:"


@pytest.fixture(scope="module")
def eab_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    pki = make_pki(tmp_path_factory.mktemp("eab"))
    add_acme_provisioner(pki, requireEAB=True)
    return pki


@pytest.fixture(scope="module")
def eab_ca(eab_pki: PKI, dns_server: LoopbackDNS) -> Iterator[CAProcess]:
    ca = start_ca(eab_pki, workers=1, extra_args=["--resolver", dns_server.address])
    yield ca
    ca.stop()


def add_key(pki: PKI, reference: str = "") -> tuple[str, bytes]:
    out = pki.step(
        "ca",
        "acme",
        "eab",
        "add",
        PROVISIONER,
        *([reference] if reference else []),
        "--ca-config",
        str(pki.ca_json),
    )
    header, row = out.stdout.strip().splitlines()
    assert header.split("   ")[0] == "Key ID" and "Key (base64, raw url encoded)" in header
    fields = row.split()
    key_id, key_b64 = fields[0], fields[2]
    return key_id, base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))


def binding(client: AcmeClient, key_id: str, hmac_key: bytes) -> dict[str, str]:
    protected = b64url_encode(
        json.dumps({"alg": "HS256", "kid": key_id, "url": client.directory["newAccount"]}).encode()
    )
    payload = b64url_encode(json.dumps(jwk_of(client.key)).encode())
    sig = hmac.new(hmac_key, f"{protected}.{payload}".encode(), hashlib.sha256).digest()
    return {"protected": protected, "payload": payload, "signature": b64url_encode(sig)}


def new_client(ca: CAProcess) -> AcmeClient:
    return AcmeClient(directory_url(ca), ssl.create_default_context(cafile=str(ca.pki.root)))


def kind(resp: Any) -> str:
    return str(resp.json()["type"]).removeprefix(NS)


def test_eab_required_binds_once(eab_ca: CAProcess, eab_pki: PKI) -> None:
    client = new_client(eab_ca)
    assert client.directory["meta"]["externalAccountRequired"] is True
    missing = client.new_account()
    assert missing.status == 400 and kind(missing) == "externalAccountRequired"
    key_id, hmac_key = add_key(eab_pki, "first")
    wrong = client.new_account(externalAccountBinding=binding(client, key_id, b"x" * 32))
    assert kind(wrong) == "unauthorized"
    ok = client.new_account(externalAccountBinding=binding(client, key_id, hmac_key))
    assert ok.status == 201, ok.body
    assert ok.json()["externalAccountBinding"] == {"kid": key_id}
    other = new_client(eab_ca)
    reused = other.new_account(externalAccountBinding=binding(other, key_id, hmac_key))
    assert reused.status == 403 and kind(reused) == "unauthorized"
    listed = eab_pki.step(
        "ca", "acme", "eab", "list", PROVISIONER, "--ca-config", str(eab_pki.ca_json)
    ).stdout
    line = next(ln for ln in listed.splitlines() if ln.startswith(key_id))
    assert ok.location.rsplit("/", 1)[1] in line and "*****" in line and "first" in line


def test_eab_cli_errors_and_remove(eab_pki: PKI, tmp_path: Path) -> None:
    key_id, _ = add_key(eab_pki, "to-remove")
    dup = eab_pki.step(
        "ca", "acme", "eab", "add", PROVISIONER, "to-remove", "--ca-config", str(eab_pki.ca_json), check=False
    )
    assert "already exists" in assert_one_line_error(dup)
    nope = eab_pki.step(
        "ca", "acme", "eab", "add", "admin@example.com", "--ca-config", str(eab_pki.ca_json), check=False
    )
    assert "not an ACME provisioner" in assert_one_line_error(nope)
    out = eab_pki.step(
        "ca", "acme", "eab", "remove", PROVISIONER, key_id, "--ca-config", str(eab_pki.ca_json)
    )
    assert "deleted" in out.stdout
    again = eab_pki.step(
        "ca", "acme", "eab", "remove", PROVISIONER, key_id, "--ca-config", str(eab_pki.ca_json), check=False
    )
    assert "not found" in assert_one_line_error(again)


def test_reload_adds_an_acme_provisioner(pki: PKI) -> None:
    import os
    import signal
    import time

    ca = start_ca(pki, workers=2)
    try:
        c = new_client(ca)
        assert c.http("GET", c.directory_url).status == 404
        add_acme_provisioner(pki, "later")
        os.kill(ca.proc.pid, signal.SIGHUP)
        later = AcmeClient(directory_url(ca, provisioner="later"), c.context)
        deadline = time.monotonic() + 20
        ok = 0
        while time.monotonic() < deadline and ok < 6:  # both workers swapped their configuration
            ok = ok + 1 if later.http("GET", later.directory_url).status == 200 else 0
            time.sleep(0.1)
        assert later.new_account().status == 201
    finally:
        ca.stop()


@pytest.mark.skipif(shutil.which("lego") is None, reason="lego is not installed (apt-get install lego)")
def test_lego_with_eab(eab_ca: CAProcess, eab_pki: PKI, dns_server: LoopbackDNS, tmp_path: Path) -> None:
    key_id, hmac_key = add_key(eab_pki, "lego")
    env = {
        **os.environ,
        "LEGO_CA_CERTIFICATES": str(eab_pki.root),
        "EXEC_PATH": str(Path(__file__).resolve().parent / "lego_exec.py"),
        "ACME_DNS_RECORDS": str(dns_server.records_dir),
        "EXEC_PROPAGATION_TIMEOUT": "20",
        "EXEC_POLLING_INTERVAL": "1",
    }
    base = ["lego", "--server", directory_url(eab_ca), "--email", "eab@example.com", "--accept-tos",
            "--path", str(tmp_path), "--dns", "exec", "--dns.resolvers", dns_server.address, "--dns.disable-cp",
            "--domains", "eab.example.com"]  # fmt: skip
    without = subprocess.run([*base, "run"], env=env, capture_output=True, text=True, timeout=120)
    # lego reads meta.externalAccountRequired from the directory and stops before asking
    assert without.returncode != 0 and "External Account Binding" in without.stdout + without.stderr
    shutil.rmtree(tmp_path / "accounts", ignore_errors=True)
    hmac_b64 = base64.urlsafe_b64encode(hmac_key).rstrip(b"=").decode()
    ok = subprocess.run([*base, "--eab", "--kid", key_id, "--hmac", hmac_b64, "run"], env=env,
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (tmp_path / "certificates" / "eab.example.com.crt").exists()


def test_acme_requests_are_in_the_metrics(tmp_path: Path) -> None:
    from tests.helpers import free_port
    from tests.server.test_metrics import scrape

    pki = make_pki(tmp_path)
    add_acme_provisioner(pki)
    port = free_port()
    pki.edit_config(lambda cfg: cfg.__setitem__("metricsAddress", f"127.0.0.1:{port}"))
    ca = start_ca(pki, workers=1)
    try:
        c = new_client(ca)
        c.new_account()
        c.post(c.directory["newOrder"], {"identifiers": [{"type": "dns", "value": "m.example.com"}]})
        c.kid = c.kid + "x"  # an unknown account: a 400 accountDoesNotExist
        c.post(c.directory["newOrder"], {"identifiers": []})
        samples = scrape(port)
        routes = {
            dict(labels).get("route") for (name, labels) in samples if name.startswith("stepca_http_requests")
        }
        assert {
            "/acme/{provisioner}/directory",
            "/acme/{provisioner}/new-account",
            "/acme/{provisioner}/new-order",
        } <= routes
        assert samples.get(("stepca_acme_orders_total", (("state", "pending"),))) == 1.0
    finally:
        ca.stop()


def test_eab_through_the_admin_api(tmp_path: Path) -> None:
    """With remote management on, `step ca acme eab add|list|remove` go through the admin API
    (smallstep's /admin/acme/eab paths): the key made there binds an ACME account once; a
    non-admin is refused."""
    from tests.admin.helpers import admin_credentials, call

    boss = "boss@example.com"
    pki = make_pki(tmp_path, extra_args=["--remote-management", "--admin-subject", boss])
    add_acme_provisioner(pki, requireEAB=True)
    ca = start_ca(pki, workers=2)
    login = ["--admin-subject", boss, "--admin-provisioner", "admin@example.com",
             "--admin-password-file", str(pki.password_file)]  # fmt: skip
    try:
        out = pki.step("ca", "acme", "eab", "add", PROVISIONER, "via-api", *login).stdout
        header, row = out.strip().splitlines()
        assert header.startswith("Key ID")
        key_id, key_b64 = row.split()[0], row.split()[2]
        hmac_key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))
        client = new_client(ca)
        ok = client.new_account(externalAccountBinding=binding(client, key_id, hmac_key))
        assert ok.status == 201, ok.body
        listed = pki.step("ca", "acme", "eab", "list", PROVISIONER, *login).stdout
        line = next(ln for ln in listed.splitlines() if ln.startswith(key_id))
        assert "*****" in line and "via-api" in line and ok.location.rsplit("/", 1)[1] in line
        dup = pki.step("ca", "acme", "eab", "add", PROVISIONER, "via-api", *login, check=False)
        assert "already exists" in assert_one_line_error(dup)
        nope = pki.step("ca", "acme", "eab", "add", "admin@example.com", *login, check=False)
        assert "not an ACME provisioner" in assert_one_line_error(nope)
        # refused for a certificate whose subject is no admin, and without a token
        outsider = admin_credentials(ca, pki, "outsider@example.com")
        assert call(ca, outsider, "GET", f"/admin/acme/eab/{PROVISIONER}")[0] == 401
        assert call(ca, None, "POST", f"/admin/acme/eab/{PROVISIONER}", {})[0] == 401
        assert "deleted" in pki.step("ca", "acme", "eab", "remove", PROVISIONER, key_id, *login).stdout
        gone = pki.step("ca", "acme", "eab", "remove", PROVISIONER, key_id, *login, check=False)
        assert "not found" in assert_one_line_error(gone)
    finally:
        ca.stop()


def test_eab_key_ids_never_start_with_a_dash() -> None:
    """They are typed as an argument (``step ca acme eab remove PROVISIONER KEY_ID``), where a
    leading dash would be read as an option (one id in 64 did before)."""
    from stepca.db.acme_records import new_eab_key_id

    ids = [new_eab_key_id() for _ in range(3000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and not i.startswith("-") for i in ids)
    assert any("-" in i for i in ids)  # still the whole base64url alphabet
