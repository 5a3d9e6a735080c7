"""The /ssh/* API against a real step-ca: bodies as smallstep's, the SSH rules, and bad input."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    SSHCertificate,
    SSHCertificateBuilder,
    SSHCertificateType,
)

from stepca.cli._ca import CAContext
from stepca.cli.ssh import sshpop_token
from stepca.crypto.keys import PrivateKey
from stepca.crypto.sshcert import blob_from_line, blob_type, certificate_blob, certificate_from_blob, key_blob
from tests.helpers import FIXTURES, CAProcess
from tests.ssh.conftest import SSHCA, new_key

USER_EXTENSIONS = [
    b"permit-X11-forwarding",
    b"permit-agent-forwarding",
    b"permit-port-forwarding",
    b"permit-pty",
    b"permit-user-rc",
]


def cert_of(body: dict[str, Any], field: str = "crt") -> SSHCertificate:
    return certificate_from_blob(base64.b64decode(body[field]))


def ca_key(ssh_ca: SSHCA, kind: str) -> bytes:
    return blob_from_line((ssh_ca.pki.step_path / "certs" / f"ssh_{kind}_ca_key.pub").read_bytes())


def issue(ssh_ca: SSHCA, subject: str, key: PrivateKey | None = None, **token_args: Any) -> SSHCertificate:
    status, body = ssh_ca.sign(key or new_key(), ssh_ca.token(subject, **token_args))
    assert status == 201, body
    return cert_of(body)


def pop_token(ssh_ca: SSHCA, cert: SSHCertificate, key: PrivateKey, endpoint: str, subject: str = "") -> str:
    ctx = CAContext(ca_url=ssh_ca.ca.url, root=str(ssh_ca.pki.root))
    return sshpop_token(
        ctx,
        provisioner="sshpop",
        endpoint=endpoint,
        subject=subject or str(cert.serial),
        cert_blob=certificate_blob(cert),
        key=key,
    )


# ------------------------------------------------------------------------------ read-only


def test_roots_and_federation_bodies_as_smallstep(ssh_ca: SSHCA) -> None:
    fixture = json.loads((FIXTURES / "api" / "GET_ssh_roots.json").read_text())
    user, host = (base64.b64encode(ca_key(ssh_ca, k)).decode() for k in ("user", "host"))
    for path in ("/ssh/roots", "/1.0/ssh/federation"):
        req = urllib.request.Request(ssh_ca.ca.url + path)
        with urllib.request.urlopen(req, context=ssh_ca.ca.ssl_context(), timeout=10) as resp:
            raw = resp.read().decode()
        # same layout as the reference body: keys in the same order, compact JSON
        assert raw == json.dumps({"userKey": [user], "hostKey": [host]}, separators=(",", ":"))
    assert list(fixture) == ["userKey", "hostKey"]
    assert json.loads((FIXTURES / "api" / "GET_ssh_federation.json").read_text()) == fixture
    assert blob_type(base64.b64decode(user)) == blob_type(base64.b64decode(fixture["userKey"][0]))


def test_ssh_endpoints_of_a_ca_without_ssh(session_ca: CAProcess) -> None:
    status, body = session_ca.request("GET", "/ssh/roots")
    assert (status, body["status"]) == (404, 404)
    assert "no keys found" in body["message"]
    status, body = session_ca.request("POST", "/1.0/ssh/sign", {"publicKey": "AAAA", "ott": "x"})
    assert status == 501, body


# ------------------------------------------------------------------------------ sign


def test_user_certificate_defaults(ssh_ca: SSHCA) -> None:
    key = new_key()
    status, body = ssh_ca.sign(key, ssh_ca.token("alice@example.com"))
    assert status == 201 and list(body) == ["crt"], body
    cert = cert_of(body)
    assert cert.type == SSHCertificateType.USER
    assert cert.key_id == b"alice@example.com"
    assert cert.valid_principals == [b"alice", b"alice@example.com"]
    assert list(cert.extensions) == USER_EXTENSIONS
    assert cert.critical_options == {}
    # default 16h, backdated one minute (the fixture certificate shows the same 16h1m window)
    assert cert.valid_before - cert.valid_after == 16 * 3600 + 60
    assert abs(cert.valid_after - (time.time() - 60)) < 10
    assert 0 < cert.serial < 2**64
    assert key_blob(cert.public_key()) == key_blob(key)  # type: ignore[arg-type]
    assert key_blob(cert.signature_key()) == ca_key(ssh_ca, "user")  # type: ignore[arg-type]
    cert.verify_cert_signature()


def test_host_certificate_defaults(ssh_ca: SSHCA) -> None:
    cert = issue(ssh_ca, "web.example.com", host=True)
    assert cert.type == SSHCertificateType.HOST
    assert cert.valid_principals == [b"web.example.com"]
    assert cert.extensions == {} and cert.critical_options == {}
    assert cert.valid_before - cert.valid_after == 30 * 24 * 3600 + 60
    assert key_blob(cert.signature_key()) == ca_key(ssh_ca, "host")  # type: ignore[arg-type]


def test_token_validity_and_principals(ssh_ca: SSHCA) -> None:
    cert = issue(ssh_ca, "ops@example.com", principals=("deploy", "admin"), valid_before="2h")
    assert cert.valid_principals == [b"deploy", b"admin"]
    assert cert.valid_before - cert.valid_after == 2 * 3600 + 60
    cert = issue(ssh_ca, "ops@example.com", valid_after="-10m", valid_before="1h")
    assert cert.valid_before - cert.valid_after == 70 * 60


@pytest.mark.parametrize(
    ("token_args", "body", "status", "message"),
    [
        (
            {"valid_before": "25h"},
            {},
            403,
            "greater than maximum accepted duration for selected provisioner of 24h1m0s",
        ),
        (
            {"host": True, "valid_before": "721h"},
            {},
            403,
            "maximum accepted duration for selected provisioner of 720h1m0s",
        ),
        (
            {"valid_before": "2m"},
            {},
            403,
            "less than minimum accepted duration for selected provisioner of 5m0s",
        ),
        ({}, {"validBefore": "25h"}, 403, "greater than maximum accepted duration"),
        ({"valid_after": "-2h", "valid_before": "-1h"}, {}, 400, "validBefore cannot be in the past"),
        (
            {"valid_after": "2h", "valid_before": "1h"},
            {},
            400,
            "validAfter cannot be greater than validBefore",
        ),
        ({}, {"validBefore": "soon"}, 400, "validBefore must be an RFC 3339 time or a duration"),
        ({}, {"certType": "host"}, 403, "ssh certificate type does not match - got host, want user"),
        (
            {},
            {"principals": ["root"]},
            403,
            "principals does not match - got [root], want [alice alice@example.com]",
        ),
        ({}, {"keyID": "mallory"}, 403, "key id does not match - got mallory, want alice@example.com"),
        ({"valid_before": "1h"}, {"validBefore": "2h"}, 403, "validBefore does not match - got 2h, want 1h"),
    ],
)
def test_sign_rules(
    ssh_ca: SSHCA, token_args: dict[str, Any], body: dict[str, Any], status: int, message: str
) -> None:
    got, resp = ssh_ca.sign(new_key(), ssh_ca.token("alice@example.com", **token_args), **body)
    assert (got, resp["status"]) == (status, status), resp
    assert message in resp["message"]


def test_request_may_narrow_principals_and_repeat_matching_values(ssh_ca: SSHCA) -> None:
    token = ssh_ca.token("alice@example.com", valid_before="3h")
    status, body = ssh_ca.sign(
        new_key(), token, certType="user", keyID="alice@example.com", principals=["ALICE"], validBefore="3h"
    )
    assert status == 201, body
    assert cert_of(body).valid_principals == [b"alice", b"alice@example.com"]


def test_enable_ssh_ca_false_is_refused(ssh_ca: SSHCA) -> None:
    status, body = ssh_ca.sign(new_key(), ssh_ca.token("alice@example.com", provisioner="no-ssh"))
    assert status == 401, body
    assert "sshCA is disabled for jwk provisioner 'no-ssh'" in body["message"]


@pytest.mark.parametrize(
    ("token_args", "message"),
    [
        ({"step": {}}, "jwk token must be an SSH provisioning token"),
        ({"endpoint": "sign"}, "invalid audience claim (aud)"),
        ({"step": {"step": {"ssh": {"principals": "root"}}}}, "principals must be a list"),
    ],
)
def test_tokens_that_are_not_ssh_sign_tokens(ssh_ca: SSHCA, token_args: dict[str, Any], message: str) -> None:
    status, body = ssh_ca.sign(new_key(), ssh_ca.token("alice@example.com", **token_args))
    assert status == 401, body
    assert message in body["message"]


def test_token_used_twice_is_refused(ssh_ca: SSHCA) -> None:
    token = ssh_ca.token("alice@example.com")
    assert ssh_ca.sign(new_key(), token)[0] == 201
    status, body = ssh_ca.sign(new_key(), token)
    assert status == 401 and "token already used" in body["message"], body


def test_add_user_certificate(ssh_ca: SSHCA) -> None:
    add_user_key = new_key()
    status, body = ssh_ca.sign(
        new_key(),
        ssh_ca.token("carol@example.com", principals=("carol",)),
        addUserPublicKey=base64.b64encode(key_blob(add_user_key)).decode(),
    )
    assert status == 201 and set(body) == {"crt", "addUserCrt"}, body
    main, extra = cert_of(body), cert_of(body, "addUserCrt")
    assert extra.key_id == b"carol-provisioner"
    assert extra.valid_principals == [b"provisioner"]
    assert extra.critical_options == {b"force-command": b"sudo useradd -m carol; nc -q0 localhost 22"}
    assert (extra.valid_after, extra.valid_before) == (main.valid_after, main.valid_before)
    assert key_blob(extra.public_key()) == key_blob(add_user_key)  # type: ignore[arg-type]


def _rsa_1024() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return base64.b64encode(key_blob(key)).decode()


def _some_certificate() -> str:
    return (FIXTURES / "leaf" / "id_alice-cert.pub").read_text().split()[1]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "error decoding json"),
        ({"publicKey": None}, 400, "missing or empty publicKey"),
        ({"publicKey": "!!!"}, 400, "error decoding publicKey: invalid base64"),
        ({"publicKey": base64.b64encode(b"garbage").decode()}, 400, "error parsing publicKey"),
        ({"publicKey": _some_certificate()}, 400, "expected a public key, got a certificate"),
        ({"publicKey": _rsa_1024()}, 403, "ssh certificate key must be at least 2048 bits"),
        ({"certType": "admin"}, 400, "unknown certType admin"),
        ({"ott": ""}, 400, "missing or empty ott"),
        ({"ott": "abc.def"}, 401, "invalid token"),
        ({"principals": [""]}, 400, "principals cannot contain empty values"),
        ({"principals": "root"}, 400, "principals must be a list of strings"),
        ({"addUserPublicKey": "%%%"}, 400, "error decoding addUserPublicKey"),
    ],
)
def test_sign_bad_input(ssh_ca: SSHCA, body: dict[str, Any] | bytes, status: int, message: str) -> None:
    if isinstance(body, dict):
        full = {
            "publicKey": base64.b64encode(key_blob(new_key())).decode(),
            "ott": ssh_ca.token("alice@example.com"),
        }
        body = {**full, **body}
    got, resp = ssh_ca.ca.request("POST", "/1.0/ssh/sign", body)
    assert (got, resp["status"]) == (status, status), resp
    assert message in resp["message"]


# ------------------------------------------------------------------------------ renew / rekey / revoke


def test_renew_and_rekey_with_sshpop(ssh_ca: SSHCA) -> None:
    key = new_key()
    old = issue(ssh_ca, "db.example.com", key=key, host=True, valid_before="48h")
    token = pop_token(ssh_ca, old, key, "ssh/renew")
    status, body = ssh_ca.ca.request("POST", "/1.0/ssh/renew", {"ott": token})
    assert status == 201 and list(body) == ["crt"], body
    new = cert_of(body)
    assert new.serial != old.serial
    assert (new.key_id, new.valid_principals, new.type) == (old.key_id, old.valid_principals, old.type)
    assert key_blob(new.public_key()) == key_blob(key)  # type: ignore[arg-type]
    assert new.valid_before - new.valid_after == old.valid_before - old.valid_after
    assert abs(new.valid_after - (time.time() - 60)) < 10
    status, body = ssh_ca.ca.request("POST", "/1.0/ssh/renew", {"ott": token})
    assert status == 401 and "token already used" in body["message"], body

    new_key_ = new_key()
    rekey = {
        "ott": pop_token(ssh_ca, old, key, "ssh/rekey"),
        "publicKey": base64.b64encode(key_blob(new_key_)).decode(),
    }
    status, body = ssh_ca.ca.request("POST", "/1.0/ssh/rekey", rekey)
    assert status == 201, body
    assert key_blob(cert_of(body).public_key()) == key_blob(new_key_)  # type: ignore[arg-type]
    assert cert_of(body).valid_principals == [b"db.example.com"]


def test_sshpop_refusals(ssh_ca: SSHCA) -> None:
    user_key = new_key()
    user_cert = issue(ssh_ca, "alice@example.com", key=user_key)
    status, body = ssh_ca.ca.request(
        "POST", "/ssh/renew", {"ott": pop_token(ssh_ca, user_cert, user_key, "ssh/renew")}
    )
    assert status == 400 and "must be a host ssh certificate" in body["message"], body

    key = new_key()
    cert = issue(ssh_ca, "a.example.com", key=key, host=True)
    status, body = ssh_ca.ca.request(
        "POST", "/ssh/renew", {"ott": pop_token(ssh_ca, cert, new_key(), "ssh/renew")}
    )
    assert status == 401 and "signature verification failed" in body["message"], body

    rogue = ec.generate_private_key(ec.SECP256R1())
    forged = (
        SSHCertificateBuilder()
        .public_key(key.public_key())
        .serial(cert.serial)
        .type(SSHCertificateType.HOST)
        .key_id(b"a.example.com")
        .valid_principals([b"a.example.com"])
        .valid_after(int(time.time()) - 60)
        .valid_before(int(time.time()) + 3600)
        .sign(rogue)
    )
    for endpoint in ("ssh/renew", "ssh/revoke"):
        body_ = {"ott": pop_token(ssh_ca, forged, key, endpoint), "serial": str(cert.serial), "passive": True}
        status, body = ssh_ca.ca.request("POST", f"/{endpoint}", body_)
        assert status == 401 and "could not find valid ca signer" in body["message"], body

    status, body = ssh_ca.ca.request("POST", "/ssh/renew", {"ott": ssh_ca.token("x", endpoint="ssh/renew")})
    assert status == 401 and "cannot authorize SSH certificate renewal" in body["message"], body


def test_revoke_then_renew_is_refused(ssh_ca: SSHCA) -> None:
    key = new_key()
    cert = issue(ssh_ca, "gone.example.com", key=key, host=True)
    revoke = {"serial": str(cert.serial), "ott": pop_token(ssh_ca, cert, key, "ssh/revoke"), "passive": True}
    assert ssh_ca.ca.request("POST", "/1.0/ssh/revoke", revoke) == (200, {"status": "ok"})
    status, body = ssh_ca.ca.request(
        "POST", "/1.0/ssh/renew", {"ott": pop_token(ssh_ca, cert, key, "ssh/renew")}
    )
    assert (
        status == 401 and f"certificate with serial number {cert.serial} has been revoked" in body["message"]
    )
    again = {**revoke, "ott": ssh_ca.token(str(cert.serial), endpoint="ssh/revoke")}
    status, body = ssh_ca.ca.request("POST", "/1.0/ssh/revoke", again)
    assert status == 400 and "is already revoked" in body["message"], body


def test_revoke_with_a_provisioner_token(ssh_ca: SSHCA) -> None:
    cert = issue(ssh_ca, "bob@example.com")
    serial = str(cert.serial)
    wrong = {"serial": serial, "ott": ssh_ca.token("12345", endpoint="ssh/revoke"), "passive": True}
    status, body = ssh_ca.ca.request("POST", "/1.0/ssh/revoke", wrong)
    assert status == 401 and "does not match the serial number" in body["message"], body
    ok = {
        "serial": serial,
        "ott": ssh_ca.token(serial, endpoint="ssh/revoke"),
        "reasonCode": 1,
        "passive": True,
    }
    assert ssh_ca.ca.request("POST", "/1.0/ssh/revoke", ok) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"ott": "x", "passive": True}, 400, "missing serial"),
        ({"serial": "1", "ott": "x", "reasonCode": 11, "passive": True}, 400, "reasonCode out of bounds"),
        ({"serial": "1", "ott": "x", "passive": False}, 501, "non-passive revocation not implemented"),
        ({"serial": "1", "passive": True}, 400, "missing or empty ott"),
        ({"serial": "x1", "ott": "a.b.c", "passive": True}, 400, "invalid serial number"),
    ],
)
def test_revoke_bad_input(ssh_ca: SSHCA, body: dict[str, Any], status: int, message: str) -> None:
    got, resp = ssh_ca.ca.request("POST", "/1.0/ssh/revoke", body)
    assert got == status and message in resp["message"], resp


# ------------------------------------------------------------------------------ config and hosts


def test_config_templates(ssh_ca: SSHCA) -> None:
    status, body = ssh_ca.ca.request(
        "POST",
        "/ssh/config",
        {"type": "user", "data": {"StepPath": "/home/a/.step", "User": "a", "GOOS": "linux"}},
    )
    assert status == 200 and list(body) == ["userTemplates"], body
    outputs = {t["name"]: t for t in body["userTemplates"]}
    assert list(outputs) == ["config.tpl", "step_includes.tpl", "step_config.tpl", "known_hosts.tpl"]
    host_line = base64.b64encode(ca_key(ssh_ca, "host")).decode()
    known = outputs["known_hosts.tpl"]
    assert (known["type"], known["path"], known["comment"]) == ("file", "ssh/known_hosts", "#")
    assert (
        base64.b64decode(known["content"]).decode() == f"@cert-authority * ecdsa-sha2-nistp256 {host_line}\n"
    )
    # a client that does not send the template version gets step_includes.tpl as a plain file
    assert (outputs["step_includes.tpl"]["type"], outputs["step_includes.tpl"]["path"]) == (
        "file",
        "ssh/includes",
    )

    status, body = ssh_ca.ca.request("POST", "/ssh/config", {"type": "host", "data": {"Key": "k"}})
    assert status == 400 and "required variable 'Certificate' is missing" in body["message"], body
    status, body = ssh_ca.ca.request("POST", "/ssh/config", {"type": "router"})
    assert status == 400 and "unsupported type router" in body["message"], body


def test_check_host_and_hosts(ssh_ca: SSHCA) -> None:
    name = f"h{time.monotonic_ns()}.example.com"
    key = new_key()
    cert = issue(ssh_ca, name, key=key, host=True)

    def exists(principal: str) -> bool:
        status, body = ssh_ca.ca.request("POST", "/ssh/check-host", {"type": "host", "principal": principal})
        assert status == 200, body
        return bool(body["exists"])

    def hosts() -> list[dict[str, Any]]:
        status, body = ssh_ca.ca.request("GET", "/ssh/hosts")
        assert status == 200, body
        return list(body["hosts"])

    assert exists(name) and not exists("never.example.com")
    assert {"hid": "", "host_tags": None, "hostname": name} in hosts()
    revoke = {"serial": str(cert.serial), "ott": pop_token(ssh_ca, cert, key, "ssh/revoke"), "passive": True}
    assert ssh_ca.ca.request("POST", "/ssh/revoke", revoke)[0] == 200
    assert name not in [h["hostname"] for h in hosts()]  # only valid certificates are listed
    assert exists(name)  # the host is still one the CA has issued for
    status, body = ssh_ca.ca.request("POST", "/ssh/check-host", {"type": "user", "principal": "a"})
    assert status == 400 and "unsupported type user" in body["message"]
    status, body = ssh_ca.ca.request("POST", "/ssh/check-host", {"type": "host"})
    assert status == 400 and "missing or empty principal" in body["message"]
