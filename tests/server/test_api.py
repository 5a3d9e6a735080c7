"""Read-only API endpoints, wire-compatible with smallstep's (bodies as in the fixtures)."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from stepca.crypto.pem import certificate_ders, sha256_fingerprint
from tests.helpers import FIXTURES, CAProcess


@pytest.mark.parametrize("prefix", ["", "/1.0"])
def test_health_and_version(session_ca: CAProcess, prefix: str) -> None:
    assert session_ca.request("GET", f"{prefix}/health") == (200, {"status": "ok"})
    status, body = session_ca.request("GET", f"{prefix}/version")
    assert status == 200
    assert set(body) == set(json.loads((FIXTURES / "api" / "GET_version.json").read_text()))


def test_roots_root_and_federation(session_ca: CAProcess) -> None:
    root_pem = session_ca.pki.root.read_text()
    fp = sha256_fingerprint(certificate_ders(root_pem.encode())[0])
    assert session_ca.request("GET", "/roots") == (200, {"crts": [root_pem]})
    assert session_ca.request("GET", f"/root/{fp}") == (200, {"ca": root_pem})
    assert session_ca.request("GET", f"/root/{fp.upper()}")[0] == 200
    status, body = session_ca.request("GET", "/root/" + "0" * 64)
    assert status == 404
    assert body["status"] == 404 and "not found" in body["message"]
    assert session_ca.request("GET", "/federation") == (200, {"crts": [root_pem]})
    status, pem = session_ca.request("GET", "/roots.pem")
    assert status == 200 and pem.decode() == root_pem


def test_intermediates(session_ca: CAProcess) -> None:
    inter = session_ca.pki.intermediate.read_text()
    assert session_ca.request("GET", "/intermediates") == (200, {"crts": [inter]})
    status, pem = session_ca.request("GET", "/1.0/intermediates.pem")
    assert status == 200 and pem.decode() == inter


def test_provisioners_listing_and_encrypted_key(session_ca: CAProcess) -> None:
    prov = session_ca.pki.provisioner()
    status, body = session_ca.request("GET", "/provisioners")
    assert status == 200
    assert body == {"provisioners": [prov], "nextCursor": ""}
    kid = prov["key"]["kid"]
    assert session_ca.request("GET", f"/provisioners/{kid}/encrypted-key") == (
        200,
        {"key": prov["encryptedKey"]},
    )
    status, body = session_ca.request("GET", "/provisioners/nope/encrypted-key")
    assert status == 404 and body["status"] == 404


def test_provisioner_paging(pki, ca_factory) -> None:  # type: ignore[no-untyped-def]
    from stepca.crypto import jose
    from stepca.crypto.keys import generate_private_key

    def add(cfg: dict) -> None:
        for i in range(5):
            key = generate_private_key()
            cfg["authority"]["provisioners"].append(
                {"type": "JWK", "name": f"p{i}", "key": jose.public_jwk(key)}
            )

    pki.edit_config(add)
    ca = ca_factory(pki, workers=1)
    seen = []
    cursor = ""
    for _ in range(10):
        status, body = ca.request("GET", f"/provisioners?limit=2&cursor={cursor}")
        assert status == 200
        assert len(body["provisioners"]) <= 2
        seen += [p["name"] for p in body["provisioners"]]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert seen == ["admin@example.com", "p0", "p1", "p2", "p3", "p4"]
    assert ca.request("GET", "/provisioners?limit=abc")[0] == 400


def test_unknown_path_is_404_json(session_ca: CAProcess) -> None:
    status, body = session_ca.request("GET", "/nope")
    assert status == 404
    assert body == {"status": 404, "message": "The requested resource could not be found."}
    assert session_ca.request("DELETE", "/1.0/sign")[0] in (404, 405)


def test_tls_server_certificate(session_ca: CAProcess) -> None:
    import socket

    ctx = session_ca.ssl_context()
    with (
        socket.create_connection(("127.0.0.1", session_ca.pki.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 23 * 3600 < lifetime.total_seconds() <= 24 * 3600 + 60
