"""The OpenAPI description (``GET /openapi.json``, ``stepca.api.openapi``): valid OpenAPI 3.1, in
step with the router, and a schemathesis run against a live CA finds no 5xx and no answer that
the description does not allow (docs/api.md)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from stepca.api.openapi import PREFIXES, SpecError, build, fragments, merge
from stepca.api.routes import build_app
from stepca.crypto.pem import certificate_ders, sha256_fingerprint
from tests.api.conftest import LiveCA, plain_get
from tests.helpers import BIN

REPO = Path(__file__).resolve().parents[2]
ST_CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
#: what the run checks: no 5xx (but the documented 501), bodies, statuses, content types and
#: headers as described, and 405 with a right ``Allow`` for a method a path does not serve
CHECKS = ",".join(
    [
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "unsupported_method",
        "allow_header_conformance",
    ]
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class _NoAuthority:
    """The router is inspected, never called: no authority behind it."""

    @property
    def current(self) -> Any:
        raise AssertionError("not served")

    def log_request(self, *args: object) -> None: ...

    def log_error(self, *args: object) -> None: ...


def _served(insecure: bool = False) -> set[tuple[str, str]]:
    app = build_app(_NoAuthority(), insecure=insecure)  # type: ignore[arg-type]
    out = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        if route.method == "*":  # the JSON 404 for everything else
            assert resource.canonical == "/{tail}"
            continue
        if resource.canonical.startswith("/dashboard"):  # HTML pages (stepca.web), no API
            continue
        out.add((route.method, resource.canonical))
    return out


def _described(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, item in doc["paths"].items() for m in _METHODS if m in item}


# ----------------------------------------------------------------------------- the document


def test_description_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate

    doc = build()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # type: ignore[arg-type]


def test_every_served_route_is_described_and_every_described_path_is_served() -> None:
    served, described = _served(), _described(build())
    assert served - described == set(), "routes without a description: add them to src/stepca/api/spec/"
    assert described - served == set(), "described but not served"


def test_every_path_under_both_prefixes_with_unique_operation_ids() -> None:
    doc = build()
    assert PREFIXES == ("/", "/1.0/")
    for path in doc["paths"]:
        if path.startswith(("/acme/", "/2.0/acme/")):  # ACME's own prefixes (spec/acme.json)
            continue
        bare = path.removeprefix("/1.0")
        assert bare in doc["paths"] and "/1.0" + bare in doc["paths"]
    ids = [item[m]["operationId"] for item in doc["paths"].values() for m in _METHODS if m in item]
    assert len(ids) == len(set(ids))
    assert doc["paths"]["/1.0/sign"]["post"]["operationId"] == "sign_1_0"


def test_every_error_answer_is_the_shared_error_body() -> None:
    """Every 4xx/5xx is a shared response whose JSON body is the Error schema (an RFC 7807
    ``application/problem+json`` answer, as ACME's, is the one other shape allowed)."""
    doc = build()
    error = {"schema": {"$ref": "#/components/schemas/Error"}}
    for path, item in doc["paths"].items():
        for method in _METHODS:
            for status, response in item.get(method, {}).get("responses", {}).items():
                if int(status) >= 400:
                    assert response["$ref"].startswith("#/components/responses/"), (method, path, status)
                    name = response["$ref"].rsplit("/", 1)[1]
                    content = doc["components"]["responses"][name]["content"]
                    if "application/problem+json" not in content:
                        assert content == {"application/json": error}, (method, path, status)


def test_a_path_or_component_described_twice_is_refused() -> None:
    parts = fragments()
    x509 = next(doc for name, doc in parts if name == "x509.json")
    with pytest.raises(SpecError, match="path /health is already described"):
        merge([*parts, ("acme.json", {"paths": {"/health": x509["paths"]["/health"]}})])
    with pytest.raises(SpecError, match=r"components\.schemas\.Error is already defined"):
        merge([*parts, ("admin.json", {"components": {"schemas": {"Error": {}}}})])
    # a fragment may mount its paths elsewhere
    extra = {"x-stepca-prefixes": ["/"], "paths": {"/acme/x": {"get": {"operationId": "x", "responses": {}}}}}
    doc = merge([*parts, ("acme.json", extra)])
    assert "/acme/x" in doc["paths"] and "/1.0/acme/x" not in doc["paths"]


# ----------------------------------------------------------------------------- a live CA


def test_openapi_json_is_served_over_https_only(live: LiveCA) -> None:
    ca = live.ca
    for prefix in ("", "/1.0"):
        req = urllib.request.Request(f"{ca.url}{prefix}/openapi.json")
        with urllib.request.urlopen(req, context=ca.ssl_context(), timeout=30) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            assert json.loads(resp.read()) == build()
    status, body = plain_get(f"{live.insecure_url}/openapi.json")
    assert status == 404 and json.loads(body)["status"] == 404


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_description(
    live: LiveCA, tmp_path: Path
) -> None:
    """``st run`` against the live CA (every phase: examples, coverage, fuzzing), 10 examples an
    operation, over real TLS (the root as ``--tls-verify``) and mTLS with a client certificate
    the CA issued (so /renew and /rekey reach the authority). A fixed seed: a failure replays."""
    ca, crt, key = live.ca, live.client_crt, live.client_key
    st = BIN / "st"
    assert st.exists(), "schemathesis is missing: pip install -e '.[test]'"
    seed = os.environ.get("STEPCA_SCHEMATHESIS_SEED", "20261203")
    # the repository's settings, and real values for the two lookups (else every case is a 404)
    root_sha = sha256_fingerprint(certificate_ders(ca.pki.root.read_bytes())[0])
    kid = ca.pki.provisioner()["key"]["kid"]
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        ST_CONFIG.read_text() + f'\n[parameters]\n"path.sha" = "{root_sha}"\n"path.kid" = "{kid}"\n'
    )
    cmd = [
        str(st),
        "--config-file", str(config),
        "run", f"{ca.url}/openapi.json",
        "--tls-verify", str(ca.pki.root),
        "--request-cert", str(crt), "--request-cert-key", str(key),
        "--checks", CHECKS,
        "--max-examples", os.environ.get("STEPCA_SCHEMATHESIS_EXAMPLES", "10"),
        "--workers", "1",
        "--seed", seed,
        "--no-color",
        "--report", "json", "--report-json-path", str(tmp_path / "report.json"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failures"] == [] and report["errors"] == [], output[-20000:]
    ops = report["operations"]
    # every operation but GET /openapi.json, which schemathesis leaves out as the document itself
    assert ops["tested"] == ops["selected"] >= len(_described(build())) - 1, ops
    assert ops["errored"] == 0 and report["test_cases"]["generated"] > 10 * ops["tested"], report
