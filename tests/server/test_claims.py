"""Provisioner claims: the getting-started guide's "Use Custom Claims for Provisioners" example as
written, and provisioner claims overriding the authority's, field by field."""

from __future__ import annotations

import json
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from stepca.authority.claims import EffectiveClaims
from stepca.config import Claims
from tests.helpers import PKI, CAProcess, assert_one_line_error
from tests.tokens import csr_for, signer_for

DEV_PW = "dev-password-1"


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _close(a: datetime, b: datetime, slack: float = 90) -> bool:
    return abs((a - b).total_seconds()) <= slack


def test_custom_claims_example_of_the_guide(pki: PKI, ca_factory: Any, tmp_path: Path) -> None:
    pw = tmp_path / "dev.pw"
    pw.write_text(DEV_PW)
    # $ step ca provisioner add --create     (a provisioner for dev certs)
    pki.step("ca", "provisioner", "add", "dev", "--create", "--password-file", str(pw))

    # add claims inside the provisioner element in ca.json, by hand
    def claims(cfg: dict[str, Any]) -> None:
        cfg["authority"]["provisioners"][1]["claims"] = {
            "minTLSCertDuration": "5s",
            "maxTLSCertDuration": "12h",
            "defaultTLSCertDuration": "2h",
            "disableRenewal": True,
        }

    pki.edit_config(claims)
    ca: CAProcess = ca_factory(pki, workers=2)

    # certs are valid for two hours ...
    site, key = tmp_path / "site.crt", tmp_path / "site.key"
    prov = ["--provisioner", "dev", "--provisioner-password-file", str(pw)]
    pki.step("ca", "certificate", "localhost", str(site), str(key), *prov)
    now = datetime.now(UTC)
    cert = _cert(site)
    assert _close(cert.not_valid_after_utc, now + timedelta(hours=2))
    assert _close(cert.not_valid_before_utc, now - timedelta(minutes=1))  # backdated, like smallstep

    # ... flags extend them up to 12h, not more
    pki.step(
        "ca",
        "certificate",
        "localhost",
        str(tmp_path / "12.crt"),
        str(tmp_path / "12.key"),
        "--not-after",
        "12h",
        *prov,
    )
    assert _close(_cert(tmp_path / "12.crt").not_valid_after_utc, now + timedelta(hours=12), slack=120)
    line = assert_one_line_error(
        pki.step(
            "ca",
            "certificate",
            "localhost",
            str(tmp_path / "13.crt"),
            str(tmp_path / "13.key"),
            "--not-after",
            "13h",
            *prov,
            check=False,
        )
    )
    assert "is more than the authorized maximum certificate duration of 12h1m0s" in line
    assert not (tmp_path / "13.crt").exists()
    signer = signer_for(pki, 1, DEV_PW)
    csr, _ = csr_for("localhost")
    status, body = ca.request(
        "POST", "/1.0/sign", {"csr": csr, "ott": signer.token("localhost"), "notAfter": "13h"}
    )
    assert status == 403, body
    # the other provisioner keeps the default 24h
    status, body = ca.request(
        "POST", "/1.0/sign", {"csr": csr, "ott": signer_for(pki).token("localhost"), "notAfter": "13h"}
    )
    assert status == 201, body

    # renewals will be denied for certs issued by this provisioner
    line = assert_one_line_error(pki.step("ca", "renew", str(site), str(key), "--force", check=False))
    assert line.startswith("error renewing certificate: Unauthorized")


def test_provisioner_claims_override_the_authority_claims(pki: PKI, ca_factory: Any, tmp_path: Path) -> None:
    pw = tmp_path / "b.pw"
    pw.write_text(DEV_PW)
    pki.step("ca", "provisioner", "add", "b", "--create", "--password-file", str(pw))

    def claims(cfg: dict[str, Any]) -> None:
        cfg["authority"]["claims"] = {
            "minTLSCertDuration": "1h",
            "maxTLSCertDuration": "8h",
            "defaultTLSCertDuration": "4h",
            "disableRenewal": True,
        }
        cfg["authority"]["provisioners"][1]["claims"] = {
            "minTLSCertDuration": "5m",
            "maxTLSCertDuration": "48h",
            "defaultTLSCertDuration": "30m",
            "disableRenewal": False,
            "disableIssuedAtCheck": True,
        }

    pki.edit_config(claims)
    ca: CAProcess = ca_factory(pki, workers=1)
    a, b = signer_for(pki), signer_for(pki, 1, DEV_PW)

    def sign(signer: Any, not_after: str | None = None, **token: Any) -> tuple[int, Any]:
        csr, _ = csr_for("svc.example.com")
        body: dict[str, Any] = {"csr": csr, "ott": signer.token(**token)}
        if not_after:
            body["notAfter"] = not_after
        return ca.request("POST", "/1.0/sign", body)

    def lifetime(body: dict[str, Any]) -> timedelta:
        cert = x509.load_pem_x509_certificate(body["crt"].encode())
        return cert.not_valid_after_utc - datetime.now(UTC)

    # the authority's claims for the provisioner without claims
    status, body = sign(a)
    assert status == 201 and abs(lifetime(body) - timedelta(hours=4)) < timedelta(minutes=2)
    assert sign(a, "9h")[0] == 403
    assert sign(a, "30m")[0] == 403
    # the provisioner's own for the other
    status, body = sign(b)
    assert status == 201 and abs(lifetime(body) - timedelta(minutes=30)) < timedelta(minutes=2)
    assert sign(b, "40h")[0] == 201
    assert sign(b, "4m")[0] == 403

    # disableRenewal: the authority's true, the provisioner's false
    for name, signer in (("a", a), ("b", b)):
        csr, priv = csr_for("svc.example.com")
        status, body = ca.request("POST", "/1.0/sign", {"csr": csr, "ott": signer.token()})
        assert status == 201
        crt, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
        crt.write_text("".join(body["certChain"]))
        key.write_bytes(
            priv.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        result = pki.step("ca", "renew", str(crt), str(key), "--force", check=False)
        if name == "a":
            assert result.returncode != 0 and "Unauthorized" in result.stderr
        else:
            assert result.returncode == 0, result.stderr

    # disableIssuedAtCheck: a token issued before the CA started is refused, unless the claim says so
    before_start = int(time.time()) - 3600
    assert sign(a, iat=before_start)[0] == 401
    assert sign(b, iat=before_start)[0] == 201


# ------------------------------------------------------------------------------------ every field

CLAIM_NAMES = {
    "min_tls_dur": ["minTLSCertDuration"],
    "max_tls_dur": ["maxTLSCertDuration"],
    "default_tls_dur": ["defaultTLSCertDuration"],
    "disable_renewal": ["disableRenewal"],
    "allow_renewal_after_expiry": ["allowRenewalAfterExpiry"],
    "disable_issued_at_check": ["disableIssuedAtCheck"],
    "enable_ssh_ca": ["enableSSHCA"],
    # the guide's names and smallstep's ca.json names
    "min_user_ssh_dur": ["minUserSSHDuration", "minUserSSHCertDuration"],
    "max_user_ssh_dur": ["maxUserSSHDuration", "maxUserSSHCertDuration"],
    "default_user_ssh_dur": ["defaultUserSSHDuration", "defaultUserSSHCertDuration"],
    "min_host_ssh_dur": ["minHostSSHDuration", "minHostSSHCertDuration"],
    "max_host_ssh_dur": ["maxHostSSHDuration", "maxHostSSHCertDuration"],
    "default_host_ssh_dur": ["defaultHostSSHDuration", "defaultHostSSHCertDuration"],
}


def _value(field: str, layer: str) -> Any:
    """A distinct valid value per layer: durations stay min <= default <= max."""
    if field.endswith("_dur"):
        base = {"min": 2, "default": 20, "max": 200}[field.split("_", maxsplit=1)[0]]
        return f"{base * (3 if layer == 'provisioner' else 1)}m"
    return layer == "provisioner"


@pytest.mark.parametrize(("field", "name"), [(f, n) for f, names in CLAIM_NAMES.items() for n in names])
def test_each_claim_overrides_the_authority(field: str, name: str) -> None:
    assert {f.name for f in fields(EffectiveClaims)} == set(CLAIM_NAMES)
    authority = EffectiveClaims().merged(Claims.model_validate({name: _value(field, "authority")}))
    provisioner = authority.merged(Claims.model_validate({name: _value(field, "provisioner")}))
    inherited = authority.merged(Claims.model_validate({}))
    expected_auth, expected_prov = _value(field, "authority"), _value(field, "provisioner")
    if field.endswith("_dur"):
        expected_auth = timedelta(minutes=int(expected_auth[:-1]))
        expected_prov = timedelta(minutes=int(expected_prov[:-1]))
    assert getattr(authority, field) == expected_auth
    assert getattr(provisioner, field) == expected_prov
    assert getattr(inherited, field) == expected_auth
    # every other field is untouched
    for other in CLAIM_NAMES:
        if other != field:
            assert getattr(provisioner, other) == getattr(EffectiveClaims(), other)


def test_claims_from_a_ca_json_written_by_smallstep_step() -> None:
    """smallstep writes the provisioner claims of `step ca init --ssh` in its ca.json."""
    from tests.helpers import FIXTURES

    cfg = json.loads((FIXTURES / "pki" / "config" / "ca.json").read_text())
    claims = Claims.model_validate(cfg["authority"]["provisioners"][0]["claims"])
    assert EffectiveClaims().merged(claims).enable_ssh_ca is True
