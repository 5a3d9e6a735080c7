"""The OCSP responder (RFC 6960) of a real step-ca, checked with the real ``openssl ocsp`` and
curl: good, revoked after ``step ca revoke`` (with the nonce), unknown, the GET form, garbage,
another CA's certificates, both signers, the certificate's AIA, and two instances on PostgreSQL."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.db.backends import Backend, open_backend
from tests.ha.cluster import instance_tree
from tests.helpers import free_port, start_ca
from tests.revocation.conftest import CRLCA, crl_pki, openssl, wait_for


@pytest.fixture(scope="module")
def ocsp_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CRLCA]:
    """A CA with the delegated responder and an insecureAddress (two workers)."""
    base = tmp_path_factory.mktemp("ocsp-pki")
    pki, port = crl_pki(base, {"enabled": True}, insecure=True, ocsp={"enabled": True})
    ca = start_ca(pki, workers=2)
    work = base / "work"
    work.mkdir()
    yield CRLCA(ca, work, port)
    ca.stop()


def http_url(ca: CRLCA) -> str:
    return f"http://127.0.0.1:{ca.insecure_port}/ocsp"


def openssl_ocsp(ca: CRLCA, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """``openssl ocsp -issuer intermediate -CAfile root -url URL ARGS`` (a nonce unless
    ``-no_nonce``: openssl checks that the response echoes it)."""
    return openssl(
        "ocsp", "-issuer", str(ca.pki.intermediate), "-CAfile", str(ca.pki.root),
        "-url", url or http_url(ca), *args,
    )  # fmt: skip


def status_line(result: subprocess.CompletedProcess[str], subject: str) -> str:
    """``good`` / ``revoked`` / ``unknown`` from openssl's output for ``subject``, after checking
    that openssl verified the response."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Response verify OK" in result.stderr, result.stderr
    for line in result.stdout.splitlines():
        if line.startswith(f"{subject}: "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"no status for {subject}: {result.stdout}")


def post(url: str, body: bytes, content_type: str = "application/ocsp-request") -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def request_for(ca: CRLCA, crt: Path, algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    issuer = x509.load_pem_x509_certificate(ca.pki.intermediate.read_bytes())
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    return builder.build().public_bytes(serialization.Encoding.DER)


# ------------------------------------------------------------------ openssl ocsp


def test_good_then_revoked_with_the_nonce_checked(ocsp_ca: CRLCA) -> None:
    crt, serial = ocsp_ca.issue("ocsp-good.example.com")
    assert status_line(openssl_ocsp(ocsp_ca, "-cert", str(crt)), str(crt)) == "good"
    # the same without a nonce: the pre-signed response (served by either worker)
    for _ in range(4):
        assert status_line(openssl_ocsp(ocsp_ca, "-cert", str(crt), "-no_nonce"), str(crt)) == "good"

    ocsp_ca.revoke(serial, "--reason", "key compromise", "--reasonCode", "1")
    # the worker that recorded it answers at once; the other within a second (its poll)
    time.sleep(1.0)
    for args in (("-cert", str(crt)), ("-cert", str(crt), "-no_nonce")) * 3:
        result = openssl_ocsp(ocsp_ca, *args, "-resp_text")
        assert status_line(result, str(crt)) == "revoked", result.stdout
        assert "Revocation Time:" in result.stdout
        assert "Reason: keyCompromise" in result.stdout
    # openssl refuses a response whose nonce differs: ours echo it
    result = openssl_ocsp(ocsp_ca, "-cert", str(crt), "-resp_text")
    assert "WARNING: no nonce in response" not in result.stderr + result.stdout
    assert "OCSP Nonce:" in result.stdout


def test_a_serial_we_never_issued_is_unknown(ocsp_ca: CRLCA) -> None:
    assert (
        status_line(openssl_ocsp(ocsp_ca, "-serial", "0x1234567890abcdef"), "0x1234567890abcdef") == "unknown"
    )


def test_over_https_on_the_ca_address(ocsp_ca: CRLCA) -> None:
    crt, _ = ocsp_ca.issue("ocsp-https.example.com")
    result = openssl_ocsp(ocsp_ca, "-cert", str(crt), url=f"{ocsp_ca.pki.url}/ocsp")
    assert status_line(result, str(crt)) == "good"


def test_the_get_form_with_reqout_and_curl(ocsp_ca: CRLCA) -> None:
    crt, serial = ocsp_ca.issue("ocsp-get.example.com")
    req = ocsp_ca.work / "get.req"
    made = openssl(
        "ocsp", "-issuer", str(ocsp_ca.pki.intermediate), "-cert", str(crt), "-no_nonce",
        "-reqout", str(req),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    encoded = urllib.parse.quote(base64.b64encode(req.read_bytes()).decode(), safe="")
    out = ocsp_ca.work / "get.resp"
    curl = subprocess.run(
        ["curl", "-sS", "-o", str(out), "-w", "%{http_code} %{content_type}", f"{http_url(ocsp_ca)}/{encoded}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert curl.stdout == "200 application/ocsp-response", curl.stdout + curl.stderr
    checked = openssl(
        "ocsp", "-respin", str(out), "-issuer", str(ocsp_ca.pki.intermediate), "-cert", str(crt),
        "-CAfile", str(ocsp_ca.pki.root), "-no_nonce",
    )  # fmt: skip
    assert status_line(checked, str(crt)) == "good"
    parsed = ocsp.load_der_ocsp_response(out.read_bytes())
    assert parsed.serial_number == serial and parsed.certificate_status == ocsp.OCSPCertStatus.GOOD
    # the URL-safe alphabet and a SHA-256 CertID are answered too
    raw = request_for(ocsp_ca, crt, hashes.SHA256())
    status, ctype, body = get(f"{http_url(ocsp_ca)}/{base64.urlsafe_b64encode(raw).decode().rstrip('=')}")
    assert (status, ctype) == (200, "application/ocsp-response")
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert isinstance(resp.hash_algorithm, hashes.SHA256)


# ------------------------------------------------------------------ what a responder must refuse


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", b"\x30\x03\x02\x01\x01", os.urandom(2000), b"\x30" + b"\xff" * 10],
    ids=["empty", "text", "wrong-structure", "random", "bad-length"],
)
def test_garbage_is_malformed_request(ocsp_ca: CRLCA, body: bytes) -> None:
    status, ctype, der = post(http_url(ocsp_ca), body)
    assert (status, ctype) == (200, "application/ocsp-response")
    assert ocsp.load_der_ocsp_response(der).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_garbage_in_the_get_form_and_oversized_bodies(ocsp_ca: CRLCA) -> None:
    for tail in ("not*base64", "AAAA", base64.b64encode(b"\x30\x00").decode()):
        status, _, der = get(f"{http_url(ocsp_ca)}/{tail}")
        assert status == 200
        assert ocsp.load_der_ocsp_response(der).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    status, _, der = post(http_url(ocsp_ca), b"\x30" * 100_000)
    assert ocsp.load_der_ocsp_response(der).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # and the responder keeps serving
    crt, _ = ocsp_ca.issue("ocsp-after-garbage.example.com")
    assert status_line(openssl_ocsp(ocsp_ca, "-cert", str(crt)), str(crt)) == "good"
    assert "Traceback" not in ocsp_ca.ca.log()


def test_another_issuer_is_unauthorized(ocsp_ca: CRLCA) -> None:
    # a CertID naming the root as issuer (of the intermediate): not ours to answer
    intermediate = x509.load_pem_x509_certificate(ocsp_ca.pki.intermediate.read_bytes())
    root = x509.load_pem_x509_certificate(ocsp_ca.pki.root.read_bytes())
    req = ocsp.OCSPRequestBuilder().add_certificate(intermediate, root, hashes.SHA1()).build()
    _, _, der = post(http_url(ocsp_ca), req.public_bytes(serialization.Encoding.DER))
    assert ocsp.load_der_ocsp_response(der).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


# ------------------------------------------------------------------ the signer and the certificate


def test_delegated_responder_certificate(ocsp_ca: CRLCA) -> None:
    crt, _ = ocsp_ca.issue("ocsp-delegated.example.com")
    _, _, der = post(http_url(ocsp_ca), request_for(ocsp_ca, crt))
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    (responder,) = resp.certificates
    intermediate = x509.load_pem_x509_certificate(ocsp_ca.pki.intermediate.read_bytes())
    responder.verify_directly_issued_by(intermediate)
    assert responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.OCSP_SIGNING]
    )
    responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    life = responder.not_valid_after_utc - responder.not_valid_before_utc
    assert life.total_seconds() <= 24 * 3600 + 60
    assert (
        resp.responder_key_hash
        == responder.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    assert (resp.next_update_utc - resp.this_update_utc).total_seconds() == 3600
    # the leaf tells clients where the responder is
    aia = x509.load_pem_x509_certificate(crt.read_bytes()).extensions.get_extension_for_class(
        x509.AuthorityInformationAccess
    )
    assert [d.access_location.value for d in aia.value] == [f"http://localhost:{ocsp_ca.insecure_port}/ocsp"]


def test_signed_by_the_intermediate_when_configured(ca_with: Callable[..., CRLCA]) -> None:
    ca = ca_with(
        None, insecure=True, ocsp={"enabled": True, "signer": "intermediate", "url": "http://ocsp.example/"}
    )
    crt, serial = ca.issue("ocsp-intermediate.example.com")
    assert status_line(openssl_ocsp(ca, "-cert", str(crt)), str(crt)) == "good"
    _, _, der = post(http_url(ca), request_for(ca, crt))
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.certificates == []
    intermediate = x509.load_pem_x509_certificate(ca.pki.intermediate.read_bytes())
    ski = intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert resp.responder_key_hash == ski
    aia = x509.load_pem_x509_certificate(crt.read_bytes()).extensions.get_extension_for_class(
        x509.AuthorityInformationAccess
    )
    assert [d.access_location.value for d in aia.value] == ["http://ocsp.example/"]
    ca.revoke(serial)
    wait_for(lambda: status_line(openssl_ocsp(ca, "-cert", str(crt)), str(crt)) == "revoked", 5, "revoked")


def test_answers_are_counted_not_logged_one_by_one(ca_with: Callable[..., CRLCA]) -> None:
    ca = ca_with(None, insecure=True, ocsp={"enabled": True}, workers=1)
    crt, _ = ca.issue("counted.example.com")
    body = request_for(ca, crt)
    for _ in range(25):
        post(http_url(ca), body)
    post(http_url(ca), b"garbage")
    ca.ca.stop()
    log = ca.ca.log()
    assert log.count("path=/ocsp") == 1  # the malformed one
    assert "ocsp=malformedRequest" in log
    summary = [line for line in log.splitlines() if "ocsp responses" in line]
    assert summary and "good=25" in summary[-1] and "malformed=1" in summary[-1], summary


def test_disabled_responder_is_not_found(ca_with: Callable[..., CRLCA]) -> None:
    ca = ca_with(None)
    status, body = ca.ca.request("POST", "/ocsp", b"x")[:2]
    assert status == 404
    crt, _ = ca.issue("no-ocsp.example.com")
    with pytest.raises(x509.ExtensionNotFound):
        x509.load_pem_x509_certificate(crt.read_bytes()).extensions.get_extension_for_class(
            x509.AuthorityInformationAccess
        )


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"signer": "root"}, "ocsp.signer: Input should be 'delegated' or 'intermediate'"),
        ({"responseValidity": "10h"}, "ocsp: Value error, responderCertDuration must be at least 3 times"),
        ({"responseValidity": "10s"}, "ocsp.responseValidity: Value error, must be between 1m and 168h"),
        ({"responderCertDuration": "1m"}, "ocsp.responderCertDuration: Value error, must be between 5m"),
        ({"url": "ftp://x"}, "ocsp.url: Value error, must be an http:// or https:// URL"),
    ],
)
def test_bad_ocsp_blocks(block: dict[str, object], message: str) -> None:
    from stepca.config import parse_ca_config
    from stepca.errors import ConfigError

    base = {"root": "r", "crt": "c", "key": "k", "address": "127.0.0.1:9000", "dnsNames": ["ca.example.com"]}
    with pytest.raises(ConfigError) as info:
        parse_ca_config({**base, "ocsp": {"enabled": True, **block}}, "ca.json")
    assert str(info.value).startswith(f"ca.json: {message}"), str(info.value)


def test_defaults() -> None:
    from datetime import timedelta

    from stepca.config import parse_ca_config

    base = {"root": "r", "crt": "c", "key": "k", "address": "127.0.0.1:9000", "dnsNames": ["ca.example.com"]}
    cfg = parse_ca_config({**base, "ocsp": {"enabled": True}})
    assert cfg.ocsp is not None
    assert (cfg.ocsp.signer, cfg.ocsp.response_validity, cfg.ocsp.responder_cert_duration) == (
        "delegated",
        timedelta(hours=1),
        timedelta(hours=24),
    )
    from stepca.revocation.ocsp import ocsp_url

    assert ocsp_url(cfg) == "https://ca.example.com:9000/ocsp"
    assert (
        ocsp_url(parse_ca_config({**base, "insecureAddress": ":80", "ocsp": {}}))
        == "http://ca.example.com/ocsp"
    )


# ------------------------------------------------------------------ two instances, one PostgreSQL


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Backend]:
    backend = open_backend("postgresql", tmp_path)
    yield backend
    backend.close()


@pytest.mark.postgres
def test_a_revocation_at_a_is_in_b_answers_within_a_second(postgres: Backend, tmp_path: Path) -> None:
    pki_a, port_a = crl_pki(tmp_path / "a", None, insecure=True, ocsp={"enabled": True})
    postgres.apply(pki_a)
    pki_b = instance_tree(pki_a, tmp_path, "instance-b")
    pki_b.edit_config(lambda cfg: cfg.__setitem__("insecureAddress", f"127.0.0.1:{free_port()}"))
    a = start_ca(pki_a, workers=2)
    try:
        b = start_ca(pki_b, workers=2)
    except BaseException:
        a.stop()  # B could not start: do not leave A running
        raise
    try:
        (tmp_path / "wa").mkdir()
        (tmp_path / "wb").mkdir()
        at_a = CRLCA(a, tmp_path / "wa", port_a)
        crt, serial = at_a.issue("two-instances.example.com")
        body = request_for(at_a, crt)
        url_b = f"{pki_b.url}/ocsp"
        context = b.ssl_context()

        def status_at_b() -> ocsp.OCSPCertStatus:
            req = urllib.request.Request(
                url_b, data=body, headers={"Content-Type": "application/ocsp-request"}
            )
            with urllib.request.urlopen(req, context=context, timeout=10) as resp:
                return ocsp.load_der_ocsp_response(resp.read()).certificate_status

        for _ in range(6):  # cached as good in B's workers
            assert status_at_b() == ocsp.OCSPCertStatus.GOOD
        at_a.revoke(serial)
        revoked_at = time.monotonic()
        while status_at_b() != ocsp.OCSPCertStatus.REVOKED:
            assert time.monotonic() - revoked_at < 1.0, "B still says good a second after the revocation"
            time.sleep(0.02)
        time.sleep(0.5)
        assert all(status_at_b() == ocsp.OCSPCertStatus.REVOKED for _ in range(6))
        # and A, where it was revoked, over its plain-HTTP listener
        _, _, der = post(http_url(at_a), body)
        assert ocsp.load_der_ocsp_response(der).certificate_status == ocsp.OCSPCertStatus.REVOKED
    finally:
        a.stop()
        b.stop()


# ------------------------------------------------------------------ step certificate verify


def test_step_certificate_verify_checks_crl_and_ocsp(ocsp_ca: CRLCA) -> None:
    from tests.helpers import assert_one_line_error

    crt, serial = ocsp_ca.issue("verify-me.example.com")
    root = str(ocsp_ca.pki.root)
    ok = ocsp_ca.pki.step("certificate", "verify", str(crt), "--roots", root, "--verify-crl", "--verify-ocsp")
    assert f"OCSP http://localhost:{ocsp_ca.insecure_port}/ocsp: not revoked" in ok.stderr
    assert "/1.0/crl: not revoked" in ok.stderr
    # the issue's names for the same flags
    ocsp_ca.pki.step("certificate", "verify", str(crt), "--roots", root, "--crl", "--ocsp")

    ocsp_ca.revoke(serial, "--reasonCode", "1")
    time.sleep(1.0)
    for flag in ("--verify-ocsp", "--verify-crl"):
        bad = ocsp_ca.pki.step("certificate", "verify", str(crt), "--roots", root, flag, check=False)
        line = assert_one_line_error(bad)
        assert line.startswith("certificate is revoked: "), line
        assert "revoked at " in line and "reason keyCompromise" in line, line
    # without the flags only the chain is checked
    ocsp_ca.pki.step("certificate", "verify", str(crt), "--roots", root)


def test_step_certificate_verify_says_why_no_verdict(ocsp_ca: CRLCA, ca_with: Callable[..., CRLCA]) -> None:
    from tests.helpers import assert_one_line_error

    crt, _ = ocsp_ca.issue("verify-endpoint.example.com")
    root = str(ocsp_ca.pki.root)
    closed = f"http://127.0.0.1:{free_port()}/ocsp"
    bad = ocsp_ca.pki.step(
        "certificate", "verify", str(crt), "--roots", root, "--ocsp-endpoint", closed, check=False
    )
    assert assert_one_line_error(bad).startswith(f"failed to check revocation: {closed}: ")
    # a responder that is not the issuer's: the intermediate given as --issuing-ca is not the one
    other = ca_with({"enabled": True})
    other_crt, _ = other.issue("other.example.com")
    bad = other.pki.step(
        "certificate", "verify", str(other_crt), "--roots", str(other.pki.root), "--verify-ocsp", check=False
    )
    assert "has no OCSP responder URL (AIA): use --ocsp-endpoint" in assert_one_line_error(bad)
    bad = other.pki.step(
        "certificate", "verify", str(other_crt), "--roots", str(other.pki.root),
        "--ocsp-endpoint", http_url(ocsp_ca), check=False,
    )  # fmt: skip
    assert "the responder answered unauthorized" in assert_one_line_error(bad)
