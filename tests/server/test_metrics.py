"""Prometheus /metrics of a real step-ca with two workers: the counters by provisioner and
kind, refusals by reason, request latency by route, OCSP answers, database commits, the
expiring gauge; parsed with prometheus_client's own parser; counts that survive a worker's
death; and nothing served (nor any metric file written) when metrics are off."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import CAProcess, free_port, make_pki, start_ca
from tests.tokens import csr_for, signer_for


@pytest.fixture(scope="module")
def metrics_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CAProcess, int]]:
    pki = make_pki(tmp_path_factory.mktemp("metrics-pki"))
    port = free_port()
    pki.edit_config(lambda cfg: cfg.__setitem__("metricsAddress", f"127.0.0.1:{port}"))
    ca = start_ca(pki, workers=2, env={**pki.env, "STEPCA_METRICS_EXPIRING_SECONDS": "1"})
    yield ca, port
    ca.stop()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


def sign_many(ca: CAProcess, n: int, subject: str = "m.example.com") -> None:
    signer = signer_for(ca.pki)
    csr, _ = csr_for(subject)
    for _ in range(n):
        status, body = ca.request("POST", "/1.0/sign", {"csr": csr, "ott": signer.token(subject)})
        assert status == 201, body


def test_issued_refused_and_latency(metrics_ca: tuple[CAProcess, int]) -> None:
    ca, port = metrics_ca
    prov = signer_for(ca.pki).name
    before = scrape(port)
    sign_many(ca, 100)
    # refusals: a replayed token and an expired one
    signer = signer_for(ca.pki)
    csr, _ = csr_for("r.example.com")
    tok = signer.token("r.example.com")
    assert ca.request("POST", "/1.0/sign", {"csr": csr, "ott": tok})[0] == 201
    assert ca.request("POST", "/1.0/sign", {"csr": csr, "ott": tok})[0] == 401
    old = signer.token(
        "r.example.com", exp=int(time.time()) - 600, nbf=int(time.time()) - 900, iat=int(time.time()) - 900
    )
    assert ca.request("POST", "/1.0/sign", {"csr": csr, "ott": old})[0] == 401
    after = scrape(port)
    issued = "stepca_certificates_issued_total"
    grew = value(after, issued, provisioner=prov, kind="x509", operation="sign") - value(
        before, issued, provisioner=prov, kind="x509", operation="sign"
    )
    assert grew == 101
    req = "stepca_http_requests_total"
    assert value(after, req, route="/1.0/sign", method="POST", status="201") >= 101
    assert value(after, req, route="/1.0/sign", method="POST", status="401") >= 2
    assert value(after, "stepca_refusals_total", route="/1.0/sign", reason="replayed") >= 1
    assert value(after, "stepca_refusals_total", route="/1.0/sign", reason="expired") >= 1
    assert value(after, "stepca_http_request_duration_seconds_count", route="/1.0/sign") >= 103
    assert value(after, "stepca_http_request_duration_seconds_bucket", route="/1.0/sign", le="+Inf") >= 103
    assert value(after, "stepca_db_commit_duration_seconds_count") > 0
    assert value(after, "stepca_db_operations_total") >= 101


def test_revoked_and_expiring(metrics_ca: tuple[CAProcess, int]) -> None:
    ca, port = metrics_ca
    crt = ca.pki.step_path.parent / "exp.crt"
    key = crt.with_suffix(".key")
    ca.pki.step(
        "ca", "certificate", "exp.example.com", str(crt), str(key), "--provisioner-password-file",
        str(ca.pki.password_file), "--not-after", "2h", "--force",
    )  # fmt: skip
    from cryptography import x509

    serial = x509.load_pem_x509_certificate(crt.read_bytes()).serial_number
    before = scrape(port)
    ca.pki.step("ca", "revoke", str(serial), "--provisioner-password-file", str(ca.pki.password_file))
    after = scrape(port)
    prov = signer_for(ca.pki).name
    revoked = "stepca_certificates_revoked_total"
    assert (
        value(after, revoked, provisioner=prov, kind="x509")
        - value(before, revoked, provisioner=prov, kind="x509")
        == 1
    )
    # every leaf of this module lives 24h (the default) or less: all expire within 24 h
    deadline = time.monotonic() + 10
    while value(scrape(port), "stepca_certificates_expiring", kind="x509") == 0:
        assert time.monotonic() < deadline, "the expiring gauge was never set"
        time.sleep(0.5)


def test_counts_survive_a_worker_restart(metrics_ca: tuple[CAProcess, int]) -> None:
    ca, port = metrics_ca
    prov = signer_for(ca.pki).name
    sign_many(ca, 10, "restart.example.com")
    before = scrape(port)
    issued = value(
        before, "stepca_certificates_issued_total", provisioner=prov, kind="x509", operation="sign"
    )
    victim = ca.pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in ca.pids() or len(ca.pids()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1.0)
    after = scrape(port)
    assert (
        value(after, "stepca_certificates_issued_total", provisioner=prov, kind="x509", operation="sign")
        == issued
    )
    assert value(after, "stepca_worker_restarts_total") >= 1


def test_ocsp_answers_are_counted(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    port, insecure = free_port(), free_port()

    def edit(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["metricsAddress"] = f"127.0.0.1:{port}"
        cfg["insecureAddress"] = f"127.0.0.1:{insecure}"
        cfg["ocsp"] = {"enabled": True}

    pki.edit_config(edit)
    ca = start_ca(pki, workers=1)
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{insecure}/ocsp", data=b"junk", method="POST")
        for _ in range(3):
            urllib.request.urlopen(req, timeout=10).read()
        deadline = time.monotonic() + 10
        while value(scrape(port), "stepca_ocsp_responses_total", status="malformed") < 3:
            assert time.monotonic() < deadline, "OCSP answers were not counted"
            time.sleep(0.3)
    finally:
        ca.stop()


def test_off_by_default_and_the_directory_is_private(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    pki = make_pki(tmp_path / "off")
    ca = start_ca(pki, workers=1, env={**pki.env, "TMPDIR": str(tmp)})
    try:
        sign_many(ca, 1, "off.example.com")
        assert list(tmp.iterdir()) == []  # no metrics: no directory, no counter files
    finally:
        ca.stop()

    pki2 = make_pki(tmp_path / "on")
    port = free_port()
    ca = start_ca(
        pki2,
        workers=1,
        extra_args=["--metrics-address", f"127.0.0.1:{port}"],
        env={**pki2.env, "TMPDIR": str(tmp)},
    )
    try:
        sign_many(ca, 2, "flag.example.com")
        # the flag works without metricsAddress in ca.json
        assert (
            value(scrape(port), "stepca_http_requests_total", route="/1.0/sign", method="POST", status="201")
            == 2
        )
        (made,) = list(tmp.iterdir())
        assert made.name.startswith("stepca-metrics-") and (made.stat().st_mode & 0o777) == 0o700
        assert any(made.iterdir())
    finally:
        ca.stop()
    assert list(tmp.iterdir()) == []  # removed at shutdown
