"""The CRL and delta CRL of a real step-ca, checked by the real openssl (RFC 5280)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from tests.helpers import run_step
from tests.revocation.conftest import CRLCA, openssl, root_crl, verify


def test_a_revoked_leaf_fails_and_a_good_one_passes(crl_ca: CRLCA) -> None:
    good, _ = crl_ca.issue("good.example.com")
    bad, serial = crl_ca.issue("bad.example.com")
    before = crl_ca.fetch("before.pem")
    assert verify(crl_ca, bad, before).returncode == 0  # not revoked yet: the refusal below is the CRL

    crl_ca.revoke(serial)
    crl_file = crl_ca.fetch("crl.pem")
    refused = verify(crl_ca, bad, crl_file)
    assert refused.returncode != 0
    assert "certificate revoked" in refused.stderr, refused.stderr
    passed = verify(crl_ca, good, crl_file)
    assert passed.returncode == 0, passed.stderr
    assert "OK" in passed.stdout

    # openssl checks the CRL's own signature with the intermediate
    checked = openssl("crl", "-in", str(crl_file), "-noout", "-CAfile", str(crl_ca.pki.intermediate))
    assert checked.returncode == 0 and "verify OK" in checked.stderr, checked.stderr
    other = openssl("crl", "-in", str(crl_file), "-noout", "-CAfile", str(crl_ca.pki.root))
    assert "verify OK" not in other.stderr  # signed by the intermediate, not the root


def test_crl_fields(crl_ca: CRLCA) -> None:
    _, unspecified = crl_ca.issue("plain.example.com")
    _, compromised = crl_ca.issue("compromised.example.com")
    crl_ca.revoke(unspecified)
    crl_ca.revoke(compromised, "--reasonCode", "keyCompromise", "--invalidity-date", "2024-05-01T10:00:00Z")
    crl = crl_ca.crl(crl_ca.fetch("fields.pem"))
    intermediate = x509.load_pem_x509_certificate(crl_ca.pki.intermediate.read_bytes())
    assert crl.issuer == intermediate.subject
    assert crl.is_signature_valid(intermediate.public_key())  # type: ignore[arg-type]
    now = datetime.now(UTC)
    assert crl.last_update_utc <= now + timedelta(seconds=1)
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=24)  # cacheDuration's default
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > 0
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    freshest = crl.extensions.get_extension_for_class(x509.FreshestCRL)
    assert not freshest.critical
    assert freshest.value[0].full_name == [x509.UniformResourceIdentifier(f"{crl_ca.pki.url}/1.0/crl/delta")]
    with pytest.raises(x509.ExtensionNotFound):  # no idpURL: no Issuing Distribution Point
        crl.extensions.get_extension_for_oid(ExtensionOID.ISSUING_DISTRIBUTION_POINT)

    plain = crl.get_revoked_certificate_by_serial_number(unspecified)
    assert plain is not None and len(plain.extensions) == 0  # unspecified: no reason code (5.3.1)
    entry = crl.get_revoked_certificate_by_serial_number(compromised)
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    invalidity = entry.extensions.get_extension_for_oid(CRLEntryExtensionOID.INVALIDITY_DATE).value
    assert invalidity.invalidity_date_utc == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    assert abs((entry.revocation_date_utc - now).total_seconds()) < 120


def test_leaves_carry_the_distribution_point(crl_ca: CRLCA) -> None:
    crt, _ = crl_ca.issue("dp.example.com")
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert not dp.critical
    assert dp.value[0].full_name == [
        x509.UniformResourceIdentifier(f"https://localhost:{crl_ca.pki.port}/1.0/crl")
    ]
    # renewal carries the current one (once, not copied and added)
    renewed = crl_ca.work / "dp-renewed.crt"
    crl_ca.pki.step(
        "ca", "renew", str(crt), str(crl_ca.work / "dp.example.com.key"), "--out", str(renewed), "--force"
    )
    again = x509.load_pem_x509_certificate(renewed.read_bytes())
    oids = [e.oid for e in again.extensions]
    assert oids.count(ExtensionOID.CRL_DISTRIBUTION_POINTS) == 1
    assert again.extensions.get_extension_for_class(x509.CRLDistributionPoints).value == dp.value


def test_base_and_delta_see_a_revocation_made_after_the_base(crl_ca: CRLCA) -> None:
    leaf, serial = crl_ca.issue("late.example.com")
    base_file = crl_ca.fetch("base.pem")
    base = crl_ca.crl(base_file)
    base_number = base.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    crl_ca.revoke(serial)  # after the client fetched its base
    delta_file = crl_ca.fetch("delta.pem", "--delta")
    delta = crl_ca.crl(delta_file)
    indicator = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert indicator.critical
    assert indicator.value.crl_number <= base_number  # the delta applies to the base the client holds
    assert delta.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > base_number
    assert delta.get_revoked_certificate_by_serial_number(serial) is not None
    assert base.get_revoked_certificate_by_serial_number(serial) is None

    roots = root_crl(crl_ca.pki, crl_ca.work / "root-crl.pem")
    flags = ("-crl_check_all", "-use_deltas")
    with_delta = verify(crl_ca, leaf, roots, base_file, delta_file, flags=flags)
    assert with_delta.returncode != 0
    assert "certificate revoked" in with_delta.stderr, with_delta.stderr
    base_only = verify(crl_ca, leaf, roots, base_file, flags=flags)
    assert base_only.returncode == 0, base_only.stderr  # the base alone does not know yet


def test_pem_der_and_plain_http(crl_ca: CRLCA) -> None:
    status, der = crl_ca.ca.request("GET", "/1.0/crl")
    assert status == 200 and isinstance(der, bytes)
    x509.load_der_x509_crl(der)
    with urllib.request.urlopen(f"{crl_ca.pki.url}/crl?pem", context=crl_ca.ca.ssl_context()) as resp:
        assert resp.headers["Content-Type"] == "application/x-pem-file"
        assert resp.read().startswith(b"-----BEGIN X509 CRL-----\n")
    with urllib.request.urlopen(f"{crl_ca.pki.url}/crl", context=crl_ca.ca.ssl_context()) as resp:
        assert resp.headers["Content-Type"] == "application/pkix-crl"

    # insecureAddress: the CRLs over plain HTTP, and nothing else
    plain = f"http://127.0.0.1:{crl_ca.insecure_port}"
    for path in ("/crl", "/1.0/crl", "/crl/delta", "/1.0/crl/delta"):
        with urllib.request.urlopen(plain + path) as resp:
            x509.load_der_x509_crl(resp.read())
    for path in ("/roots", "/1.0/sign", "/ssh/krl", "/health"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(plain + path)
        info.value.close()
        assert info.value.code == 404


def test_step_ca_crl_writes_der_or_prints_pem(crl_ca: CRLCA, tmp_path: Path) -> None:
    out = tmp_path / "crl.der"
    result = crl_ca.pki.step("ca", "crl", "--out", str(out))
    assert f"The CRL has been saved in {out}." in result.stderr
    x509.load_der_x509_crl(out.read_bytes())
    printed = run_step(["ca", "crl", "--delta", "--pem"], crl_ca.pki.env)
    assert printed.stdout.startswith("-----BEGIN X509 CRL-----")
    delta = x509.load_pem_x509_crl(printed.stdout.encode())
    assert delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).critical
    for group, name in (("ca", "crl"), ("ssh", "krl")):
        assert "--out FILE" in crl_ca.pki.step(group, name, "--help").stdout


def test_idp_url(ca_with: Callable[..., CRLCA]) -> None:
    """With idpURL: the CRL carries a critical IDP with it, leaves a matching DP, and openssl
    (which requires the two to match) uses the CRL."""
    ca = ca_with({"enabled": True, "generateOnRevoke": True, "idpURL": "http://crl.example.com/ca.crl"})
    leaf, serial = ca.issue("idp.example.com")
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dp[0].full_name == [x509.UniformResourceIdentifier("http://crl.example.com/ca.crl")]
    ca.revoke(serial)
    crl_file = ca.fetch("idp.pem")
    crl = ca.crl(crl_file)
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical
    assert idp.value.full_name == [x509.UniformResourceIdentifier("http://crl.example.com/ca.crl")]
    assert idp.value.only_contains_user_certs
    fresh = crl.extensions.get_extension_for_class(x509.FreshestCRL).value
    assert fresh[0].full_name == [x509.UniformResourceIdentifier("http://crl.example.com/ca.crl/delta")]
    refused = verify(ca, leaf, crl_file)
    assert "certificate revoked" in refused.stderr, refused.stderr
    delta = ca.crl(ca.fetch("idp-delta.pem", "--delta"))
    assert delta.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value == idp.value


def test_disabled(ca_with: Callable[..., CRLCA]) -> None:
    ca = ca_with({"enabled": False})
    for path in ("/crl", "/crl/delta"):
        status, body = ca.ca.request("GET", path)
        assert status == 404
        assert body["message"].endswith("Certificate Revocation Lists are not enabled.")
    crt, _ = ca.issue("nodp.example.com")
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    result = ca.pki.step("ca", "crl", "--out", str(ca.work / "x"), check=False)
    assert result.returncode != 0
    assert "Certificate Revocation Lists are not enabled" in result.stderr


def test_bad_invalidity_date(crl_ca: CRLCA) -> None:
    from tests.helpers import assert_one_line_error

    _, serial = crl_ca.issue("invalid-date.example.com")
    result = crl_ca.pki.step(
        "ca", "revoke", str(serial), "--provisioner-password-file", str(crl_ca.pki.password_file),
        "--invalidity-date", "yesterday", check=False,
    )  # fmt: skip
    assert "flag --invalidity-date must be an RFC 3339 time" in assert_one_line_error(result)
    future = crl_ca.pki.step(
        "ca", "revoke", str(serial), "--provisioner-password-file", str(crl_ca.pki.password_file),
        "--invalidity-date", "2999-01-01T00:00:00Z", check=False,
    )  # fmt: skip
    assert "invalidityDate cannot be in the future" in assert_one_line_error(future)
    status, body = crl_ca.ca.request(
        "POST", "/1.0/revoke", {"serial": str(serial), "ott": "x", "invalidityDate": "2024-05-01"}
    )
    assert status == 400 and "must carry its time zone" in body["message"]
