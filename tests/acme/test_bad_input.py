"""Bad input to every ACME endpoint: a problem document (4xx), never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepca.crypto.jose import b64url_encode
from tests.acme.client import AcmeClient

PAYLOADS: list[Any] = [
    [],
    "x",
    1,
    {"identifiers": "x"},
    {"identifiers": [1]},
    {"identifiers": [{"type": "dns", "value": 1}]},
    {"identifiers": [{"type": "dns", "value": "a.example.com"}], "notBefore": 5},
    {"identifiers": [{"type": "dns", "value": "a.example.com"}], "notAfter": "yesterday"},
    {"identifiers": [{"type": "dns", "value": "a.example.com"}], "replaces": "%%%"},
    {"identifiers": [{"type": "dns", "value": "a.example.com"}], "replaces": "AAAA.AAAA"},
    {"identifiers": [{"type": "dns", "value": "x" * 300}]},
    {"csr": "!!!"},
    {"csr": b64url_encode(b"junk")},
    {"csr": 5},
    {"certificate": "!!"},
    {"certificate": b64url_encode(b"junk")},
    {"certificate": 1, "reason": "x"},
    {"contact": "mailto:a@b"},
    {"contact": [1]},
    {"status": "valid"},
    {"externalAccountBinding": {"protected": "!!", "payload": "", "signature": ""}},
    {
        "externalAccountBinding": {
            "protected": b64url_encode(b'{"kid":"k"}'),
            "payload": "!!",
            "signature": "!!",
        }
    },
    {"externalAccountBinding": 1},
    {"protected": "x", "payload": "y", "signature": "z"},
    {"account": 1, "oldKey": 2},
]


@pytest.fixture
def urls(client: AcmeClient) -> list[str]:
    client.new_account()
    order = client.new_order("bad-input.example.com")
    body = order.json()
    authz = client.post(body["authorizations"][0], None).json()
    d = client.directory
    return [
        d["newAccount"], d["newOrder"], d["revokeCert"], d["keyChange"], client.kid, client.kid + "/orders",
        order.location, body["finalize"], body["authorizations"][0], authz["challenges"][0]["url"],
        client.directory["newOrder"].replace("new-order", "certificate/123"),
        client.directory["newOrder"].replace("new-order", "order/nope"),
        client.directory["newOrder"].replace("new-order", "authz/nope"),
        client.directory["newOrder"].replace("new-order", "challenge/nope/nope"),
    ]  # fmt: skip


def test_bad_payloads_are_problems(client: AcmeClient, urls: list[str]) -> None:
    for url in urls:
        for payload in PAYLOADS:
            resp = client.post(url, payload, use_jwk=url.endswith(("new-account", "revoke-cert")) or None)
            assert resp.status < 500, (url, payload, resp.status, resp.body)  # some are fine (ignored fields)
            if resp.status >= 400:
                assert resp.headers["Content-Type"].startswith("application/problem+json"), (url, payload)
            assert resp.nonce


def test_bad_bodies_are_problems(client: AcmeClient, urls: list[str]) -> None:
    bodies = [b"", b"null", b"[]", b'{"protected": 1}', json.dumps({"protected": "!", "payload": "!", "signature": "!"}).encode(),
              json.dumps({"protected": b64url_encode(b"[]"), "payload": "", "signature": ""}).encode(), b"\xff\xfe"]  # fmt: skip
    for url in urls:
        for body in bodies:
            resp = client.http("POST", url, body)
            assert 400 <= resp.status < 500, (url, body, resp.status, resp.body)
        assert client.http("GET", url).status == 405
    renewal = client.directory["renewalInfo"]
    for cert_id in ("x", "!!.!!", "AA.", "AA.AA"):
        assert 400 <= client.http("GET", f"{renewal}/{cert_id}").status < 500
