"""linkedca JSON (smallstep's step, protojson or Go's encoding/json) ⇄ the ca.json provisioner
documents the registry loads."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from stepca.admin import documents
from stepca.config import parse_ca_config
from stepca.errors import BadRequest
from tests.admin.helpers import jwk_document


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def loads(doc: dict[str, Any]) -> None:
    """The document passes the ca.json models."""
    parse_ca_config(
        {
            "root": "r",
            "crt": "c",
            "key": "k",
            "address": ":1",
            "dnsNames": ["x"],
            "authority": {"provisioners": [doc]},
        }
    )


def test_jwk_round_trip_with_claims_and_templates() -> None:
    doc, _ = jwk_document("ops")
    doc["encryptedKey"] = "eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJlbmMiOiJBMjU2R0NNIn0.a.b.c.d"
    doc["claims"] = {"maxTLSCertDuration": "4h", "enableSSHCA": True, "minUserSSHCertDuration": "1m"}
    doc["options"] = {"x509": {"template": '{"subject": {{ toJson .Subject }}}', "templateData": {"a": 1}}}
    wire = documents.to_linkedca(doc, "id-1")
    assert wire["id"] == "id-1" and wire["type"] == "JWK"
    assert json.loads(base64.b64decode(wire["details"]["JWK"]["publicKey"])) == doc["key"]
    assert wire["claims"]["x509"]["durations"] == {"max": "4h"}
    assert wire["claims"]["ssh"] == {"enabled": True, "userDurations": {"min": "1m"}}
    back = documents.from_linkedca(wire)
    assert back == doc
    loads(back)


@pytest.mark.parametrize("style", ["protojson", "go"])
def test_smallstep_bodies(style: str) -> None:
    doc, _ = jwk_document("ops")
    key = b64(json.dumps(doc["key"]).encode())
    if style == "protojson":
        body: dict[str, Any] = {"type": "JWK", "name": "ops", "details": {"JWK": {"publicKey": key}}}
    else:  # field names and enum numbers
        body = {"type": 1, "name": "ops", "authority_id": "", "details": {"JWK": {"public_key": key}}}
    assert documents.to_document(body) == {"type": "JWK", "name": "ops", "key": doc["key"]}


def test_oidc_and_acme() -> None:
    oidc = {
        "type": "OIDC",
        "name": "google",
        "details": {
            "OIDC": {
                "clientId": "cid",
                "clientSecret": "sec",
                "configurationEndpoint": "https://accounts.example.com/.well-known/openid-configuration",
                "admins": ["a@example.com"],
                "domains": ["example.com"],
            }
        },
    }
    doc = documents.from_linkedca(oidc)
    assert doc["clientID"] == "cid" and doc["admins"] == ["a@example.com"]
    loads(doc)
    assert documents.from_linkedca(documents.to_linkedca(doc, "i")) == doc
    acme = {
        "type": "ACME",
        "name": "acme",
        "details": {"ACME": {"forceCn": True, "challenges": ["HTTP_01", "DNS_01"]}},
    }
    doc = documents.from_linkedca(acme)
    assert doc == {"type": "ACME", "name": "acme", "forceCN": True, "challenges": ["http-01", "dns-01"]}
    assert documents.to_linkedca(doc, "i")["details"]["ACME"]["challenges"] == ["HTTP_01", "DNS_01"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "NOPE", "name": "x", "details": {}}, "type"),
        ({"type": "JWK", "name": "", "details": {}}, "name"),
        (
            {"type": "JWK", "name": "x", "details": {"JWK": {"publicKey": "!!!notjson"}}},
            "details.JWK.publicKey",
        ),
        ({"name": "x"}, "type"),
        ([], "object"),
    ],
)
def test_bad_bodies_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(BadRequest) as err:
        documents.to_document(body)
    assert field in str(err.value)


def test_admin_types() -> None:
    assert documents.admin_type("SUPER_ADMIN") == "SUPER_ADMIN"
    assert documents.admin_type(1) == "ADMIN" and documents.admin_type(2) == "SUPER_ADMIN"
    assert documents.admin_type(0) is None and documents.admin_type(True) is None
    assert documents.admin_type("root") is None
