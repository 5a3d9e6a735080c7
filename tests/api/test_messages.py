"""The wire messages: round trips, smallstep's bodies byte for byte, and every refusal message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from stepca import messages as m
from stepca.errors import BadRequest, StepError
from stepca.reasons import Reason

FIXTURES = Path(__file__).parent.parent / "fixtures" / "step-0.19" / "api"

ROUND_TRIPS: list[Any] = [
    m.ErrorResponse(400, "The request could not be completed: missing serial."),
    m.HealthResponse(),
    m.VersionResponse("0.19.0"),
    m.RootResponse("PEM"),
    m.RootsResponse(("A", "B")),
    m.ProvisionersResponse(({"type": "JWK", "name": "a"},), "next"),
    m.ProvisionerKeyResponse("jwe"),
    m.SignRequest("CSR", "ott"),
    m.SignRequest("CSR", "ott", "5m", "1h", {"x": 1}),
    m.SignResponse("LEAF", "INT", ("LEAF", "INT"), {"minVersion": 1.2}),
    m.SignResponse("LEAF", "INT", ("LEAF", "INT")),
    m.RekeyRequest("CSR"),
    m.RevokeRequest("123", "ott", Reason.KEY_COMPROMISE, "lost", True),
    m.RevokeResponse(),
    m.SSHSignRequest(b"key", "ott", "user", "", ("bob",), "1m", "2h", b"add"),
    m.SSHSignResponse(b"crt", b"add"),
    m.SSHSignResponse(b"crt"),
    m.SSHRenewRequest("ott"),
    m.SSHRekeyRequest("ott", b"key"),
    m.SSHRevokeRequest("9", "ott", 1, "gone", True),
    m.SSHKeysResponse((b"u",), (b"h1", b"h2")),
    m.SSHConfigRequest("host", {"GOOS": "linux"}),
    m.SSHConfigResponse(host_templates=(m.SSHTemplateOutput("n", "snippet", "p", "#", b"c"),)),
    m.SSHCheckHostRequest("h.example.com"),
    m.SSHCheckHostResponse(True),
    m.SSHHostsResponse((m.SSHHost("a.example.com"),)),
]


@pytest.mark.parametrize("message", ROUND_TRIPS, ids=lambda x: type(x).__name__)
def test_round_trip(message: Any) -> None:
    wire = orjson.loads(orjson.dumps(message.to_json()))
    assert type(message).from_json(wire) == message


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("GET_health.json", m.HealthResponse),
        ("GET_version.json", m.VersionResponse),
        ("GET_root_sha.json", m.RootResponse),
        ("GET_roots.json", m.RootsResponse),
        ("GET_federation.json", m.RootsResponse),
        ("GET_provisioners.json", m.ProvisionersResponse),
        ("GET_provisioners_kid_encrypted-key.json", m.ProvisionerKeyResponse),
        ("GET_ssh_roots.json", m.SSHKeysResponse),
        ("GET_ssh_federation.json", m.SSHKeysResponse),
        ("POST_sign_201.json", m.SignResponse),
        ("POST_renew_mtls_201.json", m.SignResponse),
        ("POST_renew_no_client_cert.json", m.ErrorResponse),
        ("POST_sign_san_mismatch.json", m.ErrorResponse),
    ],
)
def test_smallstep_bodies_byte_for_byte(name: str, cls: Any) -> None:
    raw = (FIXTURES / name).read_bytes().strip()
    assert orjson.dumps(cls.from_json(orjson.loads(raw)).to_json()) == raw


BAD: list[tuple[Any, object, str]] = [
    (m.SignRequest, [], "error decoding json"),
    (m.SignRequest, {"csr": "x", "ott": 5}, "ott must be a string"),
    (m.SignRequest, {"csr": 5}, "invalid certificate request: not a PEM CERTIFICATE REQUEST"),
    (m.SignRequest, {"csr": "x", "notBefore": 5}, "notBefore must be an RFC 3339 time or a duration"),
    (m.SignRequest, {"csr": "x", "notAfter": []}, "notAfter must be an RFC 3339 time or a duration"),
    (m.RekeyRequest, {"csr": 1}, "invalid certificate request: not a PEM CERTIFICATE REQUEST"),
    (m.RevokeRequest, {"serial": ""}, "missing serial"),
    (m.RevokeRequest, {"serial": 5}, "serial must be a string"),
    (m.RevokeRequest, {"serial": "1", "reasonCode": "one"}, "reasonCode must be an integer"),
    (m.RevokeRequest, {"serial": "1", "reasonCode": True}, "reasonCode must be an integer"),
    (m.RevokeRequest, {"serial": "1", "reasonCode": 11}, "reasonCode out of bounds"),
    (m.RevokeRequest, {"serial": "1", "reasonCode": 7}, "reasonCode 7 is not a valid RFC 5280 CRLReason"),
    (m.RevokeRequest, {"serial": "1", "passive": "yes"}, "passive must be a boolean"),
    (m.RevokeRequest, {"serial": "1", "reason": 3}, "reason must be a string"),
    (m.SSHSignRequest, {"certType": "root"}, "unknown certType root"),
    (m.SSHSignRequest, {"publicKey": "%%"}, "error decoding publicKey: invalid base64"),
    (m.SSHSignRequest, {}, "missing or empty publicKey"),
    (m.SSHSignRequest, {"publicKey": "AAAA"}, "missing or empty ott"),
    (
        m.SSHSignRequest,
        {"publicKey": "AAAA", "ott": "t", "principals": "a"},
        "principals must be a list of strings",
    ),
    (
        m.SSHSignRequest,
        {"publicKey": "AAAA", "ott": "t", "principals": [""]},
        "principals cannot contain empty values",
    ),
    (m.SSHRenewRequest, {}, "missing or empty ott"),
    (m.SSHRekeyRequest, {"ott": "t"}, "missing or empty public key"),
    (m.SSHRevokeRequest, {"ott": "t"}, "missing serial"),
    (m.SSHRevokeRequest, {"serial": "1", "ott": "t", "reasonCode": 11}, "reasonCode out of bounds"),
    (m.SSHRevokeRequest, {"serial": "1", "passive": True}, "missing or empty ott"),
    (m.SSHConfigRequest, {"type": "root"}, "unsupported type root"),
    (m.SSHConfigRequest, {"data": {"a": 1}}, "data must be an object of strings"),
    (m.SSHCheckHostRequest, {"type": "user"}, "unsupported type user"),
    (m.SSHCheckHostRequest, {"type": "host"}, "missing or empty principal"),
    (m.SignResponse, {"ca": "x"}, "missing crt"),
    (m.SignResponse, {"crt": "x", "tlsOptions": 1}, "tlsOptions must be an object"),
    (m.ProvisionersResponse, {"provisioners": [1]}, "provisioners must be a list of objects"),
    (m.SSHSignResponse, {}, "missing crt"),
    (m.SSHCheckHostResponse, {}, "exists must be a boolean"),
    (m.ErrorResponse, {"status": "400"}, "status must be an integer"),
]


@pytest.mark.parametrize(("cls", "doc", "detail"), BAD, ids=[f"{c.__name__}-{d}" for c, _, d in BAD])
def test_refusals(cls: Any, doc: object, detail: str) -> None:
    with pytest.raises(BadRequest) as info:
        cls.from_json(doc)
    assert info.value.detail == detail


def test_ssh_revoke_absent_passive_reads_false_and_x509_true() -> None:
    assert m.SSHRevokeRequest.from_json({"serial": "1", "ott": "t"}).passive is False
    assert m.RevokeRequest.from_json({"serial": "1"}).passive is True


def test_sign_request_sends_what_step_sends() -> None:
    assert m.SignRequest("C", "T").to_json() == {"csr": "C", "ott": "T"}
    assert m.RevokeRequest("1").to_json() == {
        "serial": "1",
        "ott": "",
        "reasonCode": 0,
        "reason": "",
        "passive": True,
    }


def test_error_body_is_the_step_error_message() -> None:
    exc = BadRequest("missing serial")
    body = m.ErrorResponse(exc.status, exc.message).to_json()
    assert (
        orjson.dumps(body)
        == b'{"status":400,"message":"The request could not be completed: missing serial."}'
    )
    assert isinstance(exc, StepError)


def test_importing_messages_loads_no_heavy_module() -> None:
    code = (
        "import sys, stepca.messages, stepca.client.http; "
        "print(sorted(m for m in ('aiohttp', 'pydantic', 'cryptography', 'orjson') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
