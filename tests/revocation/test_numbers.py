"""CRL numbers: one sequence in the database, growing across regenerations, expiries and
instances; revoked certificates leave the CRL once expired."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.db.backends import Backend, open_backend
from tests.ha.cluster import instance_tree
from tests.helpers import start_ca
from tests.revocation.conftest import CRLCA, crl_pki


def number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def fetch_der(ca: CRLCA, path: str = "/crl") -> x509.CertificateRevocationList:
    status, der = ca.ca.request("GET", path)
    assert status == 200, der
    return x509.load_der_x509_crl(der)


FAST = {"STEPCA_REVOCATION_CHECK_SECONDS": "1"}


def test_the_crl_job_renews_before_next_update(ca_with: Callable[..., CRLCA]) -> None:
    ca = ca_with({"enabled": True, "cacheDuration": "1m", "renewPeriod": "2s"}, env=FAST)
    seen: list[x509.CertificateRevocationList] = []
    deadline = time.monotonic() + 20
    while len({number(c) for c in seen}) < 3 and time.monotonic() < deadline:
        seen.append(fetch_der(ca))
        time.sleep(0.5)
    numbers = [number(c) for c in seen]
    assert len(set(numbers)) >= 3, numbers
    assert numbers == sorted(numbers)  # never backwards
    crl = seen[-1]
    assert crl.next_update_utc is not None
    assert (crl.next_update_utc - crl.last_update_utc).total_seconds() == 60
    # each delta follows its base: a number above it
    delta = fetch_der(ca, "/crl/delta")
    assert number(delta) > delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number


def test_revocations_grow_the_number_and_expired_entries_leave(ca_with: Callable[..., CRLCA]) -> None:
    ca = ca_with(
        {"enabled": True, "generateOnRevoke": True},
        env=FAST,
        claims={"minTLSCertDuration": "5s"},
    )
    _, short = ca.issue("short.example.com", "--not-after", "12s")
    _, long = ca.issue("long.example.com")
    first = number(fetch_der(ca))
    ca.revoke(short)
    ca.revoke(long)
    listed = fetch_der(ca)
    assert number(listed) > first
    assert listed.get_revoked_certificate_by_serial_number(short) is not None
    assert listed.get_revoked_certificate_by_serial_number(long) is not None

    # once the short-lived certificate expired, a new CRL (a new number) leaves it out
    deadline = time.monotonic() + 30
    while True:
        crl = fetch_der(ca)
        if crl.get_revoked_certificate_by_serial_number(short) is None:
            break
        assert time.monotonic() < deadline, "the expired entry is still listed"
        time.sleep(0.5)
    assert number(crl) > number(listed)
    assert crl.get_revoked_certificate_by_serial_number(long) is not None
    delta = fetch_der(ca, "/crl/delta")
    assert delta.get_revoked_certificate_by_serial_number(short) is None
    assert delta.get_revoked_certificate_by_serial_number(long) is not None


# ------------------------------------------------------------------ two instances, one PostgreSQL


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Backend]:
    backend = open_backend("postgresql", tmp_path)
    yield backend
    backend.close()


@pytest.mark.postgres
def test_two_instances_share_one_sequence(postgres: Backend, tmp_path: Path) -> None:
    pki_a, _ = crl_pki(tmp_path / "a", {"enabled": True, "generateOnRevoke": True})
    postgres.apply(pki_a)
    pki_b = instance_tree(pki_a, tmp_path, "instance-b")
    a = start_ca(pki_a, workers=2)
    try:
        b = start_ca(pki_b, workers=2)
    except BaseException:
        a.stop()  # B could not start: do not leave A running
        raise
    try:
        (tmp_path / "wa").mkdir()
        (tmp_path / "wb").mkdir()
        at_a, at_b = CRLCA(a, tmp_path / "wa"), CRLCA(b, tmp_path / "wb")
        start_a, start_b = number(fetch_der(at_a)), number(fetch_der(at_b))

        _, serial = at_a.issue("one.example.com")
        at_b.pki.step("ca", "revoke", str(serial), "--provisioner-password-file", str(pki_b.password_file),
                      "--ca-url", pki_b.url)  # fmt: skip
        # A serves B's new CRL at once (it reads the published number before answering)
        from_a, from_b = fetch_der(at_a), fetch_der(at_b)
        assert from_a.get_revoked_certificate_by_serial_number(serial) is not None
        assert number(from_a) == number(from_b) > max(start_a, start_b)

        _, serial2 = at_a.issue("two.example.com")
        at_a.revoke(serial2)
        again_b = fetch_der(at_b)
        assert again_b.get_revoked_certificate_by_serial_number(serial2) is not None
        assert number(again_b) > number(from_b)

        # one counter row per issuer in the database, ahead of every number published
        counters = postgres.column("SELECT number FROM crl_numbers")
        assert len(counters) == 1 and counters[0] >= number(again_b)
        published = postgres.column("SELECT number FROM crls WHERE kind = 'base' ORDER BY number")
        assert len(published) == len(set(published))
        assert postgres.scalar("SELECT count(*) FROM crls WHERE kind = 'base' AND size > 0") == 1
    finally:
        a.stop()
        b.stop()


def test_enabling_crls_with_a_reload(ca_with: Callable[..., CRLCA]) -> None:
    import signal

    from tests.revocation.conftest import wait_for

    ca = ca_with({"enabled": False})
    assert ca.ca.request("GET", "/crl")[0] == 404
    ca.pki.edit_config(lambda cfg: cfg.__setitem__("crl", {"enabled": True}))
    ca.ca.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: ca.ca.log().count("reloaded configuration") >= 2, 30, "both workers to reload")
    wait_for(lambda: ca.ca.request("GET", "/crl")[0] == 200, 30, "the CRL after the reload")
    crt, _ = ca.issue("after-reload.example.com")
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    wait_for(lambda: ca.ca.request("GET", "/crl/delta")[0] == 200, 30, "the delta CRL after the reload")
    for _ in range(6):  # every worker serves both (each reads what the other published)
        assert ca.ca.request("GET", "/crl")[0] == ca.ca.request("GET", "/crl/delta")[0] == 200
