"""Property fuzzing of the parsers that take untrusted input (bounded: about a minute in all).

Each parser either returns a value or raises its documented, user-facing error; any other
exception is a crash. Inputs are random bytes and mutations of valid documents. A crash found
here stays as an ``@example`` below, with its fix.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stepca.authority.authority import load_csr
from stepca.crypto.keys import WrongPasswordError, load_private_key, load_public_key
from stepca.crypto.pem import certificate_ders, pem_blocks
from stepca.errors import ConfigError, StepError
from stepca.provisioner.base import ParsedToken
from tests.tokens import csr_for

EXAMPLES = int(os.environ.get("STEPCA_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

CSR, _KEY = csr_for("fuzz.example.com")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mutate(text: str, data: st.DataObject) -> str:
    if not text:
        return text
    i = data.draw(st.integers(0, len(text) - 1))
    j = data.draw(st.integers(i, min(len(text), i + 40)))
    return text[:i] + data.draw(st.text(max_size=20)) + text[j:]


@FUZZ
@given(st.data())
def test_csr_parser(data: st.DataObject) -> None:
    text = data.draw(st.one_of(st.text(max_size=300), st.just(CSR).map(lambda c: c), st.binary(max_size=64)))
    if isinstance(text, str) and data.draw(st.booleans()):
        text = mutate(CSR, data)
    try:
        load_csr(text)
    except StepError as exc:
        assert exc.status == 400


jose_part = st.one_of(
    st.binary(max_size=60).map(b64u),
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "x5c", "exp", "iat", "nbf", "iss"]),
        st.one_of(st.integers(), st.text(max_size=10), st.none(), st.lists(st.integers(), max_size=2)),
        max_size=5,
    ).map(lambda d: b64u(json.dumps(d).encode())),
)


@FUZZ
@given(st.lists(jose_part, min_size=1, max_size=5), st.sampled_from([".", "..", "."]))
@example(["eyJhbGciOiJFUzI1NiJ9", b64u(json.dumps({"exp": 2**63}).encode()), "AA"], ".")
@example([b64u(b'{"alg":"ES256","crit":[]}'), b64u(b"{}"), ""], ".")
def test_token_parser(parts: list[str], sep: str) -> None:
    try:
        ParsedToken.parse(sep.join(parts))
    except StepError as exc:
        assert exc.status == 401


@FUZZ
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)), st.booleans())
@example(b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", False)
@example(b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n-----END EC PRIVATE KEY-----\n", True)
def test_key_and_pem_parsers(data: bytes, with_password: bool) -> None:
    with contextlib.suppress(ValueError, WrongPasswordError):
        load_private_key(data, b"pw" if with_password else None)
    with contextlib.suppress(ValueError):
        load_public_key(data)
    try:
        pem_blocks(data)
        certificate_ders(data)
    except ValueError:
        pass


json_value: Any = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
CA_KEYS = ["root", "crt", "key", "address", "dnsNames", "db", "authority", "tls", "logger", "ssh", "password"]


@FUZZ
@given(st.dictionaries(st.sampled_from(CA_KEYS), json_value, max_size=8))
def test_ca_json_parser(doc: dict[str, Any]) -> None:
    from stepca.config import parse_ca_config

    try:
        parse_ca_config(doc)
    except ConfigError as exc:
        assert str(exc).splitlines()  # a message naming the file and field


@settings(
    max_examples=max(20, EXAMPLES // 10),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(
        json_value, st.dictionaries(st.sampled_from(["csr", "ott", "notBefore", "notAfter"]), json_value)
    )
)
def test_sign_body_against_a_real_ca(session_ca: Any, body: Any) -> None:
    status, answer = session_ca.request("POST", "/1.0/sign", json.dumps(body).encode())
    assert 400 <= status < 500, (status, answer)
    assert answer["status"] == status and answer["message"], answer


def _ocsp_responder() -> tuple[Any, Any, bytes]:
    """A responder (intermediate signer) on a real SQLite store in a temp dir, its event loop,
    and a valid request for a serial it knows."""
    import asyncio
    import tempfile
    import time
    from datetime import timedelta
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from stepca.crypto.keys import generate_private_key
    from stepca.crypto.x509build import build_ca_certificate, ca_name
    from stepca.db.batch import AsyncStore
    from stepca.db.engine import make_engine, resolve_target
    from stepca.db.operations import IssueOp
    from stepca.db.records import CertificateRecord
    from stepca.db.sql import SQLStore
    from stepca.revocation.ocsp import OCSPResponder, OCSPSettings, issuer_hashes

    key = generate_private_key("EC", "P-256", None)
    name = ca_name("Fuzz", "Fuzz Intermediate CA")
    cert = build_ca_certificate(
        subject=name, public_key=key.public_key(), issuer=name, issuer_key=key, path_length=0
    )
    sql = SQLStore(make_engine(resolve_target(None, Path(tempfile.mkdtemp()) / "stepca.db")))
    sql.migrate()
    loop = asyncio.new_event_loop()
    store = AsyncStore(sql, readers=1)
    now = int(time.time())
    loop.run_until_complete(store.apply(IssueOp(CertificateRecord("4242", b"der", "p", "cn", now, now + 60))))
    r = OCSPResponder(store)
    r.configure(OCSPSettings(cert, key, False, timedelta(hours=1), timedelta(hours=24), "Fuzz"))
    name_hash, key_hash = issuer_hashes(cert)["sha1"]
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, 4242, hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"n" * 16), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    return r, loop, req


_OCSP: list[Any] = []


@FUZZ
@given(st.data())
def test_ocsp_request_parser(data: st.DataObject) -> None:
    """Any body gets a DER OCSPResponse (successful or not), never an exception."""
    from cryptography.x509 import ocsp

    if not _OCSP:
        _OCSP.extend(_ocsp_responder())
    responder, loop, valid = _OCSP
    body = data.draw(st.one_of(st.binary(max_size=300), st.just(valid)))
    if body and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(body) - 1))
        j = data.draw(st.integers(i, min(len(body), i + 8)))
        body = body[:i] + data.draw(st.binary(max_size=8)) + body[j:]
    answer = loop.run_until_complete(responder.respond(body))
    parsed = ocsp.load_der_ocsp_response(answer)
    if parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
        assert parsed.certificate_status in (ocsp.OCSPCertStatus.GOOD, ocsp.OCSPCertStatus.UNKNOWN)
